"""Notification channels by name. A channel delivers one OutboundMessage row; a new channel is one
class (here, or in a package of its own such as governance/slack/) and one line in CHANNELS."""

from __future__ import annotations

import contextlib
import smtplib
from collections.abc import Callable
from typing import Protocol

from django.core.mail import EmailMessage, get_connection

from governance.notifications.models import OutboundMessage
from lib.errors import DeliveryError


class Channel(Protocol):
    """Made once per batch of rows, closed after it."""

    name: str

    def deliver(self, row: OutboundMessage) -> str:
        """Send `row`; return a short note of what the channel answered; raise DeliveryError."""

    def close(self) -> None: ...


class EmailChannel:
    """Email through Django's mail backend (EMAIL_URL), one connection per batch, with the row's
    stable Message-ID."""

    name = "email"

    def __init__(self) -> None:
        self._connection = None

    def deliver(self, row: OutboundMessage) -> str:
        if self._connection is None:
            self._connection = get_connection(fail_silently=False)
        message = EmailMessage(
            row.subject,
            row.body,
            None,
            [row.recipient],
            connection=self._connection,
            headers={"Message-ID": row.message_id},
        )
        try:
            message.send()
        except smtplib.SMTPResponseException as error:
            self._drop_connection()
            text = (
                error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else error.smtp_error
            )
            raise DeliveryError(
                f"The mail server answered {error.smtp_code} {text}",
                retryable=error.smtp_code < 500,
                status=error.smtp_code,
                provider_message=str(text),
            ) from error
        except smtplib.SMTPRecipientsRefused as error:
            raise DeliveryError(
                f"The mail server refused {row.recipient}: {error.recipients}", retryable=False
            ) from error
        except (TimeoutError, smtplib.SMTPException, OSError) as error:
            self._drop_connection()
            raise DeliveryError(f"Could not reach the mail server: {error!r}", retryable=True) from error
        return "sent"

    def _drop_connection(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None

    def close(self) -> None:
        self._drop_connection()


def _slack_channel() -> Channel:
    from governance.slack.delivery import SlackChannel  # loaded when a batch first needs it

    return SlackChannel()


#: channel name -> how to make one (once per batch)
CHANNELS: dict[str, Callable[[], Channel]] = {
    EmailChannel.name: EmailChannel,
    "slack": _slack_channel,
}


def channel_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in CHANNELS]
