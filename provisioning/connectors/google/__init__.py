"""The Google Workspace connector (Admin SDK Directory API); see docs/google.md."""
