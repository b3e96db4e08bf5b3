"""Transport for the Entra connector: Graph's HTTP middleware with a bounded retry handler, error
classification (429/5xx/timeouts retryable) and the app credential built from settings."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from kiota_abstractions.api_error import APIError
from kiota_http.kiota_client_factory import KiotaClientFactory
from kiota_http.middleware import RetryHandler
from kiota_http.middleware.options import RetryHandlerOption
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.graph_request_adapter import options as GRAPH_ADAPTER_OPTIONS
from msgraph_core import GraphClientFactory
from msgraph_core.middleware import GraphTelemetryHandler
from msgraph_core.middleware.options import GraphTelemetryHandlerOption

from lib.http import parse_retry_after
from provisioning.connectors.base import ConnectorError, CursorExpired, PermanentError, RetryableError

#: Graph's answers to a delta link it no longer knows (expired after 7 days, or a tenant reset)
CURSOR_EXPIRED_CODES = {"syncStateNotFound", "syncStateInvalid", "resyncRequired"}


class BoundedRetryHandler(RetryHandler):
    """kiota's retry handler (429/503/504, honouring Retry-After), but never sleeping longer than
    `max_wait` in-process: a longer wait is handed back as a RetryableError so the outbox
    reschedules the change rather than holding a worker (django-q's default task timeout is 120 s)."""

    def __init__(self, options: RetryHandlerOption, max_wait: float) -> None:
        super().__init__(options)
        self.max_wait = max_wait

    def get_delay_time(self, retry_count: int, response: httpx.Response | None = None, delay: float = 3.0) -> float:
        wait = super().get_delay_time(retry_count, response, delay)
        # kiota does not retry when the delay reaches RetryHandlerOption.MAX_DELAY.
        return RetryHandlerOption.MAX_DELAY if wait > self.max_wait else wait


def http_client(*, timeout: float, max_retries: int, max_wait: float) -> httpx.AsyncClient:
    """Graph's default middleware with our timeout and a bounded retry handler."""
    options = dict(GRAPH_ADAPTER_OPTIONS)
    retry_option = RetryHandlerOption(max_retries=max_retries)
    options[RetryHandlerOption.get_key()] = retry_option
    middleware = [
        BoundedRetryHandler(retry_option, max_wait) if isinstance(m, RetryHandler) else m
        for m in KiotaClientFactory.get_default_middleware(options)
    ]
    telemetry = options.get(GraphTelemetryHandlerOption.get_key())
    middleware.append(GraphTelemetryHandler(options=telemetry))
    client = httpx.AsyncClient(timeout=httpx.Timeout(timeout), http2=True)
    return GraphClientFactory.create_with_custom_middleware(middleware, client=client)


def graph_error_parts(error: APIError) -> tuple[str, str]:
    """Graph's error.code and error.message (empty code when the body was not Graph's shape)."""
    if isinstance(error, ODataError) and error.error is not None:
        return error.error.code or "", error.error.message or ""
    return "", error.message or str(error)


def classify(error: Exception, action: str) -> ConnectorError:
    """Turn an SDK/transport exception into our typed error: 429/5xx/timeouts are retryable."""
    if isinstance(error, ConnectorError):  # already ours (e.g. raised while reading a page)
        return error
    if isinstance(error, APIError):
        status = error.response_status_code or 0
        code, message = graph_error_parts(error)
        text = f"Microsoft Graph refused {action}: HTTP {status} {code}: {message}".replace(" : ", ": ")
        if status == 410 or code in CURSOR_EXPIRED_CODES:
            return CursorExpired(text, status=status)
        if status in (408, 429) or status >= 500:
            retry_after = parse_retry_after(error.response_headers, include_reset=False)
            return RetryableError(text, retry_after=retry_after, status=status)
        return PermanentError(text, status=status)
    if isinstance(error, httpx.TimeoutException):
        return RetryableError(f"Microsoft Graph did not answer in time while {action} ({error!r}).")
    if isinstance(error, httpx.TransportError | ServiceRequestError):
        return RetryableError(f"Could not reach Microsoft Graph while {action}: {error}")
    if isinstance(error, ClientAuthenticationError):
        status = getattr(error.response, "status_code", None) or 0
        text = f"Entra ID refused Gatehouse's app credentials while {action}: {error.message}"
        if status == 429 or status >= 500:  # the token endpoint itself is unwell, not our credentials
            return RetryableError(text, status=status)
        return PermanentError(text, status=status or None)
    return RetryableError(f"Unexpected error from the Graph SDK while {action}: {error!r}")


def credential_kind(config: Mapping[str, Any]) -> str | None:
    if config.get("CLIENT_SECRET") or config.get("CLIENT_SECRET_FILE"):
        return "secret"
    if config.get("CLIENT_CERTIFICATE_PATH"):
        return "certificate"
    return None


def credential(config: Mapping[str, Any], kind: str | None) -> Any:
    """The app's credential. Its token requests get the Graph timeout: azure-identity's transport
    would otherwise wait up to 300 s to connect and 300 s to read."""
    from azure.identity.aio import CertificateCredential, ClientSecretCredential

    tenant, client = config["TENANT_ID"], config["CLIENT_ID"]
    timeout = float(config.get("TIMEOUT_SECONDS") or 30.0)
    timeouts = {"connection_timeout": timeout, "read_timeout": timeout}
    if kind == "certificate":
        try:
            return CertificateCredential(
                tenant,
                client,
                certificate_path=config["CLIENT_CERTIFICATE_PATH"],
                password=config.get("CLIENT_CERTIFICATE_PASSWORD") or None,
                **timeouts,
            )
        except (OSError, ValueError) as error:
            raise PermanentError(
                f"ENTRA_CLIENT_CERTIFICATE_PATH {config['CLIENT_CERTIFICATE_PATH']!r} cannot be used: {error}"
            ) from None
    secret = config.get("CLIENT_SECRET") or ""
    if not secret:
        path = Path(config["CLIENT_SECRET_FILE"])
        try:
            secret = path.read_text().strip()
        except OSError as error:
            raise PermanentError(f"Cannot read ENTRA_CLIENT_SECRET_FILE {path}: {error.strerror}.") from error
        if not secret:
            raise PermanentError(f"ENTRA_CLIENT_SECRET_FILE {path} is empty.")
    return ClientSecretCredential(tenant, client, secret, **timeouts)
