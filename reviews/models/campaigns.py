"""Review campaigns: models."""
