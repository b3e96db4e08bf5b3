"""Shared helpers below every app: nothing here imports Gatehouse code."""
