# One entry point for developers and CI. `make help` lists the targets and the variables.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements
POLICY_VENV := policy/venv
# `make -C` would otherwise print "Entering directory" on stdout, into `make plan ARGS=--json > x`.
MAKEFLAGS += --no-print-directory

# The stacks are the Pulumi.<stack>.yaml files. Every target that acts on one stack is listed in
# STACK_TARGETS: make refuses a missing or unknown STACK before it runs anything for them (see the
# check at the end of this file). A new stack target adds itself: `STACK_TARGETS += name`.
STACKS := $(sort $(patsubst Pulumi.%.yaml,%,$(wildcard Pulumi.*.yaml)))
STACK_TARGETS := plan preview up destroy import pulumi

.DEFAULT_GOAL := help
.PHONY: help install lint types unit test plan

help: ## List the targets and the variables they read.
	@echo "Targets:"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'
	@echo ""
	@echo "Variables (on the command line, e.g. make plan STACK=dev, or in the environment):"
	@sed -n 's/^#: /  /p' $(MAKEFILE_LIST)
	@echo "  (stacks here: $(STACKS))"

#: STACK                     the stack plan, preview, up, destroy and pulumi act on (a Pulumi.<stack>.yaml)
#: ARGS                      extra arguments: plan (--json, --diff FILE), preview/up/destroy (--refresh, --target URN), pulumi (the command)
#: PULUMI_BACKEND_URL        where state lives (default: file://<this repository>/.pulumi; s3://bucket or https://api.pulumi.com to share it)
#: PULUMI_CONFIG_PASSPHRASE  the passphrase of the stack's secrets (or PULUMI_CONFIG_PASSPHRASE_FILE); needed with a file backend
#: AWS_PROFILE               the AWS credentials for preview, up and destroy (or AWS_ACCESS_KEY_ID..., or SSO via `aws sso login`)
#: PYTHON                    the interpreter that creates .venv (default python3; 3.11 or newer)
#: SECRETS_PROVIDER          the secrets provider of a stack created by these targets (default passphrase; the bootstrap's awskms://... for CI's backend)
#: CONFIRM_PROD              1 lets the db-* runbooks act on prod; TIME: db-restore's point in time (ISO, UTC); DB_USER: db-connect's user (operator)
#: IMAGES                    release-rollback's digests: '{"app":"sha256:..."}' (null: a service's configured image)
#: BOOTSTRAP_BACKEND_URL     where the bootstrap's own state lives (default file://$HOME/.pulumi-bootstrap); BOOTSTRAP_STACK (default ci)

# Python 3.11 or newer (pyproject.toml's target): one line saying so, not a traceback from a
# dependency, when it is older or missing.
check_python = $(1) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { echo "error: Python 3.11 or newer is needed: $(1) is $$($(1) -V 2>&1 | head -n 1); run make install PYTHON=python3.11 (or newer)$(2)" >&2; exit 2; }

# Quiet on stdout: a first `make plan STACK=dev ARGS=--json > plan.json` installs too.
$(STAMP): requirements.txt policy/requirements.txt reference-app/requirements.txt
	@if test -x $(BIN)/python; then $(call check_python,$(BIN)/python, after rm -rf $(VENV)); else $(call check_python,$(PYTHON)) && $(PYTHON) -m venv $(VENV); fi
	@echo "Installing requirements.txt, policy/requirements.txt and reference-app/requirements.txt into $(VENV)..." >&2
	@$(BIN)/python -m pip install --quiet --upgrade pip >&2
	@$(BIN)/python -m pip install --quiet -r requirements.txt -r policy/requirements.txt -r reference-app/requirements.txt >&2
	@touch $@

# The policy pack's runtime names the virtualenv `venv` (policy/PulumiPolicy.yaml) and Pulumi's
# Python policy launcher refuses to start without it: it is this same environment.
$(POLICY_VENV): | $(STAMP)
	@ln -sfn ../$(VENV) $@

install: $(STAMP) $(POLICY_VENV) ## Create .venv with requirements.txt, the policy pack's and the reference app's requirements; link it as policy/venv.

