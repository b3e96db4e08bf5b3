"""Admin for reviews, one module per topic."""

from reviews.campaigns import admin as campaigns  # noqa: F401
from reviews.campaigns import recurring_admin  # noqa: F401
from reviews.reclaim import admin as reclaim  # noqa: F401
