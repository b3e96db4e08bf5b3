#!/usr/bin/env bash
# Install and run Gatehouse on this machine: SQLite, the built-in `local` directory, demo data,
# the web server on http://127.0.0.1:8000, the django-q2 task clusters and the expiry timer.
# Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/venv.sh requirements.txt

if [ ! -f .env ]; then
  # A secret key of this installation's own, kept in .env (never committed).
  printf 'SECRET_KEY=%s\n' "$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))')" > .env
  echo "Wrote .env with a new SECRET_KEY (see .env.example for every setting)."
fi

.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py collectstatic --noinput -v0
.venv/bin/python manage.py bootstrap

# Background processes: the task cluster, the long-task cluster (directory sync, reclaim sweep:
# their own timeout) and the expiry timer (ends each grant on the second). The trap stops all three.
.venv/bin/python manage.py qcluster &
cluster=$!
Q_CLUSTER_NAME=long .venv/bin/python manage.py qcluster &
long_cluster=$!
.venv/bin/python manage.py expiry_timer &
timer=$!
trap 'kill "$cluster" "$long_cluster" "$timer" 2>/dev/null || true; wait 2>/dev/null || true' EXIT INT TERM
echo "Gatehouse: http://${HOST:-127.0.0.1}:${PORT:-8000}/admin/  API docs: http://${HOST:-127.0.0.1}:${PORT:-8000}/api/docs/"
.venv/bin/gunicorn governance.wsgi --bind "${HOST:-127.0.0.1}:${PORT:-8000}" --workers "${WEB_WORKERS:-2}" \
  --access-logfile - --graceful-timeout 5