lint: install ## ruff: lint and format check.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# pyright runs on Node and allocates gigabytes of short-lived objects: a larger young generation
# (`--max-semi-space-size`, in MiB: Node's doc/api/cli.md) means fewer scavenges, ~45 s -> ~36 s of
# CPU here, which `make test` shares with pytest.
types: install ## pyright over the whole project (zero errors expected).
	NODE_OPTIONS="--max-semi-space-size=64 $$NODE_OPTIONS" $(BIN)/pyright

# Two pytest-xdist workers; the runs the tests share are made once between them (tests/conftest.py).
unit: install ## pytest: settings, components, policies, every stack (offline) and the reference app.
	$(BIN)/python -m pytest -n 2

test: lint ## Everything CI runs: lint, then types and tests side by side (pyright; pytest in two workers).
	@$(MAKE) --no-print-directory -j2 --output-sync=target types unit

plan: install ## Offline plan of STACK (inventory, policy verdicts, cost); no AWS needed. ARGS='--json' or '--diff FILE'.
	@$(BIN)/python -m tooling.plan $(STACK) $(ARGS)

# Real deployments. State defaults to a file backend in this repository (git-ignored) with a
# passphrase secrets provider; set PULUMI_BACKEND_URL (s3://..., https://api.pulumi.com) for teams.
PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi
export PULUMI_BACKEND_URL
# Used only when `stack select --create` creates the stack; an existing stack keeps its provider.
SECRETS_PROVIDER ?= passphrase

# What every Pulumi command needs: the CLI, this backend (logged in), the passphrase of a file
# backend, and STACK selected (created when new). Their messages go to stderr, so that
# `make pulumi ARGS='stack output ...' > file` holds the output alone.
.PHONY: preview up destroy import pulumi pulumi-backend pulumi-ready aws-ready
pulumi-backend: install
	@command -v pulumi >/dev/null || { echo "error: the Pulumi CLI is not installed: https://www.pulumi.com/docs/iac/download-install/" >&2; exit 2; }
	@case "$(PULUMI_BACKEND_URL)" in file://*) mkdir -p "$(CURDIR)/.pulumi"; test -n "$$PULUMI_CONFIG_PASSPHRASE$$PULUMI_CONFIG_PASSPHRASE_FILE" || { echo "error: set PULUMI_CONFIG_PASSPHRASE (the local backend encrypts secrets with it)" >&2; exit 2; };; esac
	@pulumi login "$(PULUMI_BACKEND_URL)" >&2
	@pulumi stack select --create "$(STACK)" --secrets-provider "$(SECRETS_PROVIDER)" >&2

# pulumi_eks refuses to run without the AWS CLI (v2.7+ or v1.24+), and the Kubernetes provider
# gets its tokens from `aws eks get-token` (pulumi-eks nodejs/eks/dependencies.ts, cluster.ts).
aws-ready:
	@command -v aws >/dev/null || { echo "error: the AWS CLI is not installed (pulumi_eks gets cluster tokens with it): https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html" >&2; exit 2; }
	@test -n "$$AWS_PROFILE$$AWS_ACCESS_KEY_ID$$AWS_WEB_IDENTITY_TOKEN_FILE$$AWS_CONTAINER_CREDENTIALS_FULL_URI" || test -f "$$HOME/.aws/credentials" || test -f "$$HOME/.aws/config" || { echo "error: no AWS credentials: set AWS_PROFILE or run 'aws configure' / 'aws sso login'" >&2; exit 2; }

# AWS is checked first: nothing is logged in to or created without the CLI and credentials.
pulumi-ready: aws-ready pulumi-backend

preview: pulumi-ready ## pulumi preview of STACK with the policy pack and its config.
	pulumi preview -s $(STACK) --policy-pack policy --policy-pack-config policy/config.$(STACK).json $(ARGS)

