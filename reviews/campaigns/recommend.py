"""Recommendations: revoke when something about the access looks wrong, keep otherwise, always with the reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Facts:
    """What the snapshot knows about one item."""

    in_directory: bool
    status: str
    last_login_at: datetime | None
    granted_through_gatehouse: bool
    department: str
    department_at_grant: str


def recommend(facts: Facts, *, now: datetime, inactivity_days: int) -> tuple[str, str]:
    """("keep" | "revoke", the reason a reviewer reads). Every rule that fires is named."""
    reasons: list[str] = []
    if not facts.in_directory:
        reasons.append("not in the directory")
    elif facts.status in ("deprovisioned", "suspended"):
        reasons.append(f"person is {facts.status}")
    if facts.last_login_at is None:
        reasons.append("last login unknown")
    elif now - facts.last_login_at > timedelta(days=inactivity_days):
        days = (now - facts.last_login_at).days
        reasons.append(f"no login for {days} days (threshold {inactivity_days})")
    if not facts.granted_through_gatehouse:
        reasons.append("access never granted through Gatehouse")
    if (
        facts.department_at_grant
        and facts.department
        and facts.department_at_grant.strip().lower() != facts.department.strip().lower()
    ):
        reasons.append(f"changed department since the grant ({facts.department_at_grant} → {facts.department})")
    if reasons:
        return "revoke", "Revoke: " + "; ".join(reasons) + "."
    return "keep", "Keep: active, recent login, granted through Gatehouse, same department."
