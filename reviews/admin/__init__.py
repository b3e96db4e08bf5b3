"""Admin for reviews, one module per topic."""

from . import campaigns, reclaim  # noqa: F401
