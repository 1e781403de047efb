#!/usr/bin/env bash
# Start the web server and a django-q2 worker together; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}

"$PY" manage.py demo_admin
# Each worker process renders with torch; one thread each keeps two workers from
# oversubscribing a small CPU (set more on a big machine, or use a GPU).
export STYLESTORE_ENGINE_THREADS=${STYLESTORE_ENGINE_THREADS:-1}
# Hold looks whose style barely shows (STYLESTORE["QUALITY_GATE"]["STYLE_VISIBILITY"]).
export STYLESTORE_STYLE_VISIBILITY=${STYLESTORE_STYLE_VISIBILITY:-0.05}
"$PY" manage.py qcluster &
worker=$!
"$PY" manage.py runserver --noreload "$HOST:$PORT" &
web=$!
stop() { kill "$web" "$worker" 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop INT TERM EXIT

cat <<MSG

  Shop:       http://$HOST:$PORT/
  Admin:      http://$HOST:$PORT/admin/
  API docs:   http://$HOST:$PORT/api/docs/
  Worker:     django-q2 cluster (pid $worker)
  Press Ctrl-C to stop both.

MSG
# Exit (and stop the other) as soon as either process ends.
wait -n "$web" "$worker"
