"""Review campaigns (campaigns.py) and Auto Reclaim (reclaim.py)."""

from reviews.campaigns.models import *  # noqa: F403
from reviews.reclaim.models import *  # noqa: F403
