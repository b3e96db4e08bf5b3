"""Gatehouse settings. Every value comes from the environment (see `.env.example`)."""

from __future__ import annotations

from datetime import timedelta
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


def _served_at(host: str, port: str) -> str:
    """The address scripts/serve.sh (run.sh) binds, as a link: a wildcard host is reached at 127.0.0.1."""
    host = host.strip() or "127.0.0.1"
    if host in ("0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    return f"http://{host}:{port.strip() or '8000'}"


# Where people reach Gatehouse (links in emails, Slack and Jira comments). Empty or unset: the HOST
# and PORT run.sh serves on (the same variables, from the environment or .env).
_BASE_URL = (
    env.str("GATEHOUSE_BASE_URL", default="") or _served_at(env.str("HOST", default=""), env.str("PORT", default=""))
).rstrip("/")
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
    "axes",
    "csp",
    "catalog",
    "provisioning",
    "governance",
    "reviews",
    "accounts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "governance.api.errors.UnstorableInputMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last: it turns a locked-out password sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
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
_SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
if _SQLITE:
    # The web server and the task cluster write to one file: WAL, a busy timeout and
    # IMMEDIATE transactions keep writers from failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
        }
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    from lib.db import prepared_statement_options

    DATABASES["default"].setdefault("OPTIONS", {}).update(
        prepared_statement_options(env.bool("DATABASE_PREPARED_STATEMENTS", default=True))
    )
