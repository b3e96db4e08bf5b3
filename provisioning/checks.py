"""Start-up checks: every identity-provider connector is either configured or left alone."""

from __future__ import annotations

from django.core import checks

from provisioning.connectors import configured_values, declarations


@checks.register("gatehouse")
def check_connector_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A connector configured only in part is an Error naming what is missing; unconfigured is fine."""
    errors = []
    for declaration in declarations():
        values = configured_values(declaration)
        status = declaration.status(values)
        if status.half_configured:
            errors.append(
                checks.Error(
                    declaration.problem(values),
                    hint=f"Set the missing variables, or unset the {declaration.label} ones to leave it off"
                    + (f" (see {declaration.docs})." if declaration.docs else "."),
                    obj=f"connector {declaration.name}",
                    id="provisioning.E001",
                )
            )
    return errors
