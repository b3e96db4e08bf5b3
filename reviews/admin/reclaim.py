"""Admin for Auto Reclaim."""
