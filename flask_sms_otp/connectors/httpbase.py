"""The public base class of connectors that speak HTTP: the pooled client, timeouts, safe
retries and the mapping of transport failures and HTTP statuses to typed errors.

A provider module only builds its request and judges its answer. Third-party connectors
subclass :class:`HttpConnector` (importable from ``flask_sms_otp.connectors``); the generic
webhook connector, config name ``http``, is :mod:`flask_sms_otp.connectors.webhook`.

Retries never risk a second SMS: a request is retried only when it cannot have been
accepted (the connection failed before anything was sent), or when the provider said so
explicitly (429, 503) and asked us to wait no longer than :attr:`max_retry_wait`.
A read timeout or a dropped connection after the request went out is never retried.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Collection, Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self
from urllib.parse import urlsplit

import httpx

from ..errors import DeliveryError, ProviderRateLimited, ProviderRejected, ProviderUnavailable
from .base import SmsConnector

if TYPE_CHECKING:
    from ..settings import Settings

USER_AGENT = "flask-sms-otp"
_RETRY_STATUSES = frozenset({429, 503})
#: Longest provider text a connector keeps in an error (``provider_message``). Generous on
#: purpose: the delivery redacts the code and the number, which only it knows, and then cuts
#: to :data:`~flask_sms_otp.redaction.MAX_TEXT`; a shorter cut here could leave part of a
#: code or number where no redaction recognises it.
MAX_PROVIDER_TEXT = 2000


class HttpConnector(SmsConnector):
    """Base class of the connectors that call a provider over HTTP.

    Owns one pooled ``httpx.Client`` per instance, with the app's timeouts
    (``SMS_OTP_HTTP_TIMEOUT``). A subclass builds its request, sends it with
    :meth:`request` (safe retries, typed transport errors) and turns a failed answer into
    an error with :meth:`error_for_status` and :meth:`provider_text`.

    ``transport`` and ``sleep`` are for tests: an ``httpx.MockTransport``, and a function
    that records the waits between retries instead of sleeping.
    """

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
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._sleep = sleep
        super().__init__(config)
        self.client = httpx.Client(
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        )

    @classmethod
    def from_settings(cls, config: Mapping[str, Any], settings: Settings) -> Self:
        """Built with the app's connect and read timeouts (``SMS_OTP_HTTP_TIMEOUT``)."""
        return cls(
            config, connect_timeout=settings.connect_timeout, read_timeout=settings.read_timeout
        )

    def close(self) -> None:
        """Close the pooled connections."""
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
                "must be an origin such as https://host[:port] with no path, "
                f"got {shown_url(value)}",
            )
        return f"{parts.scheme}://{parts.netloc}"

    def endpoint_url(self, config: Mapping[str, Any], field_name: str = "endpoint") -> str:
        """A required full ``http(s)://`` URL field."""
        value = self.require_str(config, field_name)
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self.config_error(field_name, f"must be an http(s) URL, got {shown_url(value)}")
        return value

    def optional_url(self, config: Mapping[str, Any], field_name: str) -> str | None:
        """An optional absolute ``http(s)://`` URL field (such as ``statusCallback``)."""
        value = self.optional_str(config, field_name)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            raise self.config_error(
                field_name, f"must be an absolute http(s) URL, got {shown_url(value)}"
            )
        return value

    # Provider texts --------------------------------------------------------------------

    def provider_text(self, value: Any) -> str | None:
        """A provider's text for an error: one line, bounded, without this connector's
        credentials (see :meth:`~flask_sms_otp.SmsConnector.redactor`). ``None`` when
        nothing is left.

        The code and the number are redacted by the delivery, which knows them, before the
        text is logged, stored or signalled.
        """
        if value is None or value == "":
            return None
        return self.redactor().text(value, MAX_PROVIDER_TEXT)

    # Requests --------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        build: Callable[[], Mapping[str, Any]] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request with safe retries; transport failures become typed errors.

        ``kwargs`` go to ``httpx.Client.request`` unchanged on every attempt. A signed
        request passes ``build`` instead: it is called before each attempt and returns that
        attempt's keyword arguments, so a retry carries a fresh timestamp, nonce and
        signature rather than the bytes signed for the first attempt.
        """
        if build is not None and kwargs:
            raise TypeError("request() takes either build or request keyword arguments")
        retries = 0
        while True:
            attempt = kwargs if build is None else build()
            try:
                response = self.client.request(method, url, **attempt)
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
                # The request may have been read and the SMS sent: its answer is lost.
                raise self.unavailable(
                    f"the provider did not answer in time ({type(exc).__name__})",
                    maybe_sent=True,
                ) from None
            except httpx.HTTPError as exc:
                raise self.unavailable(
                    f"HTTP error talking to the provider ({type(exc).__name__})",
                    maybe_sent=True,
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

    def coded_failure(
        self,
        response: httpx.Response,
        code: str | None,
        text: str | None,
        *,
        unavailable: Collection[str] = (),
        rate_limited: bool = False,
        summary: str | None = None,
    ) -> DeliveryError:
        """The verdict on a provider's own error ``code`` (``text``: its message, already
        redacted): a code in ``unavailable`` is a failure on the provider's side, to try
        again later; any other gets :meth:`error_for_status`'s verdict from the HTTP status
        (a rate limit when ``rate_limited``)."""
        if code in unavailable:
            return self.unavailable(
                f"provider error: {summary or text or code}",
                status_code=response.status_code,
                provider_code=code,
                provider_message=text,
            )
        return self.error_for_status(
            response,
            provider_code=code,
            provider_message=text,
            rate_limited=rate_limited,
            summary=summary,
        )

    def error_for_status(
        self,
        response: httpx.Response,
        *,
        provider_code: str | None = None,
        provider_message: str | None = None,
        rate_limited: bool = False,
        summary: str | None = None,
    ) -> DeliveryError:
        """The typed error for a failed answer: 429 rate-limited, 5xx transient, else rejected.

        ``rate_limited`` makes it a rate limit whatever the status (a provider's own
        "too many" code). ``summary`` is the text after the verdict in the message; by
        default the provider's message, else the reason phrase.
        """
        status = response.status_code
        fields: dict[str, Any] = {
            "connector": self.name,
            "status_code": status,
            "provider_code": provider_code,
            "provider_message": provider_message,
        }
        summary = summary or provider_message or response.reason_phrase or f"HTTP {status}"
        if rate_limited or status == 429:
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
                maybe_sent=True,  # a success we cannot read is still a success
            ) from None


def basic_auth(username: str, password: str) -> str:
    """``Basic base64(user:password)`` over UTF-8, as Node's ``Buffer`` encodes it."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def shown_url(value: str) -> str:
    """What an error may show of a configured URL: ``scheme://host[:port]`` at most.

    Userinfo, path, query and fragment are left out (any of them can carry a token), and
    so is a value with no ``scheme://host``, which may be a secret pasted in the wrong field.
    """
    parts = urlsplit(value)
    host = parts.netloc.rpartition("@")[2]
    if not parts.scheme or not host:
        return "a value that is not scheme://host[:port]"
    left_out = [
        name
        for name, present in (
            ("userinfo", "@" in parts.netloc),
            ("a path", parts.path not in ("", "/")),
            ("a query", parts.query),
            ("a fragment", parts.fragment),
        )
        if present
    ]
    shown = f"{parts.scheme}://{host}"
    return f"{shown} with {', '.join(left_out)} (not shown)" if left_out else shown


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
