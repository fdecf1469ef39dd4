"""EKS workloads and ingress classes, from the prod stack file's two example workloads: each its
own IRSA role with exactly its access, its namespace with a quota and a limit range, its service
account annotated with the role; the ingress classes' enforced ALB settings and WAF admission."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.ingress_classes import INTERNAL, INTERNET_FACING, TLS_POLICY, WAF_ANNOTATION
from components.settings import KubernetesSettings
from components.workloads import ROLE_ANNOTATION
from tests.conftest import STACKS, stack_run, statements
from tooling.offline import OfflineRun, ProgramError, run_stack, stack_config

ROLE = "aws:iam/role:Role"
INLINE = "aws:iam/rolePolicy:RolePolicy"
NAMESPACE = "kubernetes:core/v1:Namespace"
QUOTA = "kubernetes:core/v1:ResourceQuota"
LIMITS = "kubernetes:core/v1:LimitRange"
ACCOUNT = "kubernetes:core/v1:ServiceAccount"
PARAMS = "kubernetes:elbv2.k8s.aws/v1beta1:IngressClassParams"
CLASS = "kubernetes:networking.k8s.io/v1:IngressClass"
ADMISSION = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
BUCKET = "aws:s3/bucket:Bucket"
ISSUER = "oidc.eks.eu-west-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
KEY = "arn:aws:kms:eu-west-1:123456789012:key/platform-prod-pipeline-key-key-id"
WORKLOADS = {"reports": ("reports", "reports-api"), "ingest": ("ingest", "ingest-worker")}


def bucket_arn(run: OfflineRun, part: str) -> str:
    return f"arn:aws:s3:::{run.one(BUCKET, f'pipeline-{part}').outputs['bucket']}"


def policy_of(run: OfflineRun, workload: str) -> list[dict[str, Any]]:
    return statements(run.one(INLINE, f"workloads-{workload}-policy").inputs["policy"])


@pytest.mark.parametrize("workload", WORKLOADS)
def test_each_workload_role_trusts_exactly_its_service_account(workload: str) -> None:
    namespace, account = WORKLOADS[workload]
    (trust,) = statements(
        stack_run("prod").one(ROLE, f"workloads-{workload}").inputs["assumeRolePolicy"]
    )
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Principal"]["Federated"].endswith(f"oidc-provider/{ISSUER}")
    assert trust["Condition"] == {
        "StringEquals": {
            f"{ISSUER}:sub": f"system:serviceaccount:{namespace}:{account}",
            f"{ISSUER}:aud": "sts.amazonaws.com",
        }
    }


def test_a_reader_gets_its_prefix_and_the_key_to_decrypt_only() -> None:
    run = stack_run("prod")
    results = bucket_arn(run, "results")
    assert policy_of(run, "reports") == [
        {
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [results],
            "Condition": {"StringLike": {"s3:prefix": ["reports/*"]}},
        },
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [f"{results}/reports/*"]},
        {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [KEY]},
    ]


def test_a_writer_that_starts_the_pipeline_gets_exactly_that() -> None:
    run = stack_run("prod")
    uploads = bucket_arn(run, "uploads")
    machine = run.one("aws:sfn/stateMachine:StateMachine").outputs["arn"]
    assert policy_of(run, "ingest") == [
        {
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [uploads],
            "Condition": {"StringLike": {"s3:prefix": ["incoming/*"]}},
        },
        {
            "Effect": "Allow",
            "Action": [
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
            ],
            "Resource": [f"{uploads}/incoming/*"],
        },
        {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": [KEY]},
        {"Effect": "Allow", "Action": ["states:StartExecution"], "Resource": [machine]},
    ]


@pytest.mark.parametrize("workload", WORKLOADS)
def test_each_service_account_is_annotated_with_its_own_role(workload: str) -> None:
    run = stack_run("prod")
    namespace, account = WORKLOADS[workload]
    metadata = run.one(ACCOUNT, f"workloads-{workload}-account").inputs["metadata"]
    assert (metadata["namespace"], metadata["name"]) == (namespace, account)
    role_name = run.one(ROLE, f"workloads-{workload}").outputs["name"]
    assert metadata["annotations"] == {
        ROLE_ANNOTATION: f"arn:aws:iam::123456789012:role/{role_name}"
    }


def test_each_namespace_has_a_quota_a_limit_range_and_pod_security() -> None:
    run = stack_run("dev")
    names = {n.inputs["metadata"]["name"] for n in run.of_type(NAMESPACE)}
    assert names == {"reports", "ingest"}
    for namespace in names:
        labels = run.one(NAMESPACE, f"namespace-{namespace}").inputs["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
        quota = run.one(QUOTA, f"namespace-{namespace}-quota").inputs
        assert quota["metadata"]["namespace"] == namespace
        # dev's stack file lowers the defaults.
        assert quota["spec"]["hard"] == {
            "requests.cpu": "1",
            "requests.memory": "2Gi",
            "limits.cpu": "2",
            "limits.memory": "4Gi",
            "pods": "15",
            "services.loadbalancers": "0",
        }
        (limit,) = run.one(LIMITS, f"namespace-{namespace}-limits").inputs["spec"]["limits"]
        assert limit == {
            "type": "Container",
            "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
            "default": {"cpu": "500m", "memory": "512Mi"},
        }


def test_one_namespace_can_have_its_own_quota() -> None:
    section = {
        "workloads": {"api": {"namespace": "api", "serviceAccount": "api"}},
        "namespaces": {"api": {"pods": 99}},
    }
    run = run_stack("prod", overrides={"platform:kubernetes": json.dumps(section)})
    assert run.one(QUOTA, "namespace-api-quota").inputs["spec"]["hard"]["pods"] == "99"
    # No access listed: the role has no policy at all.
    assert run.of_type(INLINE) and not [p for p in run.of_type(INLINE) if "workloads-api" in p.name]


@pytest.mark.parametrize("stack", STACKS)
def test_workload_role_names_fit_and_every_name_is_valid(stack: str) -> None:
    run = stack_run(stack)
    assert run.name_problems() == []
    for workload in WORKLOADS:
        assert len(run.physical_name(ROLE, f"workloads-{workload}")) <= 64


def test_the_kubernetes_objects_use_the_clusters_provider_and_wait_for_their_namespace() -> None:
    run = stack_run("prod")
    provider = next(r for r in run.resources if r.type == "pulumi:providers:kubernetes")
    for resource in [*run.of_type(ACCOUNT), *run.of_type(QUOTA), *run.of_type(LIMITS)]:
        assert resource.provider is not None and resource.provider.startswith(provider.urn)
        namespace = run.one(NAMESPACE, f"namespace-{resource.inputs['metadata']['namespace']}")
        assert namespace.urn in resource.dependencies


# --- ingress classes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "scheme"), [(INTERNET_FACING, "internet-facing"), (INTERNAL, "internal")]
)
def test_each_ingress_class_forces_scheme_tls_and_access_logs(name: str, scheme: str) -> None:
    run = stack_run("prod")
    spec = run.one(PARAMS, f"{name}-params").inputs["spec"]
    log_bucket = run.one(BUCKET, "ingress-alb-logs").outputs["bucket"]
    assert spec["scheme"] == scheme
    assert spec["sslPolicy"] == TLS_POLICY
    assert spec["ipAddressType"] == "ipv4"
    assert {a["key"]: a["value"] for a in spec["loadBalancerAttributes"]} == {
        "access_logs.s3.enabled": "true",
        "access_logs.s3.bucket": log_bucket,
        "access_logs.s3.prefix": name,
        "routing.http.drop_invalid_header_fields.enabled": "true",
    }
    ingress_class = run.one(CLASS, f"ingress-{name}").inputs
    assert ingress_class["metadata"]["name"] == name
    assert ingress_class["spec"] == {
        "controller": "ingress.k8s.aws/alb",
        "parameters": {"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams", "name": name},
    }


def test_the_log_bucket_admits_alb_log_delivery_under_each_class_prefix() -> None:
    run = stack_run("prod")
    policy = run.one("aws:s3/bucketPolicy:BucketPolicy", "ingress-alb-logs-policy").inputs["policy"]
    writes = [s for s in statements(policy) if s["Effect"] == "Allow"]
    bucket = run.one(BUCKET, "ingress-alb-logs").outputs["bucket"]
    for statement in writes:
        assert statement["Action"] == "s3:PutObject"
        assert statement["Resource"] == [
            f"arn:aws:s3:::{bucket}/{name}/AWSLogs/123456789012/*"
            for name in (INTERNET_FACING, INTERNAL)
        ]


def test_the_params_wait_for_the_controller_that_installs_their_crd() -> None:
    run = stack_run("prod")
    controller = run.one("kubernetes:helm.sh/v3:Release", "aws-load-balancer-controller")
    for params in run.of_type(PARAMS):
        assert controller.urn in params.dependencies


def test_internet_facing_ingresses_must_name_the_web_acl() -> None:
    run = stack_run("prod")
    acl_arn = run.one("aws:wafv2/webAcl:WebAcl", "ingress-waf").outputs["arn"]
    spec = run.one(ADMISSION).inputs["spec"]
    assert spec["failurePolicy"] == "Fail"
    (condition,) = spec["matchConditions"]
    assert f'object.spec.ingressClassName == "{INTERNET_FACING}"' in condition["expression"]
    (validation,) = spec["validations"]
    assert (
        f'object.metadata.annotations["{WAF_ANNOTATION}"] == "{acl_arn}"'
        in validation["expression"]
    )
    binding = run.one(BINDING).inputs["spec"]
    assert binding == {
        "policyName": spec and run.one(ADMISSION).inputs["metadata"]["name"],
        "validationActions": ["Deny"],
    }


def test_without_waf_there_is_no_web_acl_and_no_admission_policy() -> None:
    run = stack_run("dev")
    assert not [a for a in run.of_type("aws:wafv2/webAcl:WebAcl") if "ingress" in a.name]
    assert run.of_type(ADMISSION) == [] and run.of_type(BINDING) == []


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"workloads": {"api": {"namespace": "kube-system", "serviceAccount": "api"}}},
            "'kube-system' belongs to the cluster",
        ),
        (
            {"workloads": {"api": {"namespace": "Api", "serviceAccount": "api"}}},
            "'Api' is not a DNS label",
        ),
        (
            {
                "workloads": {
                    "a": {"namespace": "x", "serviceAccount": "s"},
                    "b": {"namespace": "x", "serviceAccount": "s"},
                }
            },
            "workloads: a, b share the service account x/s",
        ),
        (
            {
                "workloads": {
                    "api": {"namespace": "api", "serviceAccount": "api", "database": "Api-DB"}
                }
            },
            "'Api-DB': identity names",
        ),
        (
            {
                "workloads": {
                    "api": {
                        "namespace": "api",
                        "serviceAccount": "api",
                        "s3": [{"bucket": "uploads", "prefix": "in"}],
                    }
                }
            },
            "workloads.api.s3[0].prefix = 'in'",
        ),
        ({"namespaces": {"ghost": {}}}, "namespaces: ghost is used by no workload"),
        ({"namespaceDefaults": {"requestsCpu": "two"}}, "namespaceDefaults.requestsCpu"),
        ({"viewerRoleArns": ["ci-preview"]}, "not IAM role ARNs: ci-preview"),
    ],
)
def test_bad_workload_settings_fail_before_anything_is_registered(
    section: dict[str, Any], message: str
) -> None:
    with pytest.raises(ProgramError) as failure:
        run_stack("prod", overrides={"platform:kubernetes": json.dumps(section)})
    assert message in str(failure.value)
    assert failure.value.run.resources == []


def test_workloads_that_reach_a_pipeline_that_is_off_are_refused() -> None:
    overrides = {
        "platform:pipeline": json.dumps({"enabled": False}),
        "platform:kubernetes": json.dumps(
            {
                "workloads": {
                    "api": {"namespace": "api", "serviceAccount": "api", "startPipeline": True}
                }
            }
        ),
    }
    with pytest.raises(ProgramError) as failure:
        run_stack("dev", overrides=overrides)
    assert "kubernetes.workloads.api: reaches the pipeline" in str(failure.value)


def test_the_settings_defaults_create_no_workloads() -> None:
    settings = KubernetesSettings.model_validate({})
    assert settings.workloads == {} and settings.viewer_role_arns == [] and settings.waf


# --- a workload's database login (issue #21 item 2, wired in __main__.py) --------------------------


def _with_reports_database(*identities: str) -> dict[str, str]:
    """dev with the workload `reports` logging into the database as `reports`, and the database
    declaring `identities`."""
    config = stack_config("dev")
    kubernetes = json.loads(config["platform:kubernetes"])
    kubernetes["workloads"]["reports"]["database"] = "reports"
    database = json.loads(config["platform:database"])
    database["identities"] = {name: {} for name in identities}
    return {
        "platform:kubernetes": json.dumps(kubernetes),
        "platform:database": json.dumps(database),
    }


def test_a_workload_logs_in_as_its_declared_identity_only() -> None:
    run = run_stack("dev", overrides=_with_reports_database("app", "reports"))
    grant = run.one(INLINE, "database-connect-workload-reports").inputs
    assert grant["role"] == run.one(ROLE, "kubernetes-workloads-reports").outputs["name"]
    [statement] = statements(grant["policy"])
    assert statement["Action"] == ["rds-db:connect"]
    [user] = statement["Resource"]
    assert ":dbuser:" in user and user.endswith("/reports")
    # The other workload declares no database: no login of its own.
    assert [r.name for r in run.of_type(INLINE) if "connect-workload" in r.name] == [
        "platform-dev-database-connect-workload-reports"
    ]


def test_a_workload_identity_the_database_does_not_declare_is_refused() -> None:
    with pytest.raises(ProgramError, match=r"kubernetes\.workloads\.reports\.database: 'reports' is not one of database\.identities \(app\)"):  # fmt: skip
        run_stack("dev", overrides=_with_reports_database("app"))
