"""Shared fixtures: a small company (alice owns, bob is on her team, charlie has no access)."""

from __future__ import annotations

import pytest


@pytest.fixture
def company(db):
    """alice (engineering manager) owns the wiki; bob reports to alice; charlie has no access;
    dana is IT (the fallback approver)."""
    from types import SimpleNamespace

    from tests import company as c

    alice = c.person("alice@example.com", "Alice Owner", department="Engineering", title="Engineering Manager")
    bob = c.person("bob@example.com", "Bob Builder", manager=alice, department="Engineering", title="Engineer")
    charlie = c.person("charlie@example.com", "Charlie Outsider", department="Sales")
    dana = c.person("dana@example.com", "Dana IT", department="IT")
    wiki = c.app("wiki", owner=alice)
    editors = c.group("wiki-editors")
    readers = c.group("wiki-readers")
    editor = c.role(wiki, "editor", editors, readers, durations=["PT6H", "P1D", "P7D"])
    reader = c.role(wiki, "reader", readers)
    default = c.policy("Default", "manager", fallback=[dana])
    return SimpleNamespace(
        alice=alice,
        bob=bob,
        charlie=charlie,
        dana=dana,
        wiki=wiki,
        editors=editors,
        readers=readers,
        editor=editor,
        reader=reader,
        default_policy=default,
    )
