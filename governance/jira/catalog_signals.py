"""Any saved or deleted application or role queues a publication of the request form's field,
in the same transaction (the queue sends it after commit, coalesced to one)."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from catalog.models import Application, Role


def _changed(sender, **kwargs) -> None:
    if kwargs.get("raw"):
        return  # fixtures being loaded
    from governance.jira.catalog_field import queue_publication

    queue_publication()


def connect() -> None:
    for model in (Application, Role):
        post_save.connect(_changed, sender=model, dispatch_uid=f"jira-catalog-{model.__name__}-saved")
        post_delete.connect(_changed, sender=model, dispatch_uid=f"jira-catalog-{model.__name__}-deleted")
