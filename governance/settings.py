"""Gatehouse settings. Every value comes from the environment (see `.env.example`)."""

from __future__ import annotations

from pathlib import Path

import environ

from provisioning.connectors import read_environment as read_connector_environment

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# An explicit opt-in, never implied: with it, a fixed development secret key is allowed.
DEV_DEFAULTS = env.bool("GATEHOUSE_DEV_DEFAULTS", default=False)
DEBUG = env.bool("DEBUG", default=False)
if DEV_DEFAULTS:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-secret-key-do-not-use-in-production")
else:
    SECRET_KEY = env.str("SECRET_KEY")  # required: raises ImproperlyConfigured when missing
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "catalog",
    "provisioning",
    "governance",
    "reviews",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "governance.urls"
WSGI_APPLICATION = "governance.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the task cluster write to one file: WAL, a busy timeout and
    # IMMEDIATE transactions keep writers from failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["governance.api.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["governance.api.authentication.HasApiToken"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "governance.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Gatehouse API",
    "DESCRIPTION": "Access requests, approvals and grants, for Jira Automation and other clients.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from this server's static files (drf-spectacular-sidecar), never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    "name": "gatehouse",
    "workers": env.int("Q_WORKERS", default=2),
    # timeout < retry, and an explicit attempt cap: the outbox does its own retries.
    "timeout": env.int("Q_TIMEOUT", default=120),
    "retry": env.int("Q_RETRY", default=180),
    "max_attempts": 1,
    "catch_up": False,
    "ack_failures": True,
    "save_limit": 1000,
    "label": "Tasks",
    "sync": env.bool("Q_SYNC", default=False),
    # Long-running scheduled work (the directory sync) runs on a second cluster of its own, started
    # with Q_CLUSTER_NAME=long: a task timeout that fits a full sync, and (database broker) a retry
    # beyond it, so a long run is neither cut nor delivered twice. See the schedules table (README).
    "ALT_CLUSTERS": {
        "long": {
            "workers": env.int("Q_LONG_WORKERS", default=1),
            "timeout": env.int("Q_LONG_TIMEOUT", default=3600),
            "retry": env.int("Q_LONG_RETRY", default=3660),
        }
    },
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# Gatehouse behaviour.
GATEHOUSE = {
    # Membership changes: attempts before a change is failed, and the backoff between them.
    "CHANGE_MAX_ATTEMPTS": env.int("GATEHOUSE_CHANGE_MAX_ATTEMPTS", default=8),
    "CHANGE_BACKOFF_SECONDS": env.int("GATEHOUSE_CHANGE_BACKOFF_SECONDS", default=15),
    "CHANGE_BACKOFF_MAX_SECONDS": env.int("GATEHOUSE_CHANGE_BACKOFF_MAX_SECONDS", default=3600),
    # A change claimed by a worker for longer than this is taken to be abandoned (worker died).
    "CHANGE_LEASE_SECONDS": env.int("GATEHOUSE_CHANGE_LEASE_SECONDS", default=300),
    # A directory sync that has not reported progress for this long is taken to have died: it is
    # marked failed, and the next sync of that directory may start.
    "SYNC_LEASE_SECONDS": env.int("GATEHOUSE_SYNC_LEASE_SECONDS", default=600),
    # Where people reach Gatehouse (links in emails and Jira comments).
    "BASE_URL": env.str("GATEHOUSE_BASE_URL", default="http://127.0.0.1:8000"),
    # Approvals: remind, then escalate to the fallback, then give up on undecided requests.
    "APPROVAL_REMIND_AFTER_HOURS": env.int("GATEHOUSE_APPROVAL_REMIND_AFTER_HOURS", default=24),
    "APPROVAL_ESCALATE_AFTER_HOURS": env.int("GATEHOUSE_APPROVAL_ESCALATE_AFTER_HOURS", default=72),
    "REQUEST_DECISION_DEADLINE_DAYS": env.int("GATEHOUSE_REQUEST_DECISION_DEADLINE_DAYS", default=14),
    "APPROVAL_LINK_MAX_AGE_DAYS": env.int("GATEHOUSE_APPROVAL_LINK_MAX_AGE_DAYS", default=7),
    # Time-bound access: contractors' default on roles without one; warnings before expiry
    # (ISO-8601 lead times; each applies to grants longer than it).
    "CONTRACTOR_DEFAULT_DAYS": env.int("GATEHOUSE_CONTRACTOR_DEFAULT_DAYS", default=30),
    "EXPIRY_WARNINGS": env.list("GATEHOUSE_EXPIRY_WARNINGS", default=["PT1H", "P1D"]),
    # Where the demo company's groups live: "local" (Gatehouse's own database) or "google" (groups
    # <name>@GOOGLE_DOMAIN in your Workspace, people <handle>@GOOGLE_DOMAIN); see docs/google.md.
    "DEMO_DIRECTORY": env.str("GATEHOUSE_DEMO_DIRECTORY", default="local"),
}

