# infra targets, included by the root Makefile. Everything the PR workflow runs is here, so
# it is tested locally; .github/workflows/infra-plan-review.yml only calls these targets.

INFRA_CLI = $(RUN) python -m sensorlake.infra.cli
BASE ?=
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20,22
export CHECKPOINT_DISABLE := 1

.PHONY: infra-setup synth plan-review scan deploy plan bench-infra

# `make test` runs the checkov scan test; `make bench` reports synth time and memory.
test: infra-setup
bench: bench-infra

infra-setup: setup infra/.venv-tools/.installed infra/node_modules/.installed ## Install checkov (pinned, own venv) and the cdktf CLI (npm ci)

infra/.venv-tools/.installed: infra/checkov-requirements.txt
	@$(UV) venv --quiet --allow-existing --python 3.11 infra/.venv-tools
	@$(UV) pip install --quiet --python infra/.venv-tools/bin/python --require-hashes -r $<
	@touch $@

infra/node_modules/.installed: infra/package-lock.json
	@cd infra && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

synth: setup ## Synthesize every stack to cdktf.out/stacks/<stack>/cdk.tf.json (offline)
	$(INFRA_CLI) synth $(ARGS)

plan-review: infra-setup ## Offline plan review vs BASE (default origin/main, else HEAD~1) -> cdktf.out/plan-review.md
	$(INFRA_CLI) plan-review $(if $(BASE),--base $(BASE)) $(ARGS)

# NO_SYNTH=1 scans what is already in cdktf.out (the PR workflow synthesizes once, in plan-review).
scan: infra-setup $(if $(NO_SYNTH),,synth) ## checkov over cdktf.out; fails on any finding not in infra/checkov-skips.yaml
	$(INFRA_CLI) scan

deploy: infra-setup ## Check prerequisites, cdktf deploy the stacks in order, then sensorlake validate; ARGS=--auto-approve
	$(INFRA_CLI) setup $(ARGS)

plan: synth ## Real `terraform plan` per stack; says which state (S3 or a local sandbox file) it plans against
	$(INFRA_CLI) plan

bench-infra: setup ## Benchmark: synth wall time and peak RSS of the CDKTF app
	$(RUN) python -m benchmarks.infra $(ARGS)
