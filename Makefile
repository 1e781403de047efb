# The README's two commands: `make run` (the demo shop) and `make test` (the suite).
# Each does its own set-up and is safe to repeat.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed

.PHONY: run test setup check bench clean

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py seed_demo
	exec scripts/run-shop.sh

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

check: setup
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

bench: setup
	$(PY) bench/engine.py
	$(PY) bench/jobs.py
	$(PY) bench/personalization.py

clean:
	rm -rf var