# Mail (approver links, reminders): e.g. smtp+tls://user:password@smtp.example.com:587
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="gatehouse@localhost")
# Seconds before an SMTP connection or command is abandoned (the message is then retried).
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Every secret a connector (or Jira) is configured with is replaced by a mask in every log line.
    "filters": {"secrets": {"()": "provisioning.connectors.redaction.RedactSecrets"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["secrets"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# --- Identity-provider connectors (docs/okta.md, docs/entra.md) -----------------------------------
# Each connector declares its environment variables in provisioning/connectors/<name>/__init__.py;
# this reads them into one dict per connector (OKTA, ENTRA, …). A connector with none of its
# credentials set is "not configured" (its groups fail with a clear permanent error); one set only in
# part fails the start-up check naming what is missing. Secret values are masked in every repr.
vars().update(read_connector_environment(env))

# --- Jira Cloud write-back (docs/jira.md) ------------------------------------------------------
# Comments, the `gatehouse` issue property and optional transitions on the request's Jira issue.
# Nothing is queued unless Jira is enabled and the URL, email and token are all set.
JIRA_BASE_URL = env.str("JIRA_BASE_URL", default="").rstrip("/")
JIRA_EMAIL = env.str("JIRA_EMAIL", default="")
JIRA_API_TOKEN = env.str("JIRA_API_TOKEN", default="")
JIRA_API_TOKEN_FILE = env.str("JIRA_API_TOKEN_FILE", default="")
if not JIRA_API_TOKEN and JIRA_API_TOKEN_FILE:
    try:
        JIRA_API_TOKEN = Path(JIRA_API_TOKEN_FILE).read_text().strip()
    except OSError as error:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"JIRA_API_TOKEN_FILE {JIRA_API_TOKEN_FILE!r} cannot be read: {error}") from error
# Gatehouse status -> Jira transition name, e.g. "approved=Approved,fulfilled=Done,denied=Declined".
JIRA_TRANSITIONS = env.dict("JIRA_TRANSITIONS", default={})
# An empty JIRA_ENABLED (as copied from .env.example) means "not said": on when a URL is set.
JIRA_ENABLED = env.bool("JIRA_ENABLED") if env.str("JIRA_ENABLED", default="") else bool(JIRA_BASE_URL)
# Removals decided by reviews and Auto Reclaim get an issue of their own in this project, resolved
# with this transition once the provider confirms the removal.
JIRA_TICKETS = {
    "PROJECT": env.str("JIRA_TICKET_PROJECT", default=""),
    "ISSUE_TYPE": env.str("JIRA_TICKET_ISSUE_TYPE", default="Task"),
    "RESOLVE_TRANSITION": env.str("JIRA_TICKET_RESOLVE_TRANSITION", default="Done"),
}
JIRA = {
    "TIMEOUT_SECONDS": env.float("JIRA_TIMEOUT_SECONDS", default=10.0),
    "MAX_ATTEMPTS": env.int("JIRA_MAX_ATTEMPTS", default=12),
    "BACKOFF_SECONDS": env.int("JIRA_BACKOFF_SECONDS", default=30),
    "BACKOFF_MAX_SECONDS": env.int("JIRA_BACKOFF_MAX_SECONDS", default=3600),
    # A row claimed for longer than this is taken to be abandoned (the worker died mid-call).
    "LEASE_SECONDS": env.int("JIRA_LEASE_SECONDS", default=300),
}

# --- Auto Reclaim (reviews/services/reclaim.py, docs/reclaim.md) ---
GATEHOUSE.update(
    {
        # Removals one sweep may make per application before it stops and reports (guards against a bad feed).
        "RECLAIM_MAX_REMOVALS_PER_RUN": env.int("GATEHOUSE_RECLAIM_MAX_REMOVALS_PER_RUN", default=50),
    }
)
