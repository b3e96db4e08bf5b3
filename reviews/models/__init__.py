"""Review campaigns (campaigns.py) and Auto Reclaim (reclaim.py)."""

from .campaigns import *  # noqa: F403
from .reclaim import *  # noqa: F403
