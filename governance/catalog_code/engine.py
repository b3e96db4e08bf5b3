"""Export, plan and apply: the database's catalog and policies against a directory of YAML files.

The plan is the difference between the entities the files describe and those the database holds.
It records the SHA-256 of both sides; apply recomputes them in its transaction and refuses when
either moved, so what is applied is exactly what was reviewed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from governance.audit.services import Actor
from governance.catalog_code import yamlio
from governance.catalog_code.kinds import Change, Context, Entities, Problems, Source, kinds

SUFFIXES = (".yaml", ".yml")


class CatalogCodeError(Exception):
    """Files that do not validate, or a plan that no longer matches; the message says which."""


@dataclass
class Plan:
    files_sha256: str
    database_sha256: str
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_data(self) -> dict[str, Any]:
        return {
            "files_sha256": self.files_sha256,
            "database_sha256": self.database_sha256,
            "changes": [change.as_data() for change in self.changes],
        }


def database_state() -> dict[str, Entities]:
    return {kind.name: kind.current() for kind in kinds()}


def state_sha256(state: dict[str, Entities]) -> str:
    return hashlib.sha256(json.dumps(state, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def export(directory: Path) -> list[Path]:
    """Write every kind's files under `directory`; returns the paths written."""
    written = []
    state = database_state()
    for kind in kinds():
        for relative, document in kind.files(state[kind.name]).items():
            path = directory / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yamlio.dump(document), encoding="utf-8")
            written.append(path)
    return written


def _file_set(directory: Path) -> dict[str, str]:
    if not directory.is_dir():
        raise CatalogCodeError(f"{directory} is not a directory.")
    texts = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.suffix in SUFFIXES:
            texts[path.relative_to(directory).as_posix()] = path.read_text(encoding="utf-8")
    return texts


def files_sha256(texts: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for relative in sorted(texts):
        digest.update(f"{relative}\0{hashlib.sha256(texts[relative].encode()).hexdigest()}\n".encode())
    return digest.hexdigest()


def plan(directory: Path) -> Plan:
    """Validate the files and compute the changes; CatalogCodeError lists every problem."""
    texts = _file_set(directory)
    problems = Problems()
    documents: dict[str, Any] = {}
    for relative, text in texts.items():
        try:
            documents[relative] = yamlio.load(text)
        except yamlio.YamlError as error:
            problems.add(relative, error.line, "(file)", f"not valid YAML: {error}")
    state = database_state()
    context = Context(current=state, desired={})
    owned: set[str] = set()
    for kind in kinds():
        mine = {relative: doc for relative, doc in documents.items() if kind.owns(relative)}
        owned.update(mine)
        context.desired[kind.name] = kind.read(mine, context, problems)
    for relative in sorted(set(texts) - owned):
        problems.add(
            relative, 1, "(file)", "no kind of catalog file lives here (applications/*.yaml, policies/*.yaml)."
        )
    if problems:
        raise CatalogCodeError("\n".join(problems.items))
    result = Plan(files_sha256=files_sha256(texts), database_sha256=state_sha256(state), notes=context.notes)
    for kind in kinds():
        before, after = state[kind.name], context.desired[kind.name]
        for key in [*before, *(key for key in after if key not in before)]:
            if before.get(key) != after.get(key):
                result.changes.append(Change(kind.name, key, before.get(key), after.get(key)))
    return result


def render(result: Plan) -> str:
    """The changes, grouped by kind, as a reviewer reads them."""
    if not result.changes:
        return "No changes: the database matches the files."
    lines = [f"{len(result.changes)} change(s):"]
    describers = {kind.name: kind.describe for kind in kinds()}
    signs = {"add": "+", "change": "~", "remove": "-"}
    for kind_name in dict.fromkeys(change.kind for change in result.changes):
        lines.append(f"\n{kind_name}:")
        for change in (change for change in result.changes if change.kind == kind_name):
            lines.append(f"  {signs[change.action]} {change.key}")
            lines.extend(f"      {line}" for line in describers[kind_name](change))
    return "\n".join(lines)


def write_plan(result: Plan, path: Path) -> None:
    path.write_text(json.dumps(result.as_data(), indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_plan(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CatalogCodeError(f"Cannot read the plan file {path}: {error}.") from error
    if not isinstance(data, dict) or not {"files_sha256", "database_sha256"} <= set(data):
        raise CatalogCodeError(f"{path} is not a plan written by `catalog plan --plan-file`.")
    return data


def apply(directory: Path, *, actor: Actor, pinned: dict[str, Any] | None = None, commit: str = "") -> Plan:
    """Apply the files' plan in one transaction; refuse if the database or the files moved since `pinned`."""
    with transaction.atomic():
        result = plan(directory)
        if pinned is not None:
            if pinned["database_sha256"] != result.database_sha256:
                raise CatalogCodeError(
                    "The database changed since this plan was made; run `catalog plan` again and review the new plan."
                )
            if pinned["files_sha256"] != result.files_sha256:
                raise CatalogCodeError("The files changed since this plan was made; run `catalog plan` again.")
        source = Source(files_sha256=result.files_sha256, commit=commit)
        appliers = {kind.name: kind.apply for kind in kinds()}
        for kind_name in dict.fromkeys(change.kind for change in result.changes):
            appliers[kind_name]([change for change in result.changes if change.kind == kind_name], source, actor)
    return result
