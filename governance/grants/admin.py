"""Admin for grants and emergency reviews; actions call services."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html, format_html_join

from catalog.admin_permissions import requires
from catalog.durations import parse_iso_duration
from governance import services
from governance.adminkit import ReadOnlyTabularInline, ask_reason, run_each
from governance.audit.services import Actor
from governance.models import EmergencyReview, Grant, GrantFulfilmentTask, GrantMembershipChange
from lib import readable


def render_changes(grant: Grant | None) -> str:
    if grant is None:
        return "—"
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                readable.moment(c.created_at),
                c.action,
                f"{c.group.name} ({c.group.connector})",
                c.status,
                c.result or "",
                c.attempts,
                c.last_error,
            )
            for c in grant.membership_changes.select_related("group").order_by("id")
        ),
    )
    return format_html(
        "<p>Grant #{} — <b>{}</b>; starts {}; expires {}; ended {}; removal confirmed {}</p>"
        "<table><tr><th>queued</th><th>action</th><th>group</th><th>status</th><th>result</th>"
        "<th>attempts</th><th>error</th></tr>{}</table>",
        grant.pk,
        grant.get_status_display(),
        readable.moment(grant.starts_at),
        readable.moment(grant.expires_at, missing="no end date"),
        readable.moment(grant.ended_at),
        readable.moment(grant.removed_at),
        rows,
    )


class MembershipChangeInline(ReadOnlyTabularInline):
    """The grant's membership changes (through governance's link rows)."""

    model = GrantMembershipChange
    verbose_name = "membership change"
    fields = ("queued", "action", "group", "status", "result", "attempts", "next_attempt_at", "last_error")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("change__group").order_by("change_id")

    def queued(self, link: GrantMembershipChange) -> str:
        return readable.moment(link.change.created_at)

    def action(self, link: GrantMembershipChange) -> str:
        return link.change.get_action_display()

    def group(self, link: GrantMembershipChange) -> str:
        return link.change.group.name

    def status(self, link: GrantMembershipChange) -> str:
        return link.change.get_status_display()

    def result(self, link: GrantMembershipChange) -> str:
        return link.change.get_result_display()

    def attempts(self, link: GrantMembershipChange) -> int:
        return link.change.attempts

    def next_attempt_at(self, link: GrantMembershipChange) -> str:
        return readable.moment(link.change.next_attempt_at) if link.change.status == link.change.QUEUED else "—"

    def last_error(self, link: GrantMembershipChange) -> str:
        return link.change.last_error


class FulfilmentTaskInline(ReadOnlyTabularInline):
    """The grant's manual fulfilment tasks (through governance's link rows)."""

    model = GrantFulfilmentTask
    verbose_name = "manual fulfilment task"
    fields = ("task", "action", "status", "done_at")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("task").order_by("task_id")

    def action(self, link: GrantFulfilmentTask) -> str:
        return link.task.get_action_display()

    def status(self, link: GrantFulfilmentTask) -> str:
        return link.task.get_status_display()

    def done_at(self, link: GrantFulfilmentTask) -> str:
        return readable.moment(link.task.done_at)


@admin.register(Grant)
class GrantAdmin(admin.ModelAdmin):
    list_display = ("id", "person", "role", "status", "length", "starts_at", "expires_at", "ended_at", "removed_at")
    list_filter = ("status", "role__application")
    search_fields = ("person__email", "role__name", "request__jira_issue_key")
    list_select_related = ("person", "role__application")
    readonly_fields = (
        "request",
        "person",
        "role",
        "status",
        "length",
        "starts_at",
        "expires_at",
        "ended_at",
        "removed_at",
        "ended_by",
        "end_reason",
        "created_at",
    )
    fields = readonly_fields
    inlines = [MembershipChangeInline, FulfilmentTaskInline]
    actions = ["revoke_now", "extend"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="duration", ordering="duration")
    def length(self, grant: Grant) -> str:
        return readable.duration_words(grant.duration)

    has_revoke_grant_permission = requires("governance.revoke_grant")
    has_extend_grant_permission = requires("governance.extend_grant")

    @admin.action(description="Revoke now (removes group memberships)", permissions=["revoke_grant"])
    def revoke_now(self, request: HttpRequest, queryset: QuerySet):
        reason = ask_reason(
            self,
            request,
            queryset,
            action="revoke_now",
            required=True,
            title="Revoke access now",
            submit_label="Revoke",
            explanation="Memberships are removed from the identity "
            "provider, except where another grant still needs them.",
        )
        if isinstance(reason, HttpResponse):
            return reason
        run_each(
            self,
            request,
            queryset,
            lambda grant: services.revoke_grant(
                grant=grant, actor=Actor.of_admin(request.user), reason=reason, authorised=True
            ),
            "Revoked",
        )
        return None

    @admin.action(description="Extend (memberships stay in place)", permissions=["extend_grant"])
    def extend(self, request: HttpRequest, queryset: QuerySet):
        reason = ask_reason(
            self,
            request,
            queryset,
            action="extend",
            required=True,
            ask_duration=True,
            title="Extend access",
            submit_label="Extend",
            explanation="Within the role's policy the grant is extended at once; "
            "otherwise an extension request is opened and routed for approval.",
        )
        if isinstance(reason, HttpResponse):
            return reason
        added = parse_iso_duration(request.POST["duration"])
        actor = Actor.of_admin(request.user)
        run_each(
            self,
            request,
            queryset,
            lambda grant: services.extend_grant(grant=grant, actor=actor, added=added, reason=reason),
            "Extended or sent for approval",
        )
        return None


@admin.register(EmergencyReview)
class EmergencyReviewAdmin(admin.ModelAdmin):
    """Break-glass access awaiting its after-the-fact review."""

    list_display = ("request", "status", "created_at", "decided_by", "decided_at")
    list_filter = ("status",)
    list_select_related = ("request", "decided_by")
    readonly_fields = (
        "request",
        "status",
        "decided_by",
        "decided_at",
        "comment",
        "created_at",
        "reminded_at",
        "escalated_at",
    )
    exclude = ("reviewers",)
    actions = ["confirm", "reject"]

    def has_add_permission(self, request) -> bool:
        return False

    def _review(self, request: HttpRequest, queryset: QuerySet, confirm: bool, comment: str) -> None:
        actor = Actor.of_admin(request.user)
        run_each(
            self,
            request,
            queryset,
            lambda review: services.review_emergency(
                request=review.request, actor=actor, confirm=confirm, comment=comment
            ),
            "Confirmed" if confirm else "Rejected and revoked",
        )

    has_review_emergency_permission = requires("governance.review_emergency")

    @admin.action(description="Confirm the emergency access", permissions=["review_emergency"])
    def confirm(self, request: HttpRequest, queryset: QuerySet):
        comment = ask_reason(
            self,
            request,
            queryset,
            action="confirm",
            required=False,
            submit_label="Confirm",
            title="Confirm emergency access",
            explanation="The access was justified.",
        )
        if isinstance(comment, HttpResponse):
            return comment
        self._review(request, queryset, True, comment)
        return None

    @admin.action(description="Reject the emergency access (revokes it now)", permissions=["review_emergency"])
    def reject(self, request: HttpRequest, queryset: QuerySet):
        comment = ask_reason(
            self,
            request,
            queryset,
            action="reject",
            required=True,
            submit_label="Reject",
            title="Reject emergency access",
            explanation="Rejecting revokes the access at once.",
        )
        if isinstance(comment, HttpResponse):
            return comment
        self._review(request, queryset, False, comment)
        return None
