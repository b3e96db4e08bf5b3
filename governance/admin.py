"""Django admin for IT: requests with their whole story on one page, grants, policies, audit.

Actions call services; status fields are never editable by hand.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from catalog.admin_permissions import requires
from catalog.durations import parse_iso_duration
from provisioning.models import MembershipChange

from . import services
from .errors import GovernanceError
from .models import (
    AccessRequest,
    ApiToken,
    ApprovalPolicy,
    ApprovalStep,
    AuditEvent,
    AutoApprovalRule,
    Delegation,
    EmergencyReview,
    Grant,
    PolicyStep,
)
from .services.audit import Actor
from .services.policies import policy_changed


def ask_reason(
    modeladmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    action: str,
    title: str,
    explanation: str,
    required: bool,
    submit_label: str,
    ask_duration: bool = False,
) -> str | HttpResponse:
    """An intermediate page asking for a reason (and a duration); returns the reason once confirmed."""
    reason = (request.POST.get("reason") or "").strip()
    duration_text = (request.POST.get("duration") or "").strip()
    duration_ok = not ask_duration or parse_iso_duration(duration_text) is not None
    if request.POST.get("confirm") == "yes" and (reason or not required) and duration_ok:
        return reason
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "explanation": explanation,
        "queryset": queryset,
        "action": action,
        "reason": reason,
        "reason_required": required,
        "reason_label": "Reason" + (" (required)" if required else " (optional)"),
        "submit_label": submit_label,
        "ask_duration": ask_duration,
        "duration": duration_text,
        "error": (
            "A reason and a positive ISO-8601 duration are required." if ask_duration else "A reason is required."
        )
        if request.POST.get("confirm") == "yes"
        else "",
        "opts": modeladmin.model._meta,
    }
    return TemplateResponse(request, "admin/gatehouse_reason.html", context)


def run_each(modeladmin, request: HttpRequest, queryset: QuerySet, func, done: str) -> None:
    """Apply `func` to each selected object; report successes and readable failures."""
    ok = 0
    for obj in queryset:
        try:
            func(obj)
            ok += 1
        except GovernanceError as error:
            modeladmin.message_user(request, f"{obj}: {error.message}", messages.ERROR)
    if ok:
        modeladmin.message_user(request, f"{done}: {ok}.", messages.SUCCESS)


class ApprovalStepInline(admin.TabularInline):
    model = ApprovalStep
    fields = (
        "order",
        "kind",
        "status",
        "approver_list",
        "route_note",
        "decided_by",
        "decided_by_user",
        "decided_at",
        "channel",
        "comment",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return (
            super().get_queryset(request).select_related("decided_by", "decided_by_user").prefetch_related("approvers")
        )

    @admin.display(description="approvers")
    def approver_list(self, step: ApprovalStep) -> str:
        return ", ".join(p.email for p in step.approvers.all())


class AuditEventInline(admin.TabularInline):
    model = AuditEvent
    fk_name = "request"
    fields = ("at", "action", "actor", "message")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("at", "id")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


def render_changes(grant: Grant | None) -> str:
    if grant is None:
        return "—"
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                c.created_at.strftime("%Y-%m-%d %H:%M:%S"),
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
        grant.status,
        grant.starts_at or "—",
        grant.expires_at or "—",
        grant.ended_at or "—",
        grant.removed_at or "—",
        rows,
    )


@admin.register(AccessRequest)
class AccessRequestAdmin(admin.ModelAdmin):
    list_display = ("__str__", "beneficiary", "application", "role", "status", "created_at")
    list_filter = ("status", "application", "source")
    search_fields = ("jira_issue_key", "beneficiary__email", "requester__email", "role__name")
    list_select_related = ("beneficiary", "application", "role")
    date_hierarchy = "created_at"
    readonly_fields = (
        "jira_issue_key",
        "requester",
        "beneficiary",
        "application",
        "role",
        "duration",
        "reason",
        "status",
        "status_reason",
        "policy_label",
        "policy_version",
        "source",
        "created_at",
        "closed_at",
        "grant_and_changes",
    )
    fields = readonly_fields
    inlines = [ApprovalStepInline, AuditEventInline]
    actions = ["approve_current_step", "deny_current_step"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="grant and group changes")
    def grant_and_changes(self, obj: AccessRequest) -> str:
        return render_changes(getattr(obj, "grant", None))

    def _decide(self, request: HttpRequest, queryset: QuerySet, approve: bool, comment: str) -> None:
        override = request.user.has_perm("governance.decide_any_step")

        def decide(access_request: AccessRequest) -> None:
            services.decide_step(
                request=access_request,
                actor=Actor.of_admin(request.user),
                approve=approve,
                comment=comment,
                channel="admin",
                override=override,
            )

        run_each(self, request, queryset, decide, "Approved" if approve else "Denied")

    has_decide_step_permission = requires("governance.decide_step", "governance.decide_any_step")

    @admin.action(description="Approve the current step (as me)", permissions=["decide_step"])
    def approve_current_step(self, request: HttpRequest, queryset: QuerySet):
        comment = ask_reason(
            self,
            request,
            queryset,
            action="approve_current_step",
            required=False,
            title="Approve the current step",
            submit_label="Approve",
            explanation="You approve as yourself; it is recorded with your login.",
        )
        if isinstance(comment, HttpResponse):
            return comment
        self._decide(request, queryset, True, comment)
        return None

    @admin.action(description="Deny the current step (as me)", permissions=["decide_step"])
    def deny_current_step(self, request: HttpRequest, queryset: QuerySet):
        comment = ask_reason(
            self,
            request,
            queryset,
            action="deny_current_step",
            required=True,
            title="Deny the request",
            submit_label="Deny",
            explanation="A denial ends the request. The reason is shown to the requester.",
        )
        if isinstance(comment, HttpResponse):
            return comment
        self._decide(request, queryset, False, comment)
        return None


class MembershipChangeInline(admin.TabularInline):
    model = MembershipChange
    fields = ("created_at", "action", "group", "status", "result", "attempts", "next_attempt_at", "last_error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Grant)
class GrantAdmin(admin.ModelAdmin):
    list_display = ("id", "person", "role", "status", "starts_at", "expires_at", "ended_at", "removed_at")
    list_filter = ("status", "role__application")
    search_fields = ("person__email", "role__name", "request__jira_issue_key")
    list_select_related = ("person", "role__application")
    readonly_fields = (
        "request",
        "person",
        "role",
        "status",
        "duration",
        "starts_at",
        "expires_at",
        "ended_at",
        "removed_at",
        "ended_by",
        "end_reason",
        "created_at",
    )
    fields = readonly_fields
    inlines = [MembershipChangeInline]
    actions = ["revoke_now", "extend"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

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


class PolicyStepInline(admin.TabularInline):
    model = PolicyStep
    extra = 1
    filter_horizontal = ("approvers",)


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(admin.ModelAdmin):
    list_display = ("name", "scope", "version", "is_active", "updated_at")
    list_filter = ("is_active", "risk_tier")
    search_fields = ("name", "application__name", "role__name")
    list_select_related = ("application", "role__application")
    autocomplete_fields = ("application", "fallback_approvers")
    raw_id_fields = ("role",)
    readonly_fields = ("version",)
    inlines = [PolicyStepInline]

    @admin.display(description="applies to")
    def scope(self, policy: ApprovalPolicy) -> str:
        return policy.scope_label

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        policy_changed(policy=form.instance, actor=Actor.of_admin(request.user), created=not change)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("at", "action", "actor", "subject", "request", "message")
    list_filter = ("action",)
    search_fields = ("message", "actor", "subject__email", "request__jira_issue_key")
    list_select_related = ("subject", "request")
    date_hierarchy = "at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created with `manage.py create_api_token NAME` (the secret is shown once there)."""

    list_display = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    exclude = ("secret_hash",)
    actions = ["revoke_tokens"]

    def has_add_permission(self, request) -> bool:
        return False

    has_revoke_token_permission = requires("governance.revoke_token")

    @admin.action(description="Revoke the selected tokens", permissions=["revoke_token"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet) -> None:
        run_each(
            self,
            request,
            queryset.filter(revoked_at__isnull=True),
            lambda token: services.revoke_api_token(token=token, actor=Actor.of_admin(request.user)),
            "Revoked",
        )


@admin.register(Delegation)
class DelegationAdmin(admin.ModelAdmin):
    """Who decides for whom while they are away; steps opened in the window go to the delegate."""

    list_display = ("person", "delegate", "starts_at", "ends_at", "reason")
    search_fields = ("person__email", "delegate__email")
    list_select_related = ("person", "delegate")
    autocomplete_fields = ("person", "delegate")


@admin.register(AutoApprovalRule)
class AutoApprovalRuleAdmin(admin.ModelAdmin):
    """Birthright access: a role (or any role of an application) for people in these departments.
    Privileged applications are never approved by a rule."""

    list_display = ("name", "application", "role", "departments", "include_contractors", "is_active")
    list_filter = ("is_active",)
    list_select_related = ("application", "role__application")
    autocomplete_fields = ("application",)
    raw_id_fields = ("role",)


@admin.register(EmergencyReview)
class EmergencyReviewAdmin(admin.ModelAdmin):
    """Break-glass access awaiting its after-the-fact review."""

    list_display = ("request", "status", "created_at", "decided_by", "decided_at")
    list_filter = ("status",)
    list_select_related = ("request", "decided_by")
    readonly_fields = ("request", "status", "decided_by", "decided_at", "comment", "created_at")
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


# Admins of other topics register themselves on import.
from . import admin_drift, admin_jira, admin_tasks  # noqa: E402,F401
