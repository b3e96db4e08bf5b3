#!/usr/bin/env bash
# Install and run Gatehouse on this machine: SQLite, the built-in `local` directory, demo data,
# the web server on http://127.0.0.1:8000 (HOST and PORT, from the environment or .env, change it;
# links in emails follow), the django-q2 task clusters and the expiry timer. Each step says what it does.
# Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/venv.sh requirements.txt

if [ ! -f .env ]; then
  # A secret key of this installation's own, kept in .env (never committed).
  printf 'SECRET_KEY=%s\n' "$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))')" > .env
  echo "Wrote .env with a new SECRET_KEY (see .env.example for every setting)."
fi

echo "Migrating the database…"
.venv/bin/python manage.py migrate --noinput -v1
echo "Collecting static files…"
.venv/bin/python manage.py collectstatic --noinput -v0
echo "Loading the demo company, the schedules and the first-run logins…"
.venv/bin/python manage.py bootstrap

echo "Starting the web server, the two task clusters and the expiry timer…"

exec scripts/serve.sh