# The program itself refuses to update a stack whose file holds example values; this guard says so
# before the CLI previews and asks for confirmation.
up: pulumi-ready ## pulumi up of STACK with the policy pack and its config (refuses example values).
	$(BIN)/python -m tooling.plan $(STACK) --check-example-values
	pulumi up -s $(STACK) --policy-pack policy --policy-pack-config policy/config.$(STACK).json $(ARGS)

destroy: pulumi-ready ## pulumi destroy of STACK (protected resources in staging/prod refuse).
	pulumi destroy -s $(STACK) $(ARGS)

# pulumi import of an existing resource into STACK under the program's name (README "Account
# baseline", step 5); pulumi import takes no policy pack: make preview afterwards runs it.
import: pulumi-ready ## pulumi import into STACK: ARGS='<type> <name> <id> --parent name=<urn>'.
	pulumi import -s $(STACK) $(ARGS)

# Commands that change resources have their own targets, which run the policy pack.
PULUMI_OWN_TARGETS := up update preview destroy import watch
pulumi: pulumi-backend ## Another pulumi command on STACK in this backend: ARGS='config set --path platform:x 1', 'stack output'.
	@pulumi $(ARGS) --stack $(STACK)


# Database runbooks (tooling/dbops.py; README "Database operations"). They read the stack's
# outputs through the Pulumi CLI and call RDS with your AWS credentials; prod needs CONFIRM_PROD=1.
.PHONY: db-snapshot db-restore db-failover db-connect
STACK_TARGETS += db-snapshot db-restore db-failover db-connect
DBOPS = $(BIN)/python -m tooling.dbops
DBOPS_PROD = $(if $(CONFIRM_PROD),--confirm-prod)

db-snapshot: pulumi-ready ## Manual cluster snapshot of STACK now, named after it and the UTC time.
	$(DBOPS) snapshot --stack $(STACK) $(DBOPS_PROD)

db-restore: pulumi-ready ## Restore STACK's cluster to TIME (ISO, UTC) or the latest time into a NEW cluster.
	$(DBOPS) restore --stack $(STACK) $(if $(TIME),--time $(TIME),--latest) $(DBOPS_PROD)

db-failover: pulumi-ready ## Failover drill of STACK's cluster: writer before/after and elapsed time.
	$(DBOPS) failover --stack $(STACK) $(DBOPS_PROD)

db-connect: pulumi-ready ## psql on STACK's cluster through SSM from an access instance launched for it (DB_USER, default operator).
	$(DBOPS) connect --stack $(STACK) --db-user $(or $(DB_USER),operator) $(DBOPS_PROD)

# Rolling a release back by hand (README "Ship a release"): an update of STACK with the policy
# pack that serves IMAGES, like the release workflow's rollback. platform:release is set in a copy
# of the stack file (`--config-file`, a flag of pulumi config and pulumi up: Pulumi CLI
# reference), never in the committed one. The copy keeps the name Pulumi.<stack>.yaml in a
# temporary folder: the CLI picks a config file's parser by its extension (pulumi/pulumi
# sdk/go/common/workspace/loaders.go, marshallerForPath), and refuses a bare mktemp name.
.PHONY: release-rollback
STACK_TARGETS += release-rollback
release-rollback: pulumi-ready ## Serve earlier digests on STACK: IMAGES='{"app":"sha256:..."}' (the run summary's "previous"), with the policy pack.
	$(BIN)/python -m tooling.plan $(STACK) --check-example-values
	@folder=$$(mktemp -d) && trap 'rm -rf "$$folder"' EXIT && config="$$folder/Pulumi.$(STACK).yaml" && \
	  cp Pulumi.$(STACK).yaml "$$config" && \
	  pulumi config set --config-file "$$config" -s $(STACK) platform:release '{"stage":"serve","images":$(IMAGES)}' && \
	  pulumi up -s $(STACK) --config-file "$$config" --policy-pack policy --policy-pack-config policy/config.$(STACK).json $(ARGS)

