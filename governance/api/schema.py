"""OpenAPI: every operation says which token scope it needs (`x-required-scope` and its description)."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema

from governance.api.authentication import required_scope


class ScopedAutoSchema(AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        scope = required_scope(self.view, method)
        if operation is not None and scope:
            operation["x-required-scope"] = str(scope)
            note = f"Needs a token with the scope `{scope}`."
            operation["description"] = f"{operation.get('description', '')}\n\n{note}".strip()
        return operation
