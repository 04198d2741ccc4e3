# strongroom: two commands set everything up.
#   make demo   create .venv, install, run the whole workflow on the bundled demo site
#   make test   create .venv, install with test extras and system tools, run the tests
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# Debian packages the tests and features use: real sshd/rsync for sharing,
# Chromium for screenshots and replay tests, wget and curl for the benchmarks,
# PostgreSQL for the shared-ledger tests.
SYSDEPS := openssh-server openssh-client rsync chromium wget curl postgresql
# The benchmarks also serve their news site with nginx (bench/nginxsite.py says why).
BENCH_SYSDEPS := $(SYSDEPS) nginx

.PHONY: demo test lint format sysdeps bench clean constraints

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# constraints.txt pins every package to the versions CI last passed with, so the
# two README commands give a user exactly those. Refresh it with `make constraints`
# after changing dependencies in pyproject.toml, then run `make test`.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/strongroom demo

test: $(VENV)/.installed sysdeps
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Re-resolve the newest versions that pyproject.toml allows and pin them.
constraints: | $(BIN)/python
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install -q --upgrade pip
	.venv-lock/bin/pip install -q -e '.[test]'
	.venv-lock/bin/pip freeze --exclude-editable | grep -v '^strongroom' > constraints.txt
	rm -rf .venv-lock

format: $(VENV)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Installs the Debian packages only when one is missing, and only as root;
# without root the tests that need them say so and are skipped.
sysdeps:
	@missing=""; for p in $(SYSDEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "not root: cannot install$$missing; tests needing them will be skipped"; fi; \
	fi

bench: $(VENV)/.installed
	$(MAKE) sysdeps SYSDEPS="$(BENCH_SYSDEPS)"
	$(BIN)/python bench/capture.py
	$(BIN)/python bench/bag.py
	$(BIN)/python bench/verify.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
