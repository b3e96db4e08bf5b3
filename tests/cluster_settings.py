"""The product's settings for the cluster kill test, with tables made directly (no migrations:
the suite's own database already runs them) so a fresh database takes a second, not thirty."""

from governance.settings import *  # noqa: F403


class _NoMigrations:
    def __contains__(self, app_label: str) -> bool:
        return True

    def __getitem__(self, app_label: str) -> None:
        return None


MIGRATION_MODULES = _NoMigrations()
