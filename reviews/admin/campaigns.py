"""Admin for review campaigns."""
