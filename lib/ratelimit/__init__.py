"""A rate budget per provider bucket, shared by every worker (see budget.py)."""
