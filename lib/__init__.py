"""Shared helpers below every app: the durable outbox engine, typed delivery errors, Retry-After
parsing, a timed HTTP session, spreadsheet formula safety. Nothing here imports Gatehouse code."""
