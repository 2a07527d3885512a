# Trellis developer entry points. Every target creates .venv and installs what it needs; a broken install
# step fails the target loudly (set -e, pip errors are fatal).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOME_DIR ?= .trellis
STAMP := $(VENV)/.installed

.PHONY: venv install run test sim bench lint typecheck fmt clean contracts-toolchain contracts hsm-tools openssl-tool vc-interop-tools browser-tools netns-tools
SEEDS ?= 10000
VALIDATORS ?= 4
CHAINS ?= 1
HUB ?=
SUBCHAINS ?= 3

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -c "import trellis, msgspec, lmdb, ed25519_zebra, aiohttp, cryptography, pkcs11"
	@touch $(STAMP)

venv install: $(STAMP)

# A local network of $(VALIDATORS) validators in $(HOME_DIR) (created on first run); Ctrl-C stops it.
# CHAINS=2 (up to 8): that many chains of $(VALIDATORS) validators joined by a relayer (ADR 0015 section 10).
# HUB=1 SUBCHAINS=3 (up to 7): a hub and that many sub-chains, each registered at the hub by governance and joined
# to it (transfer and directory channels) by one relayer (ADR 0016 section 5; docs/guides/hub.md).
run: $(STAMP)
	exec $(VENV)/bin/trellis net up --home $(HOME_DIR) --validators $(VALIDATORS) \
		$(if $(filter 1,$(HUB)),--hub --subchains $(SUBCHAINS),--chains $(CHAINS)) --foreground

# The throughput benchmark suite: report and plot under bench/results/ (bench/README.md)
bench: $(STAMP)
	$(VENV)/bin/trellis bench --targets --out bench/results

# More consensus simulation seeds than CI runs: make sim SEEDS=100000
sim: $(STAMP)
	$(PY) -m tests.sim.run --seeds $(SEEDS)

# The pinned AssemblyScript compiler (npm ci in contracts/, skipped when node_modules matches the lock file);
# fails loudly when node/npm are missing or the install fails.
contracts-toolchain: $(STAMP)
	$(PY) -m trellis.app.modules.contracts.toolchain install

# Digital Bazaar's W3C VC verifier, pinned by tests/interop/vc_js/package-lock.json (npm ci), for the
# interoperability tests; fails loudly when node/npm are missing or the install fails.
VC_JS := tests/interop/vc_js
vc-interop-tools: $(VC_JS)/node_modules/.package-lock.json
$(VC_JS)/node_modules/.package-lock.json: $(VC_JS)/package-lock.json $(VC_JS)/package.json
	@command -v node >/dev/null && command -v npm >/dev/null || \
		{ echo "vc-interop-tools: node and npm are needed for the W3C verifier interop tests" >&2; exit 1; }
	cd $(VC_JS) && npm ci --no-audit --no-fund || \
		{ echo "vc-interop-tools: FAILED: npm ci in $(VC_JS)" >&2; exit 1; }
	@touch $@

# Compile the example contracts to contracts/examples/*/build/*.wasm
contracts: contracts-toolchain
	$(PY) -m trellis.app.modules.contracts.toolchain build contracts/examples/token contracts/examples/escrow contracts/examples/registry

# SoftHSM2 (Debian softhsm2: softhsm2-util and the PKCS#11 module $(SOFTHSM_MODULE)) for the HSM signer's
# tests; installed with apt-get when missing (needs root), and a loud failure when that is impossible.
SOFTHSM_MODULE ?= /usr/lib/softhsm/libsofthsm2.so
hsm-tools:
	@if command -v softhsm2-util >/dev/null && test -f $(SOFTHSM_MODULE); then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
		echo "hsm-tools: softhsm2 is missing and there is no apt-get: install SoftHSM2 (softhsm2-util and $(SOFTHSM_MODULE)) by hand" >&2; exit 1; fi; \
	if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
	echo "hsm-tools: installing Debian softhsm2"; \
	if ! { $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends softhsm2 \
		|| { $$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends softhsm2; }; }; then \
		echo "hsm-tools: FAILED to install softhsm2 with apt-get: the HSM signer cannot be tested" >&2; exit 1; fi; \
	command -v softhsm2-util >/dev/null && test -f $(SOFTHSM_MODULE) || \
		{ echo "hsm-tools: softhsm2 installed, but softhsm2-util or $(SOFTHSM_MODULE) is still missing" >&2; exit 1; }

