"""Admin for access requests (their whole story on one page), policies, delegations and rules."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from catalog.admin_permissions import requires
from governance import services
from governance.adminkit import ReadOnlyTabularInline, ask_reason, run_each
from governance.audit.admin import AuditEventInline
from governance.audit.services import Actor
from governance.grants.admin import render_changes
from governance.models import (
    AccessRequest,
    ApprovalPolicy,
    ApprovalStep,
    AutoApprovalRule,
    Delegation,
    PolicyStep,
)
from governance.requests import channels
from governance.requests.policies import policy_changed, rule_changed
from lib import readable


class ApprovalStepInline(ReadOnlyTabularInline):
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

    def get_queryset(self, request):
        return (
            super().get_queryset(request).select_related("decided_by", "decided_by_user").prefetch_related("approvers")
        )

    @admin.display(description="approvers")
    def approver_list(self, step: ApprovalStep) -> str:
        return ", ".join(p.email for p in step.approvers.all())


@admin.register(AccessRequest)
class AccessRequestAdmin(admin.ModelAdmin):
    list_display = ("__str__", "beneficiary", "application", "role", "status", "length", "created_at", "closed_at")
    list_filter = ("status", "application", "source")
    search_fields = ("jira_issue_key", "beneficiary__email", "requester__email", "role__name")
    list_select_related = ("beneficiary", "application", "role__application")
    date_hierarchy = "created_at"
    readonly_fields = (
        "jira_issue_key",
        "requester",
        "beneficiary",
        "application",
        "role",
        "length",
        "reason",
        "status",
        "status_reason",
        "route",
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

    @admin.display(description="duration", ordering="duration")
    def length(self, obj: AccessRequest) -> str:
        return readable.duration_words(obj.duration)

    @admin.display(description="route")
    def route(self, obj: AccessRequest) -> str:
        """The policy (with its version) or the auto-approval rule that routed it, as it was."""
        return obj.policy_label or "—"

    @admin.display(description="grant and group changes")
    def grant_and_changes(self, obj: AccessRequest) -> str:
        return render_changes(getattr(obj, "grant", None))

    @staticmethod
    def _verdict(request: HttpRequest, access_request: AccessRequest):
        """The current step and whether the signed-in admin may decide it (can_decide), or (None, None)."""
        step = services.current_step(access_request)
        if step is None:
            return None, None
        step.request = access_request
        override = request.user.has_perm("governance.decide_any_step")
        who = f"admin:{request.user.get_username()}"
        return step, services.can_decide(step, getattr(request.user, "person", None), override=override, who=who)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        """Say whether the signed-in admin may decide the current step, and why not (can_decide)."""
        extra_context = dict(extra_context or {})
        access_request = AccessRequest.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        step, verdict = self._verdict(request, access_request) if access_request else (None, None)
        if step is not None:
            extra_context["decision_step"], extra_context["decision_verdict"] = step, verdict
        return super().change_view(request, object_id, form_url, extra_context)

    def _summaries(self, request: HttpRequest, queryset: QuerySet) -> list[dict]:
        """Who, what, why and the risk of each selected request, for the page that confirms a decision."""
        rows = []
        for access_request in queryset.select_related("requester", "beneficiary", "application", "role"):
            step, verdict = self._verdict(request, access_request)
            if verdict is None:
                decision = f"nothing to decide ({access_request.get_status_display().lower()})"
            elif verdict.allowed:
                decision = f"step {step.order}" + (" — as an override" if verdict.as_override else "")
            else:
                decision = f"you cannot: {verdict.reason}"
            risk = access_request.application.get_risk_tier_display()
            rows.append(
                {
                    "request": access_request,
                    "requester": access_request.requester,
                    "beneficiary": access_request.beneficiary,
                    "application": access_request.application.name,
                    "role": access_request.role.name,
                    "duration": readable.duration_words(access_request.duration),
                    "reason": access_request.reason,
                    "risk": risk + (" — break-glass" if access_request.is_emergency else ""),
                    "decision": decision,
                }
            )
        return rows

    def _decide(self, request: HttpRequest, queryset: QuerySet, approve: bool, comment: str) -> None:
        override = request.user.has_perm("governance.decide_any_step")

        def decide(access_request: AccessRequest) -> None:
            services.decide_step(
                request=access_request,
                actor=Actor.of_admin(request.user),
                approve=approve,
                comment=comment,
                channel=channels.ADMIN,
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
            explanation="You approve as yourself; it is recorded with your login. Check who asks, for what and why.",
            summaries=self._summaries(request, queryset),
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
            summaries=self._summaries(request, queryset),
        )
        if isinstance(comment, HttpResponse):
            return comment
        self._decide(request, queryset, False, comment)
        return None


class PolicyStepInline(admin.TabularInline):
    model = PolicyStep
    extra = 1
    filter_horizontal = ("approvers",)


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(admin.ModelAdmin):
    list_display = ("name", "scope", "version", "distinct_approvers", "is_active", "updated_at")
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

    list_display = (
        "name",
        "application",
        "role",
        "departments",
        "include_contractors",
        "grant_on_join",
        "version",
        "is_active",
        "updated_at",
    )
    list_filter = ("is_active",)
    list_select_related = ("application", "role__application")
    autocomplete_fields = ("application",)
    raw_id_fields = ("role",)
    readonly_fields = ("version",)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        rule_changed(rule=form.instance, actor=Actor.of_admin(request.user), created=not change)
