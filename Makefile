# Developer and CI entry points (GNU make). `make test` is what CI runs; `make run` is a short local load test.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

PYTHON ?= python3
VENV ?= .venv
PY = $(VENV)/bin/python
STAMP = $(VENV)/.installed
# Lint only what exists yet (bench/, examples/ and locustfile.py arrive with their own changes).
LINT_PATHS = $(wildcard registry_tasks tests locustfile.py bench examples)
# System tools the tests use; package names on Debian are the same.
TOOLS ?= docker-registry skopeo docker-compose

RUN_DIR ?= .run/registry
RUN_USERS ?= 8
RUN_SPAWN_RATE ?= 4
RUN_TIME ?= 30s
COMPOSE ?= docker compose
LOCUST_ARGS ?= --headless -u $(RUN_USERS) -r $(RUN_SPAWN_RATE) -t $(RUN_TIME) --html reports/run.html --only-summary

# The lowest Locust we support (pyproject.toml: locust>=2.32,<3): 2.32 is the first whose web UI keeps a plugin's
# extra template arguments (the Registry tab). `make test` runs the newest, `make test-lowest` this one.
LOCUST_LOWEST ?= 2.32.0
# On the lowest Locust, run what meets Locust's API: the unit tests, and the system tests of the plugin's runners,
# events, stats, exit codes, web UI, shapes and distributed runs. Everything else (the client, workflows, sources,
# faults, real clients, replay, populate, the README's examples...) runs the same on any Locust, in `make test`.
OPEN_MODEL_TESTS = tests/system/test_open_model.py
LOWEST_TESTS = tests/unit $(foreach name,distributed truth user_choice request_events shapes web_ui locust_run gates,\
	tests/system/test_$(name).py) \
	"$(OPEN_MODEL_TESTS)::test_two_workers_share_the_rate_and_the_master_sums_it" \
	"$(OPEN_MODEL_TESTS)::test_two_workers_split_a_rollout_and_the_master_ends_it" \
	"$(OPEN_MODEL_TESTS)::test_the_web_ui_shows_a_rollouts_figures_and_stays_up_after_it"
VENV_LOWEST ?= .venv-lowest

.PHONY: venv ensure-registry-binary test test-lowest lint typecheck docs run clean

venv: $(STAMP)

# The stamp makes repeated runs fast; editing pyproject.toml reinstalls.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "python venv failed; on Debian: apt-get install python3-venv" >&2; exit 1; }
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

ensure-registry-binary:
	@missing=(); for tool in $(TOOLS); do command -v $$tool >/dev/null || missing+=($$tool); done; \
	if (( $${#missing[@]} )); then \
	  if [[ $$(id -u) == 0 ]] && command -v apt-get >/dev/null; then \
	    echo "installing $${missing[*]}"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $${missing[*]}; \
	  else \
	    echo "missing: $${missing[*]}. Install: sudo apt-get install $${missing[*]} (Debian/Ubuntu);" \
	      "a registry alone also comes from 'docker compose up -d registry'." >&2; \
	    exit 1; \
	  fi; \
	fi

# Two pytest processes at once (tests/shards.py says why), each printing its output when it ends.
test: venv ensure-registry-binary peers lint typecheck docs
	$(PY) -m tests.shards -q

# The tests that meet Locust's API (LOWEST_TESTS) on the lowest supported Locust, in a venv of its own.
test-lowest: ensure-registry-binary
	[[ -x $(VENV_LOWEST)/bin/python ]] || $(PYTHON) -m venv $(VENV_LOWEST)
	$(VENV_LOWEST)/bin/python -m pip install --quiet -e '.[dev]' 'locust==$(LOCUST_LOWEST)'
	$(VENV_LOWEST)/bin/python -c 'import locust; print("locust", locust.__version__)'
	$(VENV_LOWEST)/bin/python -m pytest -q $(LOWEST_TESTS)

lint: venv
	$(PY) -m ruff check $(LINT_PATHS)

typecheck: venv
	$(PY) -m mypy

# The docs site (mkdocs.yml: docs/ into site/), strict: a dead link or anchor, or a page out of the nav, fails it.
# docs/options.md is generated (`python -m registry_tasks options --markdown`); a unit test holds it to the options.
docs: venv
	$(PY) -m mkdocs build --strict --site-dir site

# Starts a registry (Docker's registry:2 when an engine answers, else the local binary), runs Locust against it
# and always stops that registry again, also when Locust fails or is interrupted.
run: TOOLS = docker-registry
run: venv ensure-registry-binary
	@mkdir -p reports
	@trap 'exit 130' INT TERM; \
	if docker info >/dev/null 2>&1; then \
	  stop='$(COMPOSE) stop registry'; trap "$$stop" EXIT; \
	  $(COMPOSE) up -d --wait registry; url=http://127.0.0.1:5000; \
	else \
	  stop='$(PY) -m registry_tasks.tools.local_registry stop --state-dir $(RUN_DIR)'; trap "$$stop" EXIT; \
	  url=$$($(PY) -m registry_tasks.tools.local_registry start --state-dir $(RUN_DIR)); \
	fi; \
	echo "registry at $$url"; \
	$(PY) -m locust -f locustfile.py -H "$$url" $(LOCUST_ARGS)

clean:
	-[[ ! -f $(RUN_DIR)/pid || ! -x $(PY) ]] || $(PY) -m registry_tasks.tools.local_registry stop --state-dir $(RUN_DIR)
	rm -rf $(VENV) $(VENV_LOWEST) reports .run site *.egg-info

# What the load generator itself costs per request and per GB: a naive HttpUser locustfile, a raw FastHttpUser one
# and our users, one after another on one local registry (bench/run.py). `make bench BENCH_ARGS=--quick` takes
# ~4 minutes instead of ~15; the table goes to stdout, the JSON to reports/bench.json. Then the open model
# (bench/arrivals.py), a connection per request, plain and TLS, with skopeo's TLS resumption (bench/connections.py),
# and 10,000 users or arrivals in flight in one process (bench/memory.py), each with its own reports/bench-*.json.
.PHONY: bench
bench: TOOLS = docker-registry skopeo wrk
bench: venv ensure-registry-binary
	@status=0; \
	$(PY) -m bench $(BENCH_ARGS) || status=1; \
	$(PY) -m bench.arrivals $(filter --quick,$(BENCH_ARGS)) || status=1; \
	$(PY) -m bench.connections $(filter --quick,$(BENCH_ARGS)) || status=1; \
	$(PY) -m bench.memory $(filter --quick,$(BENCH_ARGS)) || status=1; \
	exit $$status  # every part runs; a failed one fails the whole

# Real registries and clients at pinned versions (registry_tasks/tools/peers.py), built from their Go modules into
# ~/.cache/registry-tasks/peers (or $REGISTRY_TASKS_PEERS) for tests/system/test_peers.py; what is built is skipped.
# Needs Go 1.22+ (without it: one line, exit 0; under CI, exit 1). The first build takes ~13 minutes here.
.PHONY: peers
peers: venv
	$(PY) -m registry_tasks.tools.peers build
