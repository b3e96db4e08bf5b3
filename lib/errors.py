"""One error type for every outbound delivery (identity providers, Jira, mail, chat)."""

from __future__ import annotations


class DeliveryError(Exception):
    """A call to a provider failed.

    `retryable` errors (429, 5xx, timeouts, connection errors) may succeed later, after at least
    `retry_after` seconds when the provider said so; `status` is the HTTP (or SMTP) status when
    there was one, and `provider_message` what the provider itself said.
    """

    retryable: bool = False
    #: what a permanent failure's last error ends with
    permanent_note = "permanent: not retried"

    def __init__(
        self,
        message: str,
        *,
        retryable: bool | None = None,
        retry_after: float | None = None,
        status: int | None = None,
        provider_message: str = "",
        throttled: bool | None = None,
    ):
        super().__init__(message)
        self.message = message
        if retryable is not None:
            self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        self.provider_message = provider_message
        self._throttled = throttled

    @property
    def throttled(self) -> bool:
        """The provider refused the call for its rate limit (429, or its own way of saying so):
        the call did not run, and waiting its `retry_after` is all that is needed."""
        return self.status == 429 if self._throttled is None else self._throttled

    @property
    def may_have_applied(self) -> bool:
        """A throttled call (429) was refused before it ran; a timeout or a 5xx may have been applied."""
        return not self.throttled

    def __str__(self) -> str:
        return self.message
