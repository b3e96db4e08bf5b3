"""Signed-link tokens never reach a log: one redaction for the access log and Django's own loggers.

gunicorn: `--logger-class accounts.access_log.RedactingGunicornLogger` (run.sh sets it).
Django: the `RedactLinkTokens` filter on the console handler (4xx/5xx lines name the path).
"""

from __future__ import annotations

import logging
import re

from gunicorn.glogging import Logger

# /approvals/<token>/ and /reviews/link/<token>/; the token-less /approvals/step/<id>/ is kept.
LINK_TOKEN = re.compile(r"(/approvals/(?!step/)|/reviews/link/)[^/?#\s\"]+")


def redact(text: str) -> str:
    return LINK_TOKEN.sub(r"\1[redacted]", text)


class RedactLinkTokens(logging.Filter):
    """Rewrites a record's message and arguments with link tokens redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(str(record.msg))
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


class RedactingGunicornLogger(Logger):
    """gunicorn's logger with every access-log atom (request line, path, referrer, environ) redacted."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {name: redact(value) if isinstance(value, str) else value for name, value in atoms.items()}
