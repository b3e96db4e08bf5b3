"""One admin for every outbox: an "undelivered" view (a filter) and the same retry action."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from lib.outbox.engine import Outbox, RetryRefused


class DeliveryFilter(admin.SimpleListFilter):
    title = "delivery"
    parameter_name = "delivery"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("undelivered", "Undelivered (failed or still open)"),
            ("failed", "Failed"),
            ("overdue", "Open and overdue"),
            ("delivered", "Delivered"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        model = queryset.model
        open_ = Q(status__in=(model.QUEUED, model.RUNNING))
        choice = self.value()
        if choice == "undelivered":
            return queryset.filter(open_ | Q(status=model.FAILED))
        if choice == "failed":
            return queryset.filter(status=model.FAILED)
        if choice == "overdue":
            return queryset.filter(open_, next_attempt_at__lt=timezone.now())
        if choice == "delivered":
            return queryset.filter(status=model.DONE)
        return queryset


class OutboxAdminMixin:
    """Mix into a ModelAdmin of an outbox model; set `outbox` (the engine instance), the
    `retry_permission` ("app.codename") the retry action needs, and, when open rows may be sent
    at once too, `retry_states`."""

    outbox: Outbox
    retry_permission: str
    retry_states: tuple[str, ...] | None = None
    actions = ["retry_now"]
    outbox_fields = (
        "status",
        "priority",
        "attempts",
        "next_attempt_at",
        "claimed_at",
        "enqueued_at",
        "finished_at",
        "last_error",
        "maybe_applied",
        "created_at",
    )

    def get_list_filter(self, request: HttpRequest) -> tuple:
        return (DeliveryFilter, *super().get_list_filter(request))  # type: ignore[misc]

    @admin.display(description="last error")
    def short_error(self, obj: Any) -> str:
        return obj.last_error[:120]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_retry_now_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(self.retry_permission)

    @admin.action(description="Retry now", permissions=["retry_now"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        done, refused = 0, []
        for row in queryset:
            try:
                self.outbox.retry(row, allowed=self.retry_states)
                done += 1
            except RetryRefused as error:
                refused.append(f"#{row.pk}: {error}")
        if done:
            self.message_user(request, f"{done} row(s) queued to be sent now.", messages.SUCCESS)  # type: ignore[attr-defined]
        if refused:
            self.message_user(request, "Not retried — " + "; ".join(refused[:10]), messages.WARNING)  # type: ignore[attr-defined]
