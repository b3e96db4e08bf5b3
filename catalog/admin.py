"""Catalog editing for IT: people, applications with their roles, roles with their group mappings."""

from __future__ import annotations

from django.contrib import admin

from catalog.models import Application, GroupMembership, IdpGroup, Person, Role, RoleGroup


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = (
        "email",
        "name",
        "department",
        "title",
        "manager",
        "status",
        "directory_state",
        "status_changed_at",
        "is_contractor",
        "last_login_at",
    )
    list_filter = ("status", "department", "is_contractor")
    search_fields = ("email", "name", "department", "title")
    list_select_related = ("manager",)
    autocomplete_fields = ("manager", "user")
    readonly_fields = ("status_changed_at", "directory_state")


class RoleInline(admin.TabularInline):
    model = Role
    fields = (
        "slug",
        "name",
        "requestable",
        "allowed_durations",
        "default_duration",
        "max_duration",
        "duration_required",
        "break_glass_allowed",
        "mover_policy",
    )
    extra = 0
    show_change_link = True


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "owner", "status", "risk_tier", "provisioning_mode")
    list_filter = ("status", "risk_tier", "provisioning_mode")
    search_fields = ("name", "slug", "owner__email")
    list_select_related = ("owner",)
    prepopulated_fields = {"slug": ("name",)}
    autocomplete_fields = ("owner",)
    inlines = [RoleInline]


class RoleGroupInline(admin.TabularInline):
    model = RoleGroup
    extra = 1
    autocomplete_fields = ("group",)


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "slug",
        "application",
        "requestable",
        "default_duration",
        "max_duration",
        "duration_required",
        "break_glass_allowed",
    )
    list_filter = ("requestable", "application__risk_tier", "application")
    search_fields = ("name", "slug", "application__name")
    list_select_related = ("application",)
    inlines = [RoleGroupInline]


@admin.register(IdpGroup)
class IdpGroupAdmin(admin.ModelAdmin):
    list_display = ("name", "connector", "external_id", "writable")
    list_filter = ("connector", "writable")
    search_fields = ("name", "external_id")
    readonly_fields = ("writable", "not_writable_reason")


@admin.register(GroupMembership)
class GroupMembershipAdmin(admin.ModelAdmin):
    list_display = ("person", "group", "origin", "since")
    list_filter = ("origin", "group__connector")
    search_fields = ("person__email", "group__name")
    list_select_related = ("person", "group")
    readonly_fields = ("person", "group", "origin", "since")

    def has_add_permission(self, request) -> bool:
        return False
