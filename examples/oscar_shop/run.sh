#!/bin/sh
# The django-oscar example shop with Stylestore, in one command (from anywhere):
#   sh examples/oscar_shop/run.sh
# Migrates, loads the catalogue and styles (once), then runs the worker and the web
# server: http://127.0.0.1:8001/ (the shop), /dashboard/ and /admin/ (after
# `manage.py createsuperuser`). Ctrl-C stops both.
set -e
cd "$(dirname "$0")"
PYTHON="${PYTHON:-../../.venv/bin/python}"
"$PYTHON" manage.py migrate
"$PYTHON" manage.py seed_oscar_shop
"$PYTHON" manage.py qcluster &
trap 'kill $! 2>/dev/null' EXIT INT TERM
"$PYTHON" manage.py runserver 127.0.0.1:8001
