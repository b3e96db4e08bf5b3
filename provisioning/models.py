"""How decisions are executed. Each topic package holds its own models; Django finds them here."""

from provisioning.connectors.local.models import LocalMembership
from provisioning.fulfilment.models import FulfilmentTask
from provisioning.outbox.models import MembershipChange, RateBucket
from provisioning.sync.models import SyncCursor, SyncProblem, SyncRun

__all__ = [
    "FulfilmentTask",
    "LocalMembership",
    "MembershipChange",
    "RateBucket",
    "SyncCursor",
    "SyncProblem",
    "SyncRun",
]
