"""Settings for the test run: the product's settings, with test-only choices made explicit."""

import os

os.environ.setdefault("GATEHOUSE_DEV_DEFAULTS", "true")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key")

from governance.settings import *  # noqa: F403
from governance.settings import Q_CLUSTER

if os.environ.get("TEST_DATABASE_URL"):
    import environ

    from lib.db import prepared_statement_options

    DATABASES = {"default": environ.Env.db_url_config(os.environ["TEST_DATABASE_URL"])}
    # As the product connects (governance/settings.py): prepared statements unless turned off.
    DATABASES["default"]["OPTIONS"] = prepared_statement_options(
        environ.Env().bool("DATABASE_PREPARED_STATEMENTS", default=True)
    )
else:
    import tempfile

    # A file, not shared-cache memory: the concurrency tests' threads then meet SQLite's real
    # locking (WAL, busy timeout, IMMEDIATE transactions), as the product runs it.
    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"gatehouse-test-{os.getpid()}.sqlite3")
    }

# Tasks run inline in the test process (enqueue happens on commit).
Q_CLUSTER = {**Q_CLUSTER, "sync": True}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# No collected static files in tests: skip whitenoise (it warns about the missing STATIC_ROOT).
MIDDLEWARE = [m for m in MIDDLEWARE if "whitenoise" not in m]  # noqa: F405
# Every sync a full pass unless a test asks for incremental ones (tests/test_sync_incremental.py).
GATEHOUSE = {**GATEHOUSE, "SYNC_FULL_EVERY_HOURS": 0}  # noqa: F405
