"""The contract every HTTP connector keeps, run against a local fake of its provider.

As django-anymail's backend tests do, each provider's test module subclasses
:class:`HttpConnectorContract` (and :class:`TemplatesContract` when the connector needs
templates) as ``TestContract`` and fills in only its wire data: its config, the path it
posts to, its accepted answer and its error format. Every test here then runs for that
connector: the send, typed errors and ``retryable`` for 4xx, 5xx, 429, timeouts and
connection failures, no retry once the request may have gone out, redaction of the
credentials, the code and the number in provider texts (security check 36), config
validation naming the bad field, secrets out of ``repr``, ``check()``, ``close()`` and
``flask sms-otp send-test``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flask_sms_otp import (
    ConfigurationError,
    DeliveryError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    SmsMessage,
)
from flask_sms_otp.connectors import HttpConnector

from ..helpers import AppFactory
from .echoes import (
    PARTS,
    assert_accepted_answer_stays_out,
    assert_nothing_leaks,
    echo_of,
    retry_then,
)

ANY_PATH = re.compile(".*")
PHONES = ("+8613800138000", "+12015550123")


class HttpConnectorContract:
    """What every connector built on :class:`HttpConnector` does. Subclasses set the class
    attributes and implement the hooks marked "wire data"."""

    connector_class: ClassVar[type[HttpConnector]]
    #: Where the fake takes a message, and how.
    send_path: ClassVar[str]
    send_method: ClassVar[str] = "POST"
    #: The message id the accepted answer carries (None: the provider gives none).
    message_id: ClassVar[str | None]
    #: The ``provider_code`` of :meth:`refuse`'s answers (None: the format has no code).
    refusal_code: ClassVar[str | None]
    #: Config fields that must be present, non-empty strings.
    required_strings: ClassVar[tuple[str, ...]]
    #: The config field holding the credential a provider may echo.
    secret_field: ClassVar[str]
    #: ``endpoint`` values ``configure`` refuses.
    bad_endpoints: ClassVar[tuple[Any, ...]]
    #: Which parts of the request the echoing fake repeats (see ``echoes.PARTS``): those
    #: that hold the code, the number or a credential on this provider's wire.
    echo_parts: ClassVar[tuple[str, ...]] = PARTS
    #: What ``check()`` says after :meth:`answer_check` (None: the connector has no check).
    check_result: ClassVar[str | None] = None
    #: What an unexpected redirect is: refused, or (a provider whose errors are always
    #: JSON) an answer it does not document.
    redirect_error: ClassVar[type[DeliveryError]] = ProviderRejected
    message: ClassVar[SmsMessage] = SmsMessage(
        to="+8613800138000", usage="SignIn", code="123456", variables={"minutes": 10}
    )

    # Wire data ---------------------------------------------------------------------------

    def config(self, endpoint: str) -> dict[str, Any]:
        """A valid config aimed at ``endpoint`` (what :meth:`endpoint` gives)."""
        raise NotImplementedError

    def endpoint(self, origin: str) -> str:
        """The ``endpoint`` value for a fake at ``origin``: the origin itself by default;
        connectors whose ``endpoint`` is a full URL add the path."""
        return origin

    def accept(self, request: Request) -> Response:
        """The provider's answer to a message it accepted."""
        raise NotImplementedError

    def refuse(self, request: Request, status: int, text: str) -> Response:
        """The provider's error answer with HTTP ``status`` whose own text is ``text``."""
        raise NotImplementedError

    def recipient(self, request: Request) -> str:
        """The number as the request carries it."""
        raise NotImplementedError

    def on_wire(self, phone: str) -> str:
        """How this provider writes the E.164 ``phone`` in its request."""
        return phone.removeprefix("+")

    def assert_sent_code(self, request: Request, phone: str) -> None:
        """What else a send through the app puts on the wire (the rendered text, ...)."""

    def answer_check(self, request: Request) -> Response:
        """The provider's answer to :meth:`check`'s request."""
        raise NotImplementedError

    def retried_form(self, request: Request) -> bytes:
        """What must not change between attempts (signed connectors drop the parts signed
        anew for each attempt)."""
        data: bytes = request.get_data()
        return data

    def derived(self, request: Request) -> Iterable[str]:
        """Secrets made for ``request`` (a signature) that must not leak either."""
        return ()

    def make(self, config: dict[str, Any], **kwargs: Any) -> HttpConnector:
        return self.connector_class(config, **kwargs)

    # Helpers -----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.connector_class.name

    def served_config(self, httpserver: HTTPServer, **overrides: Any) -> dict[str, Any]:
        return {**self.config(self.endpoint(origin_of(httpserver))), **overrides}

    def valid_config(self, **overrides: Any) -> dict[str, Any]:
        return {**self.config(self.endpoint("https://sms.example")), **overrides}

    def expect_send(self, httpserver: HTTPServer) -> Any:
        return httpserver.expect_request(self.send_path, method=self.send_method)

    def refusing(self, status: int, text: str) -> Any:
        return lambda request: self.refuse(request, status, text)

    @pytest.fixture
    def waits(self) -> list[float]:
        return []

    @pytest.fixture
    def connector(self, httpserver: HTTPServer, waits: list[float]) -> Iterator[HttpConnector]:
        made = self.make(self.served_config(httpserver), sleep=waits.append)
        yield made
        made.close()

    def mocked(self, handler: Any, waits: list[float]) -> HttpConnector:
        return self.make(
            self.valid_config(), transport=httpx.MockTransport(handler), sleep=waits.append
        )

    # Sending -----------------------------------------------------------------------------

    def test_sends_one_request_and_returns_the_provider_id(
        self, httpserver: HTTPServer, connector: HttpConnector
    ) -> None:
        self.expect_send(httpserver).respond_with_handler(self.accept)
        result = connector.send(self.message)
        assert (result.connector, result.message_id) == (self.name, self.message_id)
        assert result.status == "accepted"
        assert len(httpserver.log) == 1
        request = httpserver.log[0][0]
        assert self.recipient(request) == self.on_wire(self.message.to)
        assert request.headers["User-Agent"] == "flask-sms-otp"

    def test_a_4xx_refusal_is_rejected_with_the_provider_code_and_text(
        self, httpserver: HTTPServer, connector: HttpConnector
    ) -> None:
        self.expect_send(httpserver).respond_with_handler(self.refusing(400, "bad\n  number"))
        with pytest.raises(ProviderRejected) as info:
            connector.send(self.message)
        error = info.value
        assert (error.connector, error.status_code) == (self.name, 400)
        assert (error.provider_code, error.provider_message) == (self.refusal_code, "bad number")
        assert not error.retryable
        assert "bad number" in error.describe()
        if self.refusal_code is not None:
            assert f"provider code {self.refusal_code}" in error.describe()
        assert len(httpserver.log) == 1

    def test_a_5xx_is_unavailable_and_never_retried(
        self, httpserver: HTTPServer, connector: HttpConnector
    ) -> None:
        self.expect_send(httpserver).respond_with_handler(self.refusing(500, "boom"))
        with pytest.raises(ProviderUnavailable) as info:
            connector.send(self.message)
        assert (info.value.status_code, info.value.provider_message) == (500, "boom")
        assert info.value.provider_code == self.refusal_code
        assert info.value.retryable
        assert len(httpserver.log) == 1  # the provider may have accepted it: never sent twice

    def test_a_429_asking_a_long_wait_is_rate_limited_at_once(
        self, httpserver: HTTPServer, connector: HttpConnector, waits: list[float]
    ) -> None:
        def answer(request: Request) -> Response:
            response = self.refuse(request, 429, "Too many requests")
            response.headers["Retry-After"] = "60"
            return response

        self.expect_send(httpserver).respond_with_handler(answer)
        with pytest.raises(ProviderRateLimited) as info:
            connector.send(self.message)
        error = info.value
        assert (error.status_code, error.retry_after) == (429, 60.0)
        assert error.provider_message == "Too many requests"
        assert error.retryable
        assert (len(httpserver.log), waits) == (1, [])  # over max_retry_wait: not slept through

    def test_a_429_is_retried_with_backoff_then_rate_limited(
        self, httpserver: HTTPServer, connector: HttpConnector, waits: list[float]
    ) -> None:
        self.expect_send(httpserver).respond_with_handler(self.refusing(429, "slow down"))
        with pytest.raises(ProviderRateLimited) as info:
            connector.send(self.message)
        assert info.value.status_code == 429
        assert len(httpserver.log) == 3  # the first try and two safe retries
        assert waits == [0.25, 0.5]
        forms = {self.retried_form(request) for request, _ in httpserver.log}
        assert len(forms) == 1  # the same message each time

    @pytest.mark.parametrize("status", [429, 503])
    def test_a_retry_the_provider_asks_for_then_accepted(
        self, httpserver: HTTPServer, connector: HttpConnector, waits: list[float], status: int
    ) -> None:
        answers = [self.refusing(status, "busy"), self.accept]
        self.expect_send(httpserver).respond_with_handler(lambda r: answers.pop(0)(r))
        assert connector.send(self.message).message_id == self.message_id
        assert len(httpserver.log) == 2
        assert waits == [0.25]

    def test_a_503_every_time_is_unavailable(
        self, httpserver: HTTPServer, connector: HttpConnector
    ) -> None:
        self.expect_send(httpserver).respond_with_data("down", status=503)
        with pytest.raises(ProviderUnavailable) as info:
            connector.send(self.message)
        assert (info.value.status_code, info.value.retryable) == (503, True)
        assert len(httpserver.log) == 3

    def test_a_read_timeout_is_unavailable_and_never_retried(self, waits: list[float]) -> None:
        calls: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            calls.append(request)
            raise httpx.ReadTimeout("slow", request=request)

        connector = self.mocked(handler, waits)
        with pytest.raises(ProviderUnavailable, match="did not answer in time") as info:
            connector.send(self.message)
        assert (info.value.connector, info.value.retryable) == (self.name, True)
        assert len(calls) == 1  # the provider may have accepted it: never sent twice
        connector.close()

    def test_a_connection_failure_is_retried_then_unavailable(self, waits: list[float]) -> None:
        calls: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            calls.append(request)
            raise httpx.ConnectError("refused", request=request)

        connector = self.mocked(handler, waits)
        with pytest.raises(ProviderUnavailable, match="cannot connect") as info:
            connector.send(self.message)
        assert info.value.retryable
        assert (len(calls), waits) == (3, [0.25, 0.5])
        connector.close()

    def test_a_refused_connection_is_unavailable(self) -> None:
        connector = self.make(
            self.config(self.endpoint("http://127.0.0.1:9")), sleep=lambda seconds: None
        )
        with pytest.raises(ProviderUnavailable, match="cannot connect"):
            connector.send(self.message)
        connector.close()

    def test_a_redirect_is_not_followed(
        self, httpserver: HTTPServer, connector: HttpConnector
    ) -> None:
        httpserver.expect_request("/elsewhere").respond_with_handler(self.accept)
        self.expect_send(httpserver).respond_with_data(
            "", status=302, headers={"Location": httpserver.url_for("/elsewhere")}
        )
        with pytest.raises(DeliveryError) as info:
            connector.send(self.message)
        assert type(info.value) is self.redirect_error
        assert info.value.status_code == 302
        assert [request.path for request, _ in httpserver.log] == [self.send_path]

    # Secrets -----------------------------------------------------------------------------

    def test_the_secret_stays_out_of_repr_and_errors(self, httpserver: HTTPServer) -> None:
        secret = "s3cret-7f3a9c2e51"
        connector = self.make(self.served_config(httpserver, **{self.secret_field: secret}))
        assert self.secret_field in self.connector_class.secret_fields
        assert repr(connector) == f"<{self.connector_class.__name__} {self.name!r}>"
        self.expect_send(httpserver).respond_with_handler(
            self.refusing(401, f"unknown key {secret}")
        )
        with pytest.raises(ProviderRejected) as info:
            connector.send(self.message)
        for text in (str(info.value), info.value.describe(), repr(info.value)):
            assert secret not in text
        assert info.value.provider_message == "unknown key [redacted]"
        connector.close()

    def test_config_errors_hide_the_secret(self) -> None:
        secret = "s3cret-7f3a9c2e51"
        other = next(field for field in self.required_strings if field != self.secret_field)
        with pytest.raises(ConfigurationError) as info:
            self.make(self.valid_config(**{self.secret_field: secret, other: ""}))
        assert info.value.key == f"SMS_OTP_CONNECTOR_CONFIG.{other}"
        assert secret not in str(info.value)

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "part" in metafunc.fixturenames:
            metafunc.parametrize("part", self.echo_parts)

    def test_an_answer_repeating_the_request_leaks_nothing(
        self,
        make_app: AppFactory,
        httpserver: HTTPServer,
        caplog: pytest.LogCaptureFixture,
        part: str,
    ) -> None:
        secret = f"{self.name}-secret-4b9e1f27c3"

        def refuse(request: Request) -> Response:
            echo = echo_of(request, part, self.recipient(request))
            return self.refuse(request, 400, f"refused: {echo}")

        self.expect_send(httpserver).respond_with_handler(refuse)
        assert_nothing_leaks(
            make_app,
            httpserver,
            caplog,
            connector=self.name,
            config=self.served_config(httpserver, **{self.secret_field: secret}),
            secrets=[secret],
            kept=["refused:", self.refusal_code or "HTTP 400"],
            derived=self.derived,
        )

    def test_the_accepted_answer_stays_out_of_the_log(
        self, make_app: AppFactory, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        self.expect_send(httpserver).respond_with_handler(retry_then(self.accept))
        assert_accepted_answer_stays_out(
            make_app,
            httpserver,
            caplog,
            connector=self.name,
            config=self.served_config(httpserver),
            message_id=self.message_id,
        )

    # Configuration -----------------------------------------------------------------------

    @pytest.mark.parametrize("bad", [None, "", 42])
    def test_each_required_string_is_named(self, bad: Any) -> None:
        for field in self.required_strings:
            config = self.valid_config()
            if bad is None:
                del config[field]
            else:
                config[field] = bad
            with pytest.raises(ConfigurationError) as info:
                self.make(config)
            assert info.value.key == f"SMS_OTP_CONNECTOR_CONFIG.{field}", field

    def test_each_bad_endpoint_is_refused(self) -> None:
        assert self.bad_endpoints
        for endpoint in self.bad_endpoints:
            with pytest.raises(ConfigurationError) as info:
                self.make(self.valid_config(endpoint=endpoint))
            assert info.value.key == "SMS_OTP_CONNECTOR_CONFIG.endpoint", endpoint

    # check() and close() -----------------------------------------------------------------

    def test_check_sends_no_message(self, httpserver: HTTPServer, connector: HttpConnector) -> None:
        httpserver.expect_request(ANY_PATH).respond_with_handler(self.answer_check)
        assert connector.check() == self.check_result
        sent = [r for r, _ in httpserver.log if (r.path, r.method) == self.send_key()]
        assert sent == []
        assert len(httpserver.log) == (0 if self.check_result is None else 1)

    def send_key(self) -> tuple[str, str]:
        return (self.send_path, self.send_method)

    def test_close_releases_the_pooled_client(self, httpserver: HTTPServer) -> None:
        connector = self.make(self.served_config(httpserver))
        assert not connector.client.is_closed
        connector.close()
        assert connector.client.is_closed
        connector.close()  # closing twice is harmless (init_app's teardown, then the app's)

    # Through the app ---------------------------------------------------------------------

    @pytest.mark.parametrize("phone", PHONES)
    def test_cli_send_test(self, make_app: AppFactory, httpserver: HTTPServer, phone: str) -> None:
        self.expect_send(httpserver).respond_with_handler(self.accept)
        app = make_app(
            SMS_OTP_CONNECTOR=self.name, SMS_OTP_CONNECTOR_CONFIG=self.served_config(httpserver)
        )
        result = app.test_cli_runner().invoke(args=["sms-otp", "send-test", phone])
        assert result.exit_code == 0, result.output
        said = f" (message id {self.message_id})" if self.message_id else ""
        assert result.output.rstrip().endswith(f"via {self.name}{said}")
        assert len(httpserver.log) == 1
        request = httpserver.log[0][0]
        assert self.recipient(request) == self.on_wire(phone)
        self.assert_sent_code(request, phone)

    def test_cli_send_test_failure_names_the_reason(
        self, make_app: AppFactory, httpserver: HTTPServer
    ) -> None:
        secret = "s3cret-7f3a9c2e51"
        self.expect_send(httpserver).respond_with_handler(self.refusing(400, "Recipient opted out"))
        app = make_app(
            SMS_OTP_CONNECTOR=self.name,
            SMS_OTP_CONNECTOR_CONFIG=self.served_config(httpserver, **{self.secret_field: secret}),
        )
        result = app.test_cli_runner().invoke(args=["sms-otp", "send-test", PHONES[0]])
        assert result.exit_code != 0
        assert "Recipient opted out" in result.output
        assert (self.refusal_code or "HTTP 400") in result.output
        assert secret not in result.output
        assert len(httpserver.log) == 1


class TemplatesContract:
    """What every connector that words its messages from Logto templates checks."""

    connector_class: ClassVar[type[HttpConnector]]
    #: The template fields besides ``usageType`` (``content``, or ``templateCode``).
    template_field: ClassVar[str]

    def valid_config(self, **overrides: Any) -> dict[str, Any]:
        raise NotImplementedError

    def make(self, config: dict[str, Any], **kwargs: Any) -> HttpConnector:
        raise NotImplementedError

    def test_templates_are_required(self) -> None:
        config = self.valid_config()
        del config["templates"]
        with pytest.raises(ConfigurationError) as info:
            self.make(config)
        assert info.value.key == "SMS_OTP_CONNECTOR_CONFIG.templates"

    @pytest.mark.parametrize("missing", ["Register", "SignIn", "ForgotPassword", "Generic"])
    def test_each_missing_required_template_is_named(self, missing: str) -> None:
        templates = [t for t in self.valid_config()["templates"] if t["usageType"] != missing]
        with pytest.raises(ConfigurationError, match=missing) as info:
            self.make(self.valid_config(templates=templates))
        assert info.value.key == "SMS_OTP_CONNECTOR_CONFIG.templates"

    def test_a_template_without_its_field_is_named(self) -> None:
        templates = [*self.valid_config()["templates"], {"usageType": "BindMfa"}]
        with pytest.raises(ConfigurationError) as info:
            self.make(self.valid_config(templates=templates))
        index = len(templates) - 1
        assert info.value.key.startswith(
            f"SMS_OTP_CONNECTOR_CONFIG.templates[{index}].{self.template_field}"
        )


def origin_of(httpserver: HTTPServer) -> str:
    return str(httpserver.url_for("/")).rstrip("/")
