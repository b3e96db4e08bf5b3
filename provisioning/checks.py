"""Start-up checks: every identity-provider connector is either configured or left alone."""

from __future__ import annotations

from django.core import checks

from provisioning.connectors import configured_values, declarations


@checks.register("gatehouse")
def check_connector_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A connector configured only in part is an Error naming what is missing (E001), one configured
    with something unusable names it (E002); unconfigured is fine."""
    errors = []
    for declaration in declarations():
        values = configured_values(declaration)
        status = declaration.status(values)
        if status.configured and declaration.validate is not None:
            errors.extend(
                checks.Error(
                    f"{declaration.label}: {problem}.",
                    hint=f"See {declaration.docs or 'the documentation'}; unset the {declaration.label} variables "
                    "to turn the connector off.",
                    obj=f"connector {declaration.name}",
                    id="provisioning.E002",
                )
                for problem in declaration.validate(values)
            )
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
