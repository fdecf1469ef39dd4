# One entry point for developers and CI. `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements
POLICY_VENV := policy/venv

.DEFAULT_GOAL := help
.PHONY: help install lint types unit test plan

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt policy/requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r policy/requirements.txt
	@touch $@

# The policy pack's runtime names the virtualenv `venv` (policy/PulumiPolicy.yaml) and Pulumi's
# Python policy launcher refuses to start without it: it is this same environment.
$(POLICY_VENV): | $(STAMP)
	ln -sfn ../$(VENV) $@

install: $(STAMP) $(POLICY_VENV) ## Create .venv with requirements.txt and the policy pack's requirements; link it as policy/venv.

lint: install ## ruff: lint and format check.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: install ## pyright over the whole project (zero errors expected).
	$(BIN)/pyright

unit: install ## pytest: settings, components, policies and every stack, offline.
	$(BIN)/python -m pytest

test: lint ## Everything CI runs: lint, then types and tests side by side (one core each).
	@$(MAKE) --no-print-directory -j2 --output-sync=target types unit

plan: install ## Offline plan of STACK (inventory, policy verdicts, cost); no AWS needed.
	@test -n "$(STACK)" || { echo "usage: make plan STACK=dev|staging|prod" >&2; exit 2; }
	$(BIN)/python -m tooling.plan $(STACK)

# Real deployments. State defaults to a file backend in this repository (git-ignored) with a
# passphrase secrets provider; set PULUMI_BACKEND_URL (s3://..., https://api.pulumi.com) for teams.
PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi
export PULUMI_BACKEND_URL

.PHONY: preview up destroy pulumi-ready
pulumi-ready: install
	@test -n "$(STACK)" || { echo "usage: make $(MAKECMDGOALS) STACK=dev|staging|prod" >&2; exit 2; }
	@command -v pulumi >/dev/null || { echo "error: the Pulumi CLI is not installed: https://www.pulumi.com/docs/iac/download-install/" >&2; exit 2; }
	@test -n "$$AWS_PROFILE$$AWS_ACCESS_KEY_ID$$AWS_WEB_IDENTITY_TOKEN_FILE$$AWS_CONTAINER_CREDENTIALS_FULL_URI" || test -f "$$HOME/.aws/credentials" || test -f "$$HOME/.aws/config" || { echo "error: no AWS credentials: set AWS_PROFILE or run 'aws configure' / 'aws sso login'" >&2; exit 2; }
	@case "$(PULUMI_BACKEND_URL)" in file://*) mkdir -p "$(CURDIR)/.pulumi"; test -n "$$PULUMI_CONFIG_PASSPHRASE$$PULUMI_CONFIG_PASSPHRASE_FILE" || { echo "error: set PULUMI_CONFIG_PASSPHRASE (the local backend encrypts secrets with it)" >&2; exit 2; };; esac
	pulumi login "$(PULUMI_BACKEND_URL)"
	pulumi stack select --create "$(STACK)" --secrets-provider passphrase

preview: pulumi-ready ## pulumi preview of STACK with the policy pack and its config.
	pulumi preview -s $(STACK) --policy-pack policy --policy-pack-config policy/config.$(STACK).json

# The program itself refuses to update a stack whose file holds example values; this guard says so
# before the CLI previews and asks for confirmation.
up: pulumi-ready ## pulumi up of STACK with the policy pack and its config (refuses example values).
	$(BIN)/python -m tooling.plan $(STACK) --check-example-values
	pulumi up -s $(STACK) --policy-pack policy --policy-pack-config policy/config.$(STACK).json

destroy: pulumi-ready ## pulumi destroy of STACK (protected resources in staging/prod refuse).
	pulumi destroy -s $(STACK)

# Database runbooks (tooling/dbops.py; README "Database operations"). They read the stack's
# outputs through the Pulumi CLI and call RDS with your AWS credentials; prod needs CONFIRM_PROD=1.
.PHONY: db-snapshot db-restore db-failover db-connect
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
