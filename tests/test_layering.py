"""Layering at the data level: provisioning holds no foreign keys into governance, and the
"change settled" port must be bound or start-up fails."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from provisioning.outbox import port


@pytest.mark.parametrize(
    ("app_label", "above"),
    [("catalog", {"provisioning", "governance", "reviews"}), ("provisioning", {"governance", "reviews"})],
)
def test_lower_layers_hold_no_foreign_keys_into_upper_ones(app_label, above):
    for model in apps.get_app_config(app_label).get_models():
        for field in model._meta.get_fields():
            related = getattr(field, "related_model", None)
            if field.concrete and related is not None:
                assert related._meta.app_label not in above, f"{model.__name__}.{field.name} → {related.__name__}"


def test_governance_keeps_the_grant_links(db):
    from governance.models import Grant

    assert Grant._meta.get_field("membership_changes").remote_field.through._meta.app_label == "governance"
    assert Grant._meta.get_field("fulfilment_tasks").remote_field.through._meta.app_label == "governance"


def test_the_port_is_bound_at_start_up():
    assert isinstance(port.bound(), port.SettledListener)
    assert port.check_port_bound() == []
    call_command("check")


def test_start_up_fails_when_nothing_is_bound():
    listener = port.bound()
    port._bound = None
    try:
        [error] = port.check_port_bound()
        assert (error.id, error.level) == ("provisioning.E001", 40)
        with pytest.raises(SystemCheckError, match=r"provisioning\.E001"):
            call_command("check")
    finally:
        port.bind(listener)


def test_only_a_listener_can_be_bound():
    with pytest.raises(TypeError, match="does not implement SettledListener"):
        port.bind(object())
