"""The Google Workspace connector (Admin SDK Directory API); see docs/google.md."""

from .config import SCOPES, SETTINGS, Setting, configuration_problems, configured
from .connector import GoogleConnector

__all__ = ["SCOPES", "SETTINGS", "GoogleConnector", "Setting", "configuration_problems", "configured"]
