"""Reading one YAML mapping field by field, each problem naming the file, the line and the field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from catalog.durations import LONGEST, format_iso_duration, parse_iso_duration
from catalog.models import IdpGroup, Person
from governance.catalog_code.kinds import Problems
from governance.catalog_code.yamlio import Marked, MarkedList
from provisioning.connectors import available

_MISSING = object()


class Directory:
    """The people and groups files may name (loaded once per plan)."""

    def __init__(self) -> None:
        self.emails = {email.lower() for email in Person.objects.values_list("email", flat=True)}
        rows = IdpGroup.objects.values_list("connector", "external_id", "name", "writable")
        self.groups: dict[tuple[str, str], str] = {}
        self.read_only: set[tuple[str, str]] = set()
        for connector, external_id, name, writable in rows:
            self.groups[(connector, external_id)] = name
            if not writable:
                self.read_only.add((connector, external_id))
        self.connectors = set(available()) | {connector for connector, _ in self.groups}


class Reader:
    """Typed access to one mapping of one file; wrong values are reported, defaults returned."""

    def __init__(self, path: str, problems: Problems, directory: Directory, prefix: str = "") -> None:
        self.path = path
        self.problems = problems
        self.directory = directory
        self.prefix = prefix

    def nested(self, prefix: str) -> Reader:
        return Reader(self.path, self.problems, self.directory, prefix)

    def _name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def fail(self, doc: Any, key: str, message: str) -> None:
        line = doc.line_of(key) if isinstance(doc, Marked) else getattr(doc, "line", 1)
        self.problems.add(self.path, line, self._name(key), message)

    def mapping(self, value: Any, line: int, name: str) -> Marked | None:
        if isinstance(value, Marked):
            return value
        self.problems.add(self.path, line, name, "must be a mapping of keys to values.")
        return None

    def entries(self, doc: Marked, key: str, allowed: tuple[str, ...]) -> Iterator[tuple[Reader, Marked]]:
        """Each mapping of the list under `key`, with a reader named after its position (`key[i]`)."""
        value = doc.get(key) or MarkedList()
        if not isinstance(value, MarkedList):
            self.fail(doc, key, "must be a list.")
            return
        for index, item in enumerate(value):
            name = f"{self._name(key)}[{index}]"
            entry = self.mapping(item, value.lines[index], name)
            if entry is not None:
                entry_reader = self.nested(name)
                entry_reader.only(entry, allowed)
                yield entry_reader, entry

    def only(self, doc: Marked, allowed: tuple[str, ...]) -> None:
        for key in doc:
            if key not in allowed:
                self.fail(doc, key, f"unknown field (allowed: {', '.join(allowed)}).")

    def _get(self, doc: Marked, key: str, required: bool) -> Any:
        value = doc.get(key, _MISSING)
        if value is _MISSING and required:
            self.problems.add(self.path, doc.line, self._name(key), "is required.")
        return value

    def text(self, doc: Marked, key: str, *, required: bool = False, max_length: int = 200) -> str:
        value = self._get(doc, key, required)
        if value is _MISSING or (value is None and not required):
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            self.fail(doc, key, "must be text.")
            return ""
        if len(value) > max_length:
            self.fail(doc, key, f"must be at most {max_length} characters.")
        return value

    def slug(self, doc: Marked, key: str) -> str:
        value = self.text(doc, key, required=True, max_length=80)
        if value and (not value.isascii() or not all(char.isalnum() or char in "-_" for char in value)):
            self.fail(doc, key, "must be a slug (letters, digits, - and _).")
        return value

    def boolean(self, doc: Marked, key: str, default: bool | None, *, nullable: bool = False) -> bool | None:
        value = self._get(doc, key, False)
        if value is _MISSING or (value is None and nullable):
            return default if value is _MISSING else None
        if not isinstance(value, bool):
            self.fail(doc, key, "must be true or false" + (" (or null)." if nullable else "."))
            return default
        return value

    def integer(self, doc: Marked, key: str, default: int, *, minimum: int = 1) -> int:
        value = self._get(doc, key, False)
        if value is _MISSING:
            return default
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            self.fail(doc, key, f"must be a whole number of at least {minimum}.")
            return default
        return value

    def choice(self, doc: Marked, key: str, choices: list[str], default: str) -> str:
        value = self._get(doc, key, False)
        if value is _MISSING:
            return default
        if value not in choices:
            self.fail(doc, key, f"must be one of {', '.join(choices)}.")
            return default
        return value

    def duration(self, doc: Marked, key: str) -> str | None:
        value = self._get(doc, key, False)
        if value is _MISSING or value is None:
            return None
        parsed = parse_iso_duration(value) if isinstance(value, str) else None
        if parsed is None or parsed > LONGEST:
            self.fail(doc, key, "must be a positive ISO-8601 duration of at most ten years (e.g. PT6H, P7D).")
            return None
        return format_iso_duration(parsed)

    def texts(self, doc: Marked, key: str, *, required: bool = False) -> list[str]:
        value = self._get(doc, key, required)
        if value is _MISSING or value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
            self.fail(doc, key, "must be a list of text values.")
            return []
        return list(value)

    def durations(self, doc: Marked, key: str) -> list[str]:
        values = self.texts(doc, key)
        for value in values:
            parsed = parse_iso_duration(value)
            if parsed is None or parsed > LONGEST:
                self.fail(doc, key, f"{value!r} is not a positive ISO-8601 duration of at most ten years.")
                return []
        return values

    def person(self, doc: Marked, key: str, *, required: bool = False) -> str | None:
        value = self._get(doc, key, required)
        if value is _MISSING or value is None:
            return None
        if not isinstance(value, str) or value.strip().lower() not in self.directory.emails:
            self.fail(doc, key, f"unknown person {value!r} (name people by their email in the directory).")
            return None
        return value.strip().lower()

    def people(self, doc: Marked, key: str) -> list[str]:
        emails = []
        for email in self.texts(doc, key):
            if email.strip().lower() not in self.directory.emails:
                self.fail(doc, key, f"unknown person {email!r} (name people by their email in the directory).")
            else:
                emails.append(email.strip().lower())
        return sorted(set(emails))

    def groups(self, doc: Marked, key: str) -> list[dict[str, str]]:
        """Groups named by connector and external id; the name is informative (the directory's wins)."""
        value = self._get(doc, key, False)
        if value is _MISSING or value is None:
            return []
        if not isinstance(value, MarkedList):
            self.fail(doc, key, "must be a list of groups (connector, external_id, name).")
            return []
        found: dict[tuple[str, str], dict[str, str]] = {}
        for index, entry in enumerate(value):
            entry_reader = self.nested(f"{self._name(key)}[{index}]")
            group = entry_reader.mapping(entry, value.lines[index], f"{self._name(key)}[{index}]")
            if group is None:
                continue
            entry_reader.only(group, ("connector", "external_id", "name"))
            connector = entry_reader.text(group, "connector", required=True, max_length=40)
            external_id = entry_reader.text(group, "external_id", required=True)
            if not connector or not external_id:
                continue
            if connector not in self.directory.connectors:
                entry_reader.fail(group, "connector", f"unknown connector {connector!r}.")
            elif (connector, external_id) not in self.directory.groups:
                entry_reader.fail(group, "external_id", f"no {connector} group has the id {external_id!r}.")
            else:
                name = self.directory.groups[(connector, external_id)]
                found[(connector, external_id)] = {"connector": connector, "external_id": external_id, "name": name}
        return [found[pair] for pair in sorted(found)]
