"""The Slack app: approver DMs with Approve / Deny, `/access` requests, and notices, all delivered
through the notification outbox; inbound requests verified and acknowledged by slack-bolt."""