# Persistent connections (checked before reuse): the task workers, the expiry timer and the web
# workers otherwise open a new connection for every task, enqueue or request.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# One timestamp format on every page: "2026-11-23 09:50 UTC" (governance/formats/en/formats.py).
FORMAT_MODULE_PATH = ["governance.formats"]
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Transport security and browser headers (docs: README "Security"; check: manage.py check --deploy) ---
# Defaults follow GATEHOUSE_BASE_URL: an https:// address turns on secure cookies, the https redirect
# and a year of HSTS; the http://127.0.0.1 default of run.sh leaves them off. Each can be set on its own.
# An empty value (as copied from .env.example) means "not said": the default applies.
# "files": the catalog and access policies are managed as YAML (manage.py catalog); the admin shows them read-only.
GATEHOUSE_CATALOG_SOURCE = env.str("GATEHOUSE_CATALOG_SOURCE", default="database")
_HTTPS = _BASE_URL.startswith("https://")
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES") if env.str("SECURE_COOKIES", default="") else _HTTPS
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT") if env.str("SECURE_SSL_REDIRECT", default="") else _HTTPS
SECURE_HSTS_SECONDS = (
    env.int("SECURE_HSTS_SECONDS") if env.str("SECURE_HSTS_SECONDS", default="") else (31536000 if _HTTPS else 0)
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# A TLS-terminating proxy's header, e.g. "HTTP_X_FORWARDED_PROTO,https". Set it only behind a proxy that
# always sets (and never passes on) that header; otherwise a client could claim https.
_proxy_header = env.list("SECURE_PROXY_SSL_HEADER", default=[])
SECURE_PROXY_SSL_HEADER = tuple(_proxy_header) if len(_proxy_header) == 2 else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = env.str("SECURE_REFERRER_POLICY", default="same-origin")
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content security policy for every page (django-csp). No inline scripts or styles anywhere:
# our pages load /static/ only, the admin is CSP-clean, Swagger UI comes from drf-spectacular-sidecar.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# --- Sign-in: company SSO (OpenID Connect; docs/sso.md), break-glass passwords, throttling ---
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "reviews:home"
OIDC = {
    # Unset OIDC_ISSUER means "SSO off": password sign-in as before.
    "ISSUER": env.str("OIDC_ISSUER", default=""),
    "CLIENT_ID": env.str("OIDC_CLIENT_ID", default=""),
    "CLIENT_SECRET": env.str("OIDC_CLIENT_SECRET", default=""),
    # The claim that names the person: "email" (needs email_verified=true: Okta) or an issuer-controlled
    # claim such as "oid" (matched to the person's directory id) or "upn" for Entra, whose email is unverified.
    "EMAIL_CLAIM": env.str("OIDC_EMAIL_CLAIM", default="email"),
    # Identity-provider group -> Django group, e.g. "gatehouse-admins=IT admins,gatehouse-audit=Auditors"
    # (group names for Okta, object ids for Entra). Only people in one of them reach the admin.
    "ADMIN_GROUPS": env.dict("OIDC_ADMIN_GROUPS", default={}),
    "GROUPS_CLAIM": env.str("OIDC_GROUPS_CLAIM", default="groups"),
    "SCOPES": env.list("OIDC_SCOPES", default=["openid", "email", "profile"]),
    # Clock skew allowed on exp/iat/nbf, and the timeout of each call to the provider.
    "LEEWAY_SECONDS": env.int("OIDC_LEEWAY_SECONDS", default=60),
    "TIMEOUT_SECONDS": env.float("OIDC_TIMEOUT_SECONDS", default=10.0),
}
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses locked-out sign-ins before the password is checked
    "accounts.backends.PasswordBackend",  # local passwords; with SSO on, only the break-glass superuser
    "accounts.backends.SsoBackend",  # sessions started by company SSO (checks no credentials)
]
# django-axes: after AXES_FAILURE_LIMIT wrong passwords for one username from one address, that pair
# is locked for AXES_COOLOFF_MINUTES. The address is REMOTE_ADDR (behind a proxy: the proxy's, so the
# lock is effectively per username).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked.html"
AXES_SENSITIVE_PARAMETERS = ["password", "csrfmiddlewaretoken"]  # masked in its records and logs

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["governance.api.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["governance.api.authentication.HasTokenScope"],
    "DEFAULT_SCHEMA_CLASS": "governance.api.schema.ScopedAutoSchema",
    "EXCEPTION_HANDLER": "governance.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["governance.api.parsers.StrictJSONParser"],
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
    # Successful tasks are kept for the admin, pruned by the "prune task results" schedule: with a
    # save_limit above 0 django-q2 would prune on every result, reading every kept row.
    "save_limit": 0,
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
    # Seconds between the database broker's looks for new tasks when it found none (django-q2's
    # default is 0.2): a change queued by an approval waits on average half of it before any
    # worker sees it. Each look is one small read: an idle cluster used 1.2 % of a core at 0.2 s,
    # 2 % at 0.1 s, 3.9 % at 0.05 s (measured).
    Q_CLUSTER["poll"] = env.float("Q_POLL", default=0.1)
    if not 0.01 <= Q_CLUSTER["poll"] <= 60:  # 0 would spin; django-q2 would fail on a negative sleep
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("Q_POLL must be seconds from 0.01 to 60 between looks for new tasks, e.g. 0.1.")

# Gatehouse behaviour.
GATEHOUSE = {
    # Membership changes: attempts before a change is failed, and the backoff between them.
    "CHANGE_MAX_ATTEMPTS": env.int("GATEHOUSE_CHANGE_MAX_ATTEMPTS", default=8),
    "CHANGE_BACKOFF_SECONDS": env.int("GATEHOUSE_CHANGE_BACKOFF_SECONDS", default=15),
    "CHANGE_BACKOFF_MAX_SECONDS": env.int("GATEHOUSE_CHANGE_BACKOFF_MAX_SECONDS", default=3600),
    # A change claimed by a worker for longer than this is taken to be abandoned (worker died).
    "CHANGE_LEASE_SECONDS": env.int("GATEHOUSE_CHANGE_LEASE_SECONDS", default=300),
    # Changes per task; a task also takes up to as many of the most urgent other due changes. SQLite
    # has one writer at a time: smaller batches let the workers' transactions interleave.
    "CHANGE_BATCH_SIZE": env.int("GATEHOUSE_CHANGE_BATCH_SIZE", default=50 if _SQLITE else 100),
    # A directory sync that has not reported progress for this long is taken to have died: it is
    # marked failed, and the next sync of that directory may start.
    "SYNC_LEASE_SECONDS": env.int("GATEHOUSE_SYNC_LEASE_SECONDS", default=600),
    # Successful tasks kept (admin: Tasks > Successful tasks); failures are always kept.
    "TASK_RESULTS_KEPT": env.int("GATEHOUSE_TASK_RESULTS_KEPT", default=1000),
    # Provider calls one worker process makes at once (per provider; e.g. "okta=8;entra=4" to set
    # each); the shared rate budget (Redis when REDIS_URL is set, else the database) paces them.
    "PROVIDER_CONCURRENCY": env.int("GATEHOUSE_PROVIDER_CONCURRENCY", default=8),
    "PROVIDER_CONCURRENCY_BY_NAME": env.dict("GATEHOUSE_PROVIDER_CONCURRENCY_BY_NAME", cast={"value": int}, default={}),
    # Every outbox: a task handed to the broker but not started after this long is presumed lost
    # (a broker that dropped it); the sweep then queues its rows again.
    "OUTBOX_PENDING_SECONDS": env.int("GATEHOUSE_OUTBOX_PENDING_SECONDS", default=600),
    # Outbound messages (email): attempts, backoff, lease, and messages per task.
    "MESSAGE_MAX_ATTEMPTS": env.int("GATEHOUSE_MESSAGE_MAX_ATTEMPTS", default=8),
    "MESSAGE_BACKOFF_SECONDS": env.int("GATEHOUSE_MESSAGE_BACKOFF_SECONDS", default=30),
    "MESSAGE_BACKOFF_MAX_SECONDS": env.int("GATEHOUSE_MESSAGE_BACKOFF_MAX_SECONDS", default=3600),
    "MESSAGE_LEASE_SECONDS": env.int("GATEHOUSE_MESSAGE_LEASE_SECONDS", default=300),
    "MESSAGE_BATCH_SIZE": env.int("GATEHOUSE_MESSAGE_BATCH_SIZE", default=100),
    # Where people reach Gatehouse (links in emails and Jira comments).
    "BASE_URL": _BASE_URL,
    # Approvals: remind, then escalate to the fallback, then give up on undecided requests.
    "APPROVAL_REMIND_AFTER_HOURS": env.int("GATEHOUSE_APPROVAL_REMIND_AFTER_HOURS", default=24),
    "APPROVAL_ESCALATE_AFTER_HOURS": env.int("GATEHOUSE_APPROVAL_ESCALATE_AFTER_HOURS", default=72),
    "REQUEST_DECISION_DEADLINE_DAYS": env.int("GATEHOUSE_REQUEST_DECISION_DEADLINE_DAYS", default=14),
    "APPROVAL_LINK_MAX_AGE_DAYS": env.int("GATEHOUSE_APPROVAL_LINK_MAX_AGE_DAYS", default=7),
    # Time-bound access: contractors' default on roles without one; warnings before expiry
    # (ISO-8601 lead times; each applies to grants longer than it).
    "CONTRACTOR_DEFAULT_DAYS": env.int("GATEHOUSE_CONTRACTOR_DEFAULT_DAYS", default=30),
    "EXPIRY_WARNINGS": env.list("GATEHOUSE_EXPIRY_WARNINGS", default=["PT1H", "P1D"]),
    # Review account lists (CSV/XLSX): refused above this size, before they are parsed; an XLSX
    # whose parts unpack to more than UNPACKED_MAX_BYTES is refused before it is opened.
    "ACCOUNT_LIST_MAX_BYTES": env.int("GATEHOUSE_ACCOUNT_LIST_MAX_BYTES", default=10 * 1024 * 1024),
    "ACCOUNT_LIST_UNPACKED_MAX_BYTES": env.int("GATEHOUSE_ACCOUNT_LIST_UNPACKED_MAX_BYTES", default=100 * 1024 * 1024),
    # With SSO on: allow password sign-in for superusers only (break glass; audited, IT_EMAIL told).
    "LOCAL_LOGIN": env.bool("GATEHOUSE_LOCAL_LOGIN", default=False),
    # With SSO on: an approver link asks for SSO sign-in as its addressee before it opens.
    "APPROVAL_LINK_REQUIRES_SSO": env.bool("GATEHOUSE_APPROVAL_LINK_REQUIRES_SSO", default=False),
    # Who is emailed about every break-glass sign-in (comma-separated addresses).
    "IT_EMAIL": env.list("GATEHOUSE_IT_EMAIL", default=[]),
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
    # Signed-link tokens and every secret a connector (or Jira) is configured with are masked in every line.
    "filters": {
        "link_tokens": {"()": "accounts.access_log.RedactLinkTokens"},
        "secrets": {"()": "provisioning.connectors.redaction.RedactSecrets"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["link_tokens", "secrets"]}
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # django-axes reports every sign-in at INFO; failures and lockouts are WARNING.
    "loggers": {"axes": {"level": "WARNING"}},
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
# The request form's cascading select (parent = application, child = role) Gatehouse keeps current.
JIRA_CATALOG_FIELD_ID = env.str("JIRA_CATALOG_FIELD_ID", default="")
JIRA_CATALOG_CONTEXT_ID = env.str("JIRA_CATALOG_CONTEXT_ID", default="")
# An empty JIRA_ENABLED (as copied from .env.example) means "not said": on when a URL is set.
JIRA_ENABLED = env.bool("JIRA_ENABLED") if env.str("JIRA_ENABLED", default="") else bool(JIRA_BASE_URL)
# API decisions on requests with a Jira issue count only when JSM's approval record agrees.
JIRA_VERIFY_APPROVALS = env.bool("JIRA_VERIFY_APPROVALS", default=False)
# Removals decided by reviews and Auto Reclaim get an issue of their own in this project, resolved
# with this transition once the provider confirms the removal.
JIRA_TICKETS = {
    "PROJECT": env.str("JIRA_TICKET_PROJECT", default=""),
    "ISSUE_TYPE": env.str("JIRA_TICKET_ISSUE_TYPE", default="Task"),
    "RESOLVE_TRANSITION": env.str("JIRA_TICKET_RESOLVE_TRANSITION", default="Done"),
}
# Requests made outside Jira (Slack's /access) get a Jira issue of their own, so Jira stays the
# record: a Jira Service Management request (service desk id and request type id) when both are
# set, otherwise an issue of this type in this project; neither set: no issue.
JIRA_REQUESTS = {
    "PROJECT": env.str("JIRA_REQUEST_PROJECT", default=""),
    "ISSUE_TYPE": env.str("JIRA_REQUEST_ISSUE_TYPE", default="Task"),
    "SERVICE_DESK_ID": env.str("JIRA_REQUEST_SERVICE_DESK_ID", default=""),
    "REQUEST_TYPE_ID": env.str("JIRA_REQUEST_TYPE_ID", default=""),
}
JIRA = {
    "TIMEOUT_SECONDS": env.float("JIRA_TIMEOUT_SECONDS", default=10.0),
    "MAX_ATTEMPTS": env.int("JIRA_MAX_ATTEMPTS", default=12),
    "BACKOFF_SECONDS": env.int("JIRA_BACKOFF_SECONDS", default=30),
    "BACKOFF_MAX_SECONDS": env.int("JIRA_BACKOFF_MAX_SECONDS", default=3600),
    # A row claimed for longer than this is taken to be abandoned (the worker died mid-call).
    "LEASE_SECONDS": env.int("JIRA_LEASE_SECONDS", default=300),
}

# --- Slack (governance/slack/; see docs/slack.md) ---
# Slack is off unless both the bot token and the signing secret are set; the Web API base URL is
# changed only to point at a test emulator.
SLACK_BOT_TOKEN = env.str("SLACK_BOT_TOKEN", default="")
SLACK_SIGNING_SECRET = env.str("SLACK_SIGNING_SECRET", default="")
SLACK_API_URL = env.str("SLACK_API_URL", default="https://slack.com/api/")
SLACK = {
    # Seconds before a Web API call is abandoned (the outbox retries it later).
    "TIMEOUT_SECONDS": env.float("SLACK_TIMEOUT_SECONDS", default=10.0),
}
# Where people are told things, in order of preference: each person gets the first channel that
# reaches them (Slack when Slack is on and they are found there, email otherwise).
GATEHOUSE_NOTIFY_CHANNELS = env.list("GATEHOUSE_NOTIFY_CHANNELS", default=["slack", "email"])

# --- Auto Reclaim (reviews/services/reclaim.py, docs/reclaim.md) ---
GATEHOUSE.update(
    {
        # Removals one sweep may make per application before it stops and reports (guards against a bad feed).
        "RECLAIM_MAX_REMOVALS_PER_RUN": env.int("GATEHOUSE_RECLAIM_MAX_REMOVALS_PER_RUN", default=50),
    }
)

# --- Directory sync safety (provisioning/sync/, docs/sync.md) ---
GATEHOUSE.update(
    {
        # A user listing (or a mapped group's member listing) shorter than the last one by more than
        # this fraction is taken as a broken read: the run fails (members: that group is kept as it was).
        "SYNC_MAX_SHRINK": env.float("GATEHOUSE_SYNC_MAX_SHRINK", default=0.2),
        # ...checked only when the last listing had at least this many entries.
        "SYNC_SHRINK_MIN_SIZE": env.int("GATEHOUSE_SYNC_SHRINK_MIN_SIZE", default=50),
        # Transient provider errors (429, 5xx, timeouts) are retried within a run with exponential
        # backoff from this many seconds, honouring Retry-After, waiting at most this long in total.
        "SYNC_RETRY_BACKOFF_SECONDS": env.float("GATEHOUSE_SYNC_RETRY_BACKOFF_SECONDS", default=2.0),
        "SYNC_RETRY_MAX_WAIT_SECONDS": env.float("GATEHOUSE_SYNC_RETRY_MAX_WAIT_SECONDS", default=60.0),
        # Providers that list changes since a time (Okta) are synced incrementally between full
        # passes; a full pass (every user, group and member) runs at least this often. 0: always full.
        "SYNC_FULL_EVERY_HOURS": env.float("GATEHOUSE_SYNC_FULL_EVERY_HOURS", default=24.0),
        # Member listings of mapped groups in flight at once (one event loop, or threads for Google).
        "SYNC_CONCURRENCY": env.int("GATEHOUSE_SYNC_CONCURRENCY", default=8),
    }
)
if GATEHOUSE["CHANGE_BATCH_SIZE"] < 1:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("GATEHOUSE_CHANGE_BATCH_SIZE must be a whole number of changes per task, 1 or more.")
if GATEHOUSE["TASK_RESULTS_KEPT"] < 0:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("GATEHOUSE_TASK_RESULTS_KEPT must be a whole number of successful tasks, 0 or more.")
if not 0 <= GATEHOUSE["SYNC_MAX_SHRINK"] < 1:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("GATEHOUSE_SYNC_MAX_SHRINK must be a fraction from 0 to below 1, e.g. 0.2 for 20%.")

# --- Lifecycle: joiners, movers, leavers (governance/lifecycle, docs/lifecycle.md) ---
GATEHOUSE.update(
    {
        # A suspended person keeps access this long (ISO-8601, e.g. P14D) before it is revoked; empty: at once.
        "SUSPENDED_GRACE": env.str("GATEHOUSE_SUSPENDED_GRACE", default=""),
        # A run that would offboard more people than this stops and reports instead (a broken feed).
        "LEAVER_MAX_PER_RUN": env.int("GATEHOUSE_LEAVER_MAX_PER_RUN", default=25),
        # Memberships no grant explains are listed on the offboarding record; removed too only when true.
        "LEAVER_REMOVE_UNEXPLAINED": env.bool("GATEHOUSE_LEAVER_REMOVE_UNEXPLAINED", default=False),
        # What a move does to access (review | revoke | nothing); roles and applications may say otherwise.
        "MOVER_POLICY": env.str("GATEHOUSE_MOVER_POLICY", default="review"),
        "MOVER_REVIEW_DAYS": env.int("GATEHOUSE_MOVER_REVIEW_DAYS", default=14),
    }
)
