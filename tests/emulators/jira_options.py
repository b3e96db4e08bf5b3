"""Jira Cloud REST v3 field-context options, as the Jira emulator serves them.

`GET/POST/PUT /rest/api/3/field/{fieldId}/context/{contextId}/option` and `PUT …/option/move`:
options carry `id`, `value`, `disabled` and, for a cascading select's child, `optionId` (the
parent's id). GET pages with `startAt`/`maxResults` (at most 100), parents first, then children,
each in display order; values are unique among siblings.
"""

from __future__ import annotations

from typing import Any

from tests.emulators.base import Incoming, Reply, route

OPTIONS = r"/rest/api/3/field/(?P<field>[^/]+)/context/(?P<context>\d+)/option"


def _error(status: int, *messages: str, errors: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"errorMessages": list(messages), "errors": errors or {}})


class FieldOptionsMixin:
    """State: `contexts[(field_id, context_id)]` is the list of options in display order."""

    contexts: dict[tuple[str, str], list[dict[str, Any]]]

    def add_cascading_field(self, field_id: str, context_id: str) -> list[dict[str, Any]]:
        self.contexts[(field_id, str(context_id))] = []
        return self.contexts[(field_id, str(context_id))]

    def field_tree(self, field_id: str, context_id: str, *, enabled_only: bool = True) -> list[tuple[str, list[str]]]:
        """What the request form lists: (parent value, [child values]) in display order."""
        options = self.contexts[(field_id, str(context_id))]
        return [
            (
                parent["value"],
                [c["value"] for c in options if c.get("optionId") == parent["id"] and _shown(c, enabled_only)],
            )
            for parent in options
            if "optionId" not in parent and _shown(parent, enabled_only)
        ]

    def _context(self, incoming: Incoming) -> list[dict[str, Any]] | None:
        return self.contexts.get((incoming.params["field"], incoming.params["context"]))

    @route("GET", OPTIONS)
    def list_options(self, incoming: Incoming) -> Reply:
        options = self._context(incoming)
        if options is None:
            return _error(404, "The custom field was not found.")
        ordered = [o for o in options if "optionId" not in o] + [o for o in options if "optionId" in o]
        if incoming.arg("optionId"):
            ordered = [o for o in ordered if o.get("optionId") == incoming.arg("optionId")]
        if (incoming.arg("onlyOptions") or "").lower() == "true":
            ordered = [o for o in ordered if "optionId" not in o]
        start = int(incoming.arg("startAt", "0") or 0)
        size = min(int(incoming.arg("maxResults", "100") or 100), 100)
        page = ordered[start : start + size]
        return Reply(
            200,
            {
                "maxResults": size,
                "startAt": start,
                "total": len(ordered),
                "isLast": start + size >= len(ordered),
                "values": [dict(o) for o in page],
            },
        )

    @route("POST", OPTIONS)
    def create_options(self, incoming: Incoming) -> Reply:
        options = self._context(incoming)
        if options is None:
            return _error(404, "The custom field was not found.")
        wanted = (self._body(incoming) or {}).get("options")
        if not isinstance(wanted, list) or not wanted:
            return _error(400, "The options must not be empty.")
        created = []
        for entry in wanted:
            value, parent = entry.get("value"), entry.get("optionId")
            if not isinstance(value, str) or not value.strip():
                return _error(400, errors={"value": "The option value must not be empty."})
            if parent is not None and not any(o["id"] == str(parent) and "optionId" not in o for o in options):
                return _error(400, f"The parent option {parent} does not exist.")
            if any(o["value"] == value and o.get("optionId") == (str(parent) if parent else None) for o in options):
                return _error(400, f"The option '{value}' already exists.")
            option = {"id": str(self._new_id()), "value": value, "disabled": bool(entry.get("disabled", False))}
            if parent is not None:
                option["optionId"] = str(parent)
            options.append(option)
            created.append(dict(option))
        return Reply(200, {"options": created})

    @route("PUT", OPTIONS)
    def update_options(self, incoming: Incoming) -> Reply:
        options = self._context(incoming)
        if options is None:
            return _error(404, "The custom field was not found.")
        wanted = (self._body(incoming) or {}).get("options")
        if not isinstance(wanted, list) or not wanted:
            return _error(400, "The options must not be empty.")
        by_id = {o["id"]: o for o in options}
        for entry in wanted:
            option = by_id.get(str(entry.get("id")))
            if option is None:
                return _error(400, f"The option {entry.get('id')} does not exist in this context.")
            value = entry.get("value", option["value"])
            if any(
                o is not option and o["value"] == value and o.get("optionId") == option.get("optionId") for o in options
            ):
                return _error(400, f"The option '{value}' already exists.")
        updated = []
        for entry in wanted:
            option = by_id[str(entry["id"])]
            option["value"] = entry.get("value", option["value"])
            option["disabled"] = bool(entry.get("disabled", option["disabled"]))
            updated.append(dict(option))
        return Reply(200, {"options": updated})

    @route("PUT", OPTIONS + "/move")
    def move_options(self, incoming: Incoming) -> Reply:
        options = self._context(incoming)
        if options is None:
            return _error(404, "The custom field was not found.")
        body = self._body(incoming) or {}
        ids = [str(i) for i in body.get("customFieldOptionIds") or []]
        position, after = body.get("position"), body.get("after")
        by_id = {o["id"]: o for o in options}
        if not ids or any(i not in by_id for i in ids):
            return _error(400, "customFieldOptionIds must name options of this context.")
        if len({by_id[i].get("optionId") is None for i in ids}) > 1:
            return _error(400, "The list must contain custom field options or cascading options, but not both.")
        if (position is None) == (after is None) or (position is not None and position not in ("First", "Last")):
            return _error(400, "Provide either position (First or Last) or after.")
        moving = [by_id[i] for i in ids]
        rest = [o for o in options if o["id"] not in ids]
        if position == "First":
            options[:] = moving + rest
        elif position == "Last":
            options[:] = rest + moving
        else:
            if str(after) not in by_id or str(after) in ids:
                return _error(400, f"The option {after} to move after does not exist.")
            index = next(i for i, o in enumerate(rest) if o["id"] == str(after)) + 1
            options[:] = rest[:index] + moving + rest[index:]
        return Reply(204, None, content_type=None)


def _shown(option: dict[str, Any], enabled_only: bool) -> bool:
    return not (enabled_only and option.get("disabled"))
