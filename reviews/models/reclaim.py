"""Auto Reclaim: models."""
