"""The file kinds of catalog-as-code, and the registry apps above governance add theirs to.

A kind owns some files under the directory (e.g. `applications/*.yaml`). It reads the database as
entities (key → plain data, the same shape the files hold), turns entities into files for export,
reads files back into entities (collecting problems), and applies changes to its entities.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from governance.audit.services import Actor

Entity = dict[str, Any]
Entities = dict[str, Entity]


@dataclass(frozen=True)
class Source:
    """Where applied changes came from: the file set's SHA-256 and, optionally, a commit id."""

    files_sha256: str
    commit: str = ""

    def as_data(self) -> dict[str, str]:
        return {"files_sha256": self.files_sha256, "commit": self.commit}


@dataclass(frozen=True)
class Change:
    kind: str
    key: str
    before: Entity | None
    after: Entity | None

    @property
    def action(self) -> str:
        if self.before is None:
            return "add"
        return "remove" if self.after is None else "change"

    def as_data(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "before": self.before, "after": self.after}


@dataclass
class Problems:
    """Validation problems, each naming the file, the line and the field."""

    items: list[str] = field(default_factory=list)

    def add(self, path: str, line: int, field_name: str, message: str) -> None:
        self.items.append(f"{path}:{line}: {field_name}: {message}")

    def __bool__(self) -> bool:
        return bool(self.items)


@dataclass
class Context:
    """What a kind's reader may consult: the database as entities, and what earlier kinds read."""

    current: dict[str, Entities]
    desired: dict[str, Entities]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FileKind:
    name: str
    order: int
    owns: Callable[[str], bool]
    current: Callable[[], Entities]
    files: Callable[[Entities], dict[str, dict[str, Any]]]
    read: Callable[[dict[str, Any], Context, Problems], Entities]
    apply: Callable[[list[Change], Source, Actor], None]
    describe: Callable[[Change], list[str]] = lambda change: []


def describe_fields(change: Change) -> list[str]:
    """One line per changed field of a changed entity (none for additions and removals)."""
    if change.before is None or change.after is None:
        return []
    return [
        f"{name}: {change.before.get(name)!r} ⇒ {value!r}"
        for name, value in change.after.items()
        if change.before.get(name) != value
    ]


_KINDS: dict[str, FileKind] = {}


def register_kind(kind: FileKind) -> None:
    """Add a kind (kinds are read and applied by `order`: the catalog first, then what refers to it)."""
    _KINDS[kind.name] = kind


def kinds() -> list[FileKind]:
    from governance.catalog_code import catalog_files, policy_files  # noqa: F401 — the built-in kinds

    return sorted(_KINDS.values(), key=lambda kind: kind.order)