# The openssl command line (Debian openssl), which the RFC 3161 tests use to check our time-stamp tokens as an
# independent verifier; installed with apt-get when missing, a loud failure when that is impossible.
openssl-tool:
	@if command -v openssl >/dev/null; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then echo "openssl-tool: the openssl command is missing: install it by hand" >&2; exit 1; fi; \
	if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
	echo "openssl-tool: installing Debian openssl"; \
	{ $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssl \
		|| { $$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssl; }; } \
		|| { echo "openssl-tool: FAILED to install openssl with apt-get" >&2; exit 1; }

# The console's browser tests (ADR 0017 section 4): Debian chromium (installed with apt-get when missing, needs root;
# a loud failure when that is impossible) and playwright-core pinned by tests/browser/package-lock.json (npm ci,
# no browser download: run.mjs launches the system chromium).
CHROMIUM ?= /usr/bin/chromium
BROWSER_JS := tests/browser
browser-tools: $(BROWSER_JS)/node_modules/.package-lock.json
	@if test -x $(CHROMIUM); then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
		echo "browser-tools: $(CHROMIUM) is missing and there is no apt-get: install chromium by hand" >&2; exit 1; fi; \
	if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
	echo "browser-tools: installing Debian chromium"; \
	if ! { $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-liberation \
		|| { $$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-liberation; }; }; then \
		echo "browser-tools: FAILED to install chromium with apt-get: the console cannot be tested" >&2; exit 1; fi; \
	test -x $(CHROMIUM) || { echo "browser-tools: chromium installed, but $(CHROMIUM) is still missing" >&2; exit 1; }
$(BROWSER_JS)/node_modules/.package-lock.json: $(BROWSER_JS)/package-lock.json $(BROWSER_JS)/package.json
	@command -v node >/dev/null && command -v npm >/dev/null || \
		{ echo "browser-tools: node and npm are needed for the console's browser tests" >&2; exit 1; }
	cd $(BROWSER_JS) && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund || \
		{ echo "browser-tools: FAILED: npm ci in $(BROWSER_JS)" >&2; exit 1; }
	@touch $@

# The real-link tests and net up --netns (ADR 0018 section 5; docs/guides/real-links.md): ip and tc (Debian
# iproute2) and iptables, installed with apt-get when missing (needs root); a loud failure when that is impossible.
# The tests themselves need root too (network namespaces): they fail naming what is missing, they never skip.
netns-tools:
	@if command -v ip >/dev/null && command -v tc >/dev/null && command -v iptables >/dev/null; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
		echo "netns-tools: ip, tc or iptables is missing and there is no apt-get: install iproute2 and iptables by hand" >&2; exit 1; fi; \
	if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
	echo "netns-tools: installing Debian iproute2 and iptables"; \
	if ! { $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iproute2 iptables \
		|| { $$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iproute2 iptables; }; }; then \
		echo "netns-tools: FAILED to install iproute2 and iptables with apt-get: real links cannot be tested" >&2; exit 1; fi; \
	command -v ip >/dev/null && command -v tc >/dev/null && command -v iptables >/dev/null || \
		{ echo "netns-tools: iproute2 and iptables installed, but ip, tc or iptables is still missing" >&2; exit 1; }

test: $(STAMP) contracts-toolchain hsm-tools openssl-tool vc-interop-tools browser-tools netns-tools
	$(VENV)/bin/ruff check trellis tests
	$(VENV)/bin/mypy --strict trellis/core
	$(VENV)/bin/mypy trellis
	$(VENV)/bin/pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check trellis tests
	$(VENV)/bin/ruff format --check trellis tests

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict trellis/core
	$(VENV)/bin/mypy trellis

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix trellis tests
	$(VENV)/bin/ruff format trellis tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	rm -rf contracts/node_modules contracts/examples/*/build
