"""Jira Cloud write-back: REST client, ADF rendering, the outbound queue."""
