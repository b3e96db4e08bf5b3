#!/usr/bin/env bash
# Serve Gatehouse (run.sh ends here), four processes side by side: gunicorn, the django-q2 task
# cluster, the long-task cluster (Q_CLUSTER_NAME=long: directory sync and reclaim sweep, with their own
# timeout) and the expiry timer (ends each grant on the second).
# SIGTERM or Ctrl-C stops them all: each main process gets SIGTERM, then STOP_TIMEOUT seconds (default 10)
# to finish its current request or task, then its whole process group gets SIGKILL. If one dies, the others are stopped too.
# Each runs in a process group of its own (setsid), so no worker or cluster child is left behind.
set -uo pipefail
cd "$(dirname "$0")/.."
# HOST, PORT, WEB_WORKERS and STOP_TIMEOUT: from the environment, else from .env (as Django reads
# them: the links Gatehouse sends follow the same HOST and PORT), else the defaults below.
from_env_file() {
  [ -f .env ] || return 0
  local value
  value=$(grep -E "^$1=" .env | tail -n 1) || return 0
  value=${value#*=}
  value=${value%\"}; value=${value#\"}; value=${value%\'}; value=${value#\'}
  printf '%s' "$value"
}
for name in HOST PORT WEB_WORKERS STOP_TIMEOUT; do
  if [ -z "${!name:-}" ]; then
    value=$(from_env_file "$name")
    [ -n "$value" ] && export "$name=$value"
  fi
done
python=${PYTHON_BIN:-.venv/bin/python}
gunicorn=${GUNICORN_BIN:-.venv/bin/gunicorn}

setsid "$python" manage.py qcluster &
cluster=$!
Q_CLUSTER_NAME=long setsid "$python" manage.py qcluster &
long_cluster=$!
setsid "$python" manage.py expiry_timer &
timer=$!
setsid "$gunicorn" governance.wsgi --bind "${HOST:-127.0.0.1}:${PORT:-8000}" --workers "${WEB_WORKERS:-2}" \
  --access-logfile - --logger-class accounts.access_log.RedactingGunicornLogger --graceful-timeout 5 &
web=$!

alive() { kill -0 -- "-$1" 2>/dev/null; }
stopping=0
stop() {
  [ "$stopping" = 1 ] && return
  stopping=1
  # SIGTERM to the two main processes only: each stops its own workers (a django-q2 worker that gets
  # the signal itself dies mid-task and leaves the cluster waiting for it forever).
  kill -TERM "$web" "$cluster" "$long_cluster" "$timer" 2>/dev/null
  for _ in $(seq $((${STOP_TIMEOUT:-10} * 10))); do
    alive "$web" || alive "$cluster" || alive "$long_cluster" || alive "$timer" || break
    sleep 0.1
  done
  # Whatever is left, whole process groups (negative pids): no orphaned worker survives.
  kill -KILL -- "-$web" "-$cluster" "-$long_cluster" "-$timer" 2>/dev/null
  wait 2>/dev/null
  echo "Gatehouse stopped." >&2
}
trap 'stop; exit 143' TERM
trap 'stop; exit 130' INT
trap stop EXIT

echo "Gatehouse: http://${HOST:-127.0.0.1}:${PORT:-8000}/admin/  API docs: http://${HOST:-127.0.0.1}:${PORT:-8000}/api/docs/"
# Returns when either process ends, or at once when a trapped signal arrives.
wait -n "$web" "$cluster" "$long_cluster" "$timer"
exit $?
