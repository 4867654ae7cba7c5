"""Shared plumbing for connectors that speak HTTP: the pooled client, timeouts, safe
retries and the mapping of transport failures and HTTP statuses to typed errors.

A provider module only builds its request and judges its answer.

Retries never risk a second SMS: a request is retried only when it cannot have been
accepted (the connection failed before anything was sent), or when the provider said so
explicitly (429, 503) and asked us to wait no longer than :attr:`max_retry_wait`.
A read timeout or a dropped connection after the request went out is never retried.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from ..errors import DeliveryError, ProviderRateLimited, ProviderRejected, ProviderUnavailable
from .base import SmsConnector

USER_AGENT = "flask-sms-otp"
_RETRY_STATUSES = frozenset({429, 503})


class HttpConnector(SmsConnector):
    """Base class of the HTTP connectors: owns one pooled ``httpx.Client`` per instance."""

    #: How many times a safe failure is retried (so at most ``max_retries + 1`` requests).
    max_retries: ClassVar[int] = 2
    #: First backoff in seconds, doubled each retry.
    backoff: ClassVar[float] = 0.25
    #: Longest ``Retry-After`` honoured by waiting; longer ones fail at once as rate-limited.
    max_retry_wait: ClassVar[float] = 2.0

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(config, connect_timeout=connect_timeout, read_timeout=read_timeout)
        self._sleep = sleep
        self.client = httpx.Client(
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        )

    def close(self) -> None:
        self.client.close()

    # Config helpers --------------------------------------------------------------------

    def endpoint_origin(self, config: Mapping[str, Any], default: str) -> str:
        """The optional ``endpoint`` as an origin ``scheme://host[:port]``, else ``default``."""
        value = self.optional_str(config, "endpoint")
        if value is None:
            return default
        parts = urlsplit(value)
        if (
            parts.scheme not in ("http", "https")
            or not parts.netloc
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
        ):
            raise self.config_error(
                "endpoint",
                f"must be an origin such as https://host[:port] with no path, got {value!r}",
            )
        return f"{parts.scheme}://{parts.netloc}"

    def endpoint_url(self, config: Mapping[str, Any], field_name: str = "endpoint") -> str:
        """A required full ``http(s)://`` URL field."""
        value = self.require_str(config, field_name)
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self.config_error(field_name, f"must be an http(s) URL, got {value!r}")
        return value

    # Requests --------------------------------------------------------------------------

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send one request with safe retries; transport failures become typed errors."""
        retries = 0
        while True:
            try:
                response = self.client.request(method, url, **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # Nothing reached the provider: safe to try again.
                if retries < self.max_retries:
                    self._sleep(self.backoff * 2**retries)
                    retries += 1
                    continue
                raise self.unavailable(
                    f"cannot connect to the provider ({type(exc).__name__})"
                ) from None
            except httpx.TimeoutException as exc:
                raise self.unavailable(
                    f"the provider did not answer in time ({type(exc).__name__})"
                ) from None
            except httpx.HTTPError as exc:
                raise self.unavailable(
                    f"HTTP error talking to the provider ({type(exc).__name__})"
                ) from None
            if response.status_code in _RETRY_STATUSES and retries < self.max_retries:
                wait = retry_after_seconds(response)
                wait = self.backoff * 2**retries if wait is None else wait
                if wait <= self.max_retry_wait:
                    self._sleep(wait)
                    retries += 1
                    continue
            return response

    def unavailable(self, message: str, **kwargs: Any) -> ProviderUnavailable:
        return ProviderUnavailable(message, connector=self.name, **kwargs)

    def error_for_status(
        self,
        response: httpx.Response,
        *,
        provider_code: str | None = None,
        provider_message: str | None = None,
    ) -> DeliveryError:
        """The typed error for a failed answer: 429 rate-limited, 5xx transient, else rejected."""
        status = response.status_code
        fields: dict[str, Any] = {
            "connector": self.name,
            "status_code": status,
            "provider_code": provider_code,
            "provider_message": provider_message,
        }
        summary = provider_message or response.reason_phrase or f"HTTP {status}"
        if status == 429:
            return ProviderRateLimited(
                f"rate-limited by the provider: {summary}",
                retry_after=retry_after_seconds(response),
                **fields,
            )
        if status >= 500:
            return ProviderUnavailable(f"provider error: {summary}", **fields)
        return ProviderRejected(f"rejected by the provider: {summary}", **fields)

    def json_body(self, response: httpx.Response) -> Any:
        """The JSON body, or a typed error when the provider answered something else."""
        try:
            return response.json()
        except ValueError:
            if response.status_code >= 400:
                raise self.error_for_status(response) from None
            raise ProviderUnavailable(
                "the provider's answer is not JSON",
                connector=self.name,
                status_code=response.status_code,
            ) from None


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds (delta or HTTP date), or ``None`` if absent or unreadable."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