# The bootstrap program (tooling/bootstrap; README "One-time bootstrap of CI access"): its own
# project and state, on the administrator's machine by default, run with the policy pack and
# policy/config.bootstrap.json like every other update.
BOOTSTRAP_BACKEND_URL ?= file://$(HOME)/.pulumi-bootstrap
BOOTSTRAP_STACK ?= ci
BOOTSTRAP = cd tooling/bootstrap && PULUMI_BACKEND_URL="$(BOOTSTRAP_BACKEND_URL)" pulumi
.PHONY: bootstrap-ready bootstrap-preview bootstrap-up bootstrap-outputs
bootstrap-ready: aws-ready install
	@test -f tooling/bootstrap/Pulumi.$(BOOTSTRAP_STACK).yaml || { echo "error: write tooling/bootstrap/Pulumi.$(BOOTSTRAP_STACK).yaml first (aws:region and bootstrap:ciAccess.repository; README: One-time bootstrap of CI access)" >&2; exit 2; }
	@command -v pulumi >/dev/null || { echo "error: the Pulumi CLI is not installed: https://www.pulumi.com/docs/iac/download-install/" >&2; exit 2; }
	@case "$(BOOTSTRAP_BACKEND_URL)" in file://*) mkdir -p "$(patsubst file://%,%,$(BOOTSTRAP_BACKEND_URL))"; test -n "$$PULUMI_CONFIG_PASSPHRASE$$PULUMI_CONFIG_PASSPHRASE_FILE" || { echo "error: set PULUMI_CONFIG_PASSPHRASE (the bootstrap's file backend encrypts secrets with it)" >&2; exit 2; };; esac
	@$(BOOTSTRAP) login "$(BOOTSTRAP_BACKEND_URL)" >&2
	@$(BOOTSTRAP) stack select --create "$(BOOTSTRAP_STACK)" --secrets-provider passphrase >&2

bootstrap-preview: bootstrap-ready ## Preview the bootstrap (state bucket, secrets keys, CI roles) with the policy pack.
	$(BOOTSTRAP) preview -s $(BOOTSTRAP_STACK) --policy-pack ../../policy --policy-pack-config ../../policy/config.bootstrap.json $(ARGS)

bootstrap-up: bootstrap-ready ## Create or update the bootstrap with the policy pack (administrator credentials).
	$(BOOTSTRAP) up -s $(BOOTSTRAP_STACK) --policy-pack ../../policy --policy-pack-config ../../policy/config.bootstrap.json $(ARGS)

bootstrap-outputs: bootstrap-ready ## The bootstrap's outputs as JSON on stdout (ARNs, URLs, GitHub variables; no secrets).
	@$(BOOTSTRAP) stack output --json -s $(BOOTSTRAP_STACK)

# Last, once every target above has added itself to STACK_TARGETS: a missing or unknown STACK
# stops make here, before any target (or the virtualenv it needs) is built.
ifneq ($(filter $(STACK_TARGETS),$(MAKECMDGOALS)),)
  ifeq ($(strip $(STACK)),)
    $(error STACK is not set: make $(firstword $(filter $(STACK_TARGETS),$(MAKECMDGOALS))) STACK=<one of: $(STACKS)>)
  endif
  ifneq ($(words $(STACK))$(filter $(STACK),$(STACKS)),1$(STACK))
    $(error unknown STACK '$(STACK)': the stacks are $(STACKS) (the Pulumi.<stack>.yaml files))
  endif
endif
ifneq ($(filter pulumi,$(MAKECMDGOALS)),)
  ifeq ($(strip $(ARGS)),)
    $(error make pulumi needs the command in ARGS, e.g. make pulumi STACK=$(STACK) ARGS='stack output')
  endif
  ifneq ($(filter $(firstword $(ARGS)),$(PULUMI_OWN_TARGETS)),)
    $(error make pulumi does not run '$(firstword $(ARGS))': use make preview, up or destroy STACK=$(STACK), which apply the policy pack (make import STACK=$(STACK) for an import))
  endif
endif
ifneq ($(filter release-rollback,$(MAKECMDGOALS)),)
  ifeq ($(strip $(IMAGES)),)
    $(error make release-rollback needs IMAGES='{"<service>":"sha256:..."}': the digests to serve (a release's summary lists the previous ones; null serves a service's configured image))
  endif
endif
