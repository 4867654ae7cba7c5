"""The console and memory connectors, the registry, how ``init_app`` builds a connector,
and the public HTTP base class."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable
from importlib.metadata import EntryPoint
from typing import Any, ClassVar

import httpx
import pytest

from flask_sms_otp import (
    ConfigurationError,
    DeliveryResult,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    SmsConnector,
    SmsMessage,
)
from flask_sms_otp.connectors import HttpConnector, registry
from flask_sms_otp.connectors.console import ConsoleConnector
from flask_sms_otp.connectors.httpbase import (
    MAX_PROVIDER_TEXT,
    basic_auth,
    retry_after_seconds,
)
from flask_sms_otp.connectors.memory import MemoryConnector
from flask_sms_otp.connectors.webhook import WebhookConnector
from flask_sms_otp.errors import DeliveryError
from flask_sms_otp.state import get_state
from flask_sms_otp.testing import SentSms

from ..helpers import AppFactory

MESSAGE = SmsMessage(to="+8613800138000", usage="SignIn", code="123456", variables={"minutes": 10})


def test_console_prints_a_framed_block() -> None:
    stream = io.StringIO()
    result = ConsoleConnector(stream=stream).send(MESSAGE)
    out = stream.getvalue()
    assert "SMS to +8613800138000 (SignIn)" in out
    assert "Your sign-in verification code is 123456." in out
    assert out.startswith("-" * 72)
    assert result.connector == "console"
    assert result.message_id is not None


def test_console_prints_the_text_the_delivery_rendered() -> None:
    stream = io.StringIO()
    translated = SmsMessage(
        to="+8613800138000", usage="SignIn", code="123456", text="您的登录验证码是 123456。"
    )
    ConsoleConnector(stream=stream).send(translated)
    assert "\n您的登录验证码是 123456。\n" in stream.getvalue()


def test_console_uses_configured_templates() -> None:
    stream = io.StringIO()
    config = {"templates": [{"usageType": "Generic", "content": "Code {{code}}"}]}
    ConsoleConnector(config, stream=stream).send(MESSAGE)
    assert "Code 123456" in stream.getvalue()


def test_console_is_thread_safe() -> None:
    stream = io.StringIO()
    connector = ConsoleConnector(stream=stream)
    threads = [threading.Thread(target=connector.send, args=(MESSAGE,)) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stream.getvalue().count("SMS to") == 20
    assert stream.getvalue().count("-" * 72 + "\n") == 40


def test_memory_outbox_and_failures(sms_outbox: list[SentSms]) -> None:
    connector = MemoryConnector()
    result = connector.send(MESSAGE)
    assert len(sms_outbox) == 1
    sent = sms_outbox[0]
    assert (sent.to, sent.usage, sent.code) == ("+8613800138000", "SignIn", "123456")
    assert "123456" in sent.text
    assert result.message_id == sent.message_id
    connector.fail_next(ProviderRejected("nope", connector="memory"), times=2)
    for _ in range(2):
        with pytest.raises(ProviderRejected):
            connector.send(MESSAGE)
    connector.send(MESSAGE)
    assert len(sms_outbox) == 2


def test_memory_keeps_the_text_the_delivery_rendered(sms_outbox: list[SentSms]) -> None:
    translated = SmsMessage(
        to="+8613800138000", usage="SignIn", code="123456", text="您的登录验证码是 123456。"
    )
    MemoryConnector().send(translated)
    assert sms_outbox[0].text == "您的登录验证码是 123456。"


def test_message_repr_hides_the_code_and_the_text() -> None:
    rendered = SmsMessage(to="+8613800138000", usage="SignIn", code="123456", text="code 123456")
    assert "123456" not in repr(MESSAGE)
    assert "123456" not in repr(rendered)
    assert MESSAGE.payload == {"minutes": 10, "code": "123456"}


# Registry


def test_builtin_names_resolve() -> None:
    assert registry.get_connector_class("console") is ConsoleConnector
    assert registry.get_connector_class("memory") is MemoryConnector


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError) as error:
        registry.get_connector_class("nope")
    assert error.value.key == "SMS_OTP_CONNECTOR"
    assert "console" in str(error.value)


class PigeonConnector(SmsConnector):
    name = "pigeon"

    def send(self, message: SmsMessage) -> DeliveryResult:
        return DeliveryResult(connector=self.name)


def test_third_party_connectors_load_from_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    points = [
        EntryPoint("pigeon", f"{__name__}:PigeonConnector", registry.ENTRY_POINT_GROUP),
        EntryPoint("broken", f"{__name__}:NotThere", registry.ENTRY_POINT_GROUP),
        EntryPoint("wrong", "io:StringIO", registry.ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(registry, "entry_points", lambda group: points)
    assert registry.available_connectors()["pigeon"] == f"{__name__}:PigeonConnector"
    assert registry.get_connector_class("pigeon") is PigeonConnector
    with pytest.raises(ConfigurationError, match="cannot be loaded"):
        registry.get_connector_class("broken")
    with pytest.raises(ConfigurationError, match="not an SmsConnector"):
        registry.get_connector_class("wrong")


def test_builtin_names_resolve_to_their_modules() -> None:
    assert registry.get_connector_class("http") is WebhookConnector  # Logto's name, kept
    assert registry.BUILTIN_CONNECTORS["http"] == (
        "flask_sms_otp.connectors.webhook:WebhookConnector"
    )


# Building the connector at init_app


class Carrier(SmsConnector):
    """A third-party connector as simple as they come: no timeouts, no HTTP."""

    name = "carrier"
    sent: ClassVar[list[SmsMessage]] = []

    def __init__(self, config: Any = None) -> None:  # takes only the config, as before
        super().__init__(config)

    def configure(self, config: Any) -> None:
        self.loft = self.require_str(config, "loft")

    def send(self, message: SmsMessage) -> DeliveryResult:
        self.sent.append(message)
        return DeliveryResult(connector=self.name, message_id=f"{self.loft}-1")


def test_a_connector_without_timeouts_is_built_and_used(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    point = EntryPoint("carrier", f"{__name__}:Carrier", registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [point])
    monkeypatch.setattr(Carrier, "sent", [])
    app = make_app(
        SMS_OTP_CONNECTOR="carrier",
        SMS_OTP_CONNECTOR_CONFIG={"loft": "north"},
        SMS_OTP_HTTP_TIMEOUT=[2, 3],
    )
    connector = get_state(app).connector
    assert type(connector) is Carrier
    assert not hasattr(connector, "connect_timeout")
    result = app.test_cli_runner().invoke(args=["sms-otp", "send-test", "+8613800138000"])
    assert result.exit_code == 0, result.output
    assert "via carrier (message id north-1)" in result.output
    (sent,) = Carrier.sent
    assert (sent.to, sent.usage) == ("+8613800138000", "Generic")
    assert sent.text is not None
    assert sent.code in sent.text  # the built-in text, rendered by the delivery


def test_http_connectors_get_the_configured_timeouts(make_app: AppFactory) -> None:
    app = make_app(
        SMS_OTP_CONNECTOR="http",
        SMS_OTP_CONNECTOR_CONFIG={"endpoint": "https://sms.example/hook"},
        SMS_OTP_HTTP_TIMEOUT=[2, 3],
    )
    connector = get_state(app).connector
    assert isinstance(connector, HttpConnector)
    assert (connector.connect_timeout, connector.read_timeout) == (2.0, 3.0)
    timeout = connector.client.timeout
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (2.0, 3.0, 3.0, 3.0)


def test_the_base_class_takes_no_timeouts() -> None:
    with pytest.raises(TypeError):
        PigeonConnector({}, connect_timeout=1.0)  # type: ignore[call-arg]
    assert not hasattr(MemoryConnector(), "read_timeout")


# The public HTTP base class


class Echo(HttpConnector):
    name = "echo"
    secret_fields = frozenset({"token"})

    def configure(self, config: Any) -> None:
        self.token = self.require_str(config, "token")
        self.origin = self.endpoint_origin(config, "https://sms.example")

    def send(self, message: SmsMessage) -> DeliveryResult:
        response = self.request("POST", f"{self.origin}/send", json={"to": message.to})
        if response.status_code != 200:
            raise self.error_for_status(response, provider_message=response.text or None)
        return DeliveryResult(connector=self.name, message_id=self.json_body(response)["id"])


def echo(handler: Any, **config: Any) -> tuple[Echo, list[float]]:
    sleeps: list[float] = []
    connector = Echo(
        {"token": "s3cret", **config},
        transport=httpx.MockTransport(handler),
        sleep=sleeps.append,
    )
    return connector, sleeps


def test_requests_use_the_configured_origin_and_timeouts() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "m1"})

    connector, _ = echo(handler, endpoint="http://127.0.0.1:8025")
    assert connector.send(MESSAGE).message_id == "m1"
    assert str(seen[0].url) == "http://127.0.0.1:8025/send"
    assert seen[0].extensions["timeout"] == {
        "connect": 5.0,
        "read": 10.0,
        "write": 10.0,
        "pool": 10.0,
    }
    assert "s3cret" not in repr(connector)


@pytest.mark.parametrize("bad", ["ftp://x", "https://x/path", "https://x?q=1", "x.example"])
def test_endpoint_must_be_an_origin(bad: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        echo(lambda r: httpx.Response(200), endpoint=bad)
    assert error.value.key == "SMS_OTP_CONNECTOR_CONFIG.endpoint"


def test_connection_errors_are_retried_then_unavailable() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("refused", request=request)

    connector, sleeps = echo(handler)
    with pytest.raises(ProviderUnavailable) as error:
        connector.send(MESSAGE)
    assert calls == 3
    assert sleeps == [0.25, 0.5]
    assert error.value.retryable
    assert error.value.connector == "echo"


def test_a_read_timeout_is_never_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ReadTimeout("slow", request=request)

    connector, _ = echo(handler)
    with pytest.raises(ProviderUnavailable, match="in time"):
        connector.send(MESSAGE)
    assert calls == 1  # the provider may have accepted it: a retry could send a second SMS


def test_429_with_short_retry_after_is_retried() -> None:
    answers = [
        httpx.Response(429, headers={"Retry-After": "1"}),
        httpx.Response(200, json={"id": "ok"}),
    ]
    connector, sleeps = echo(lambda r: answers.pop(0))
    assert connector.send(MESSAGE).message_id == "ok"
    assert sleeps == [1.0]


def test_429_with_long_retry_after_fails_at_once_as_rate_limited() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(429, headers={"Retry-After": "30"}, text="slow down")

    connector, sleeps = echo(handler)
    with pytest.raises(ProviderRateLimited) as error:
        connector.send(MESSAGE)
    assert calls == 1
    assert sleeps == []
    assert error.value.retry_after == 30.0
    assert error.value.status_code == 429


def test_500_is_not_retried_and_is_unavailable() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(500, text="boom")

    connector, _ = echo(handler)
    with pytest.raises(ProviderUnavailable) as error:
        connector.send(MESSAGE)
    assert calls == 1
    assert error.value.status_code == 500


def test_4xx_is_rejected_with_the_provider_text() -> None:
    connector, _ = echo(lambda r: httpx.Response(400, text="bad number"))
    with pytest.raises(ProviderRejected) as error:
        connector.send(MESSAGE)
    assert error.value.provider_message == "bad number"
    assert "bad number" in error.value.describe()
    assert not error.value.retryable


def test_non_json_success_is_an_error() -> None:
    connector, _ = echo(lambda r: httpx.Response(200, text="<html>"))
    with pytest.raises(ProviderUnavailable, match="not JSON"):
        connector.send(MESSAGE)


def test_retry_after_parsing() -> None:
    def response(value: str) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value})

    assert retry_after_seconds(response("5")) == 5.0
    assert retry_after_seconds(response("garbage")) is None
    assert retry_after_seconds(httpx.Response(429)) is None
    http_date = retry_after_seconds(response("Wed, 21 Oct 2015 07:28:00 GMT"))
    assert http_date == 0.0  # in the past


def test_endpoint_origin_error_shows_only_scheme_host_and_port() -> None:
    bad = "https://alice:pa55word@sms.example:8443/v1?key=tok3n-in-query#anch0r"
    with pytest.raises(ConfigurationError) as error:
        echo(lambda r: httpx.Response(200), endpoint=bad)
    text = str(error.value)
    assert "https://sms.example:8443 " in text
    for leak in ("alice", "pa55word", "/v1", "key", "tok3n-in-query", "anch0r"):
        assert leak not in text
    assert "userinfo, a path, a query, a fragment" in text  # what it had, not the values


def test_endpoint_origin_error_hides_a_value_that_is_not_a_url() -> None:
    with pytest.raises(ConfigurationError) as error:
        echo(lambda r: httpx.Response(200), endpoint="sk-live-pasted-here")
    assert "sk-live-pasted-here" not in str(error.value)


class Hook(HttpConnector):
    name = "hook"

    def configure(self, config: Any) -> None:
        self.url = self.endpoint_url(config, "url")

    def send(self, message: SmsMessage) -> DeliveryResult:
        raise NotImplementedError


@pytest.mark.parametrize(
    ("bad", "shown"),
    [
        ("ftp://user:pa55word@files.example/hook?key=tok3n-in-query", "ftp://files.example"),
        ("tok3n-in-query", "not scheme://host"),
        ("https:///hook?key=tok3n-in-query", "not scheme://host"),
    ],
)
def test_endpoint_url_error_shows_only_scheme_host_and_port(bad: str, shown: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        Hook({"url": bad})
    assert error.value.key == "SMS_OTP_CONNECTOR_CONFIG.url"
    assert shown in str(error.value)
    for leak in ("pa55word", "tok3n-in-query", "/hook"):
        assert leak not in str(error.value)


def test_endpoint_url_keeps_a_valid_url_whole() -> None:
    hook = Hook({"url": "https://user:pw@hooks.example/sms?tenant=a"})
    assert hook.url == "https://user:pw@hooks.example/sms?tenant=a"
    hook.close()


# Provider texts


def test_provider_text_redacts_the_secret_fields_and_derived_secrets() -> None:
    class Derived(Echo):
        def derived_secrets(self) -> Iterable[str]:
            return ("YWJj:s3cret", "s3cret-and-more", "dact", "")

    connector = Derived({"token": "s3cret"})
    assert connector.provider_text("token s3cret refused") == "token [redacted] refused"
    assert connector.provider_text("Basic YWJj:s3cret echoed") == "Basic [redacted] echoed"
    # Percent-encoded, as a form or query echo carries it.
    assert connector.provider_text("auth=YWJj%3As3cret") == "auth=[redacted]"
    # A secret holding another is redacted whole, and no secret matches inside "[redacted]".
    assert connector.provider_text("s3cret-and-more, dact") == "[redacted], [redacted]"
    assert connector.provider_text("x") == "x"
    connector.close()


def test_provider_text_is_one_bounded_line_or_none() -> None:
    connector, _ = echo(lambda r: httpx.Response(200))
    assert connector.provider_text("  bad\n\t number  ") == "bad number"
    assert connector.provider_text(404) == "404"
    # Bounded generously: the delivery cuts it shorter once the code and number are out.
    long = connector.provider_text("x" * 5000)
    assert long is not None
    assert len(long) == MAX_PROVIDER_TEXT == 2000
    for empty in (None, "", " \n "):
        assert connector.provider_text(empty) is None


def test_provider_text_skips_missing_and_non_string_secret_fields() -> None:
    class Three(Echo):
        secret_fields = frozenset({"token", "number", "missing"})

    connector = Three({"token": "s3cret", "number": 42})
    assert connector.provider_text("42 s3cret None") == "42 [redacted] None"
    connector.close()


def test_basic_auth() -> None:
    assert basic_auth("Aladdin", "open sesame") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    assert basic_auth("tok\u00e9n", "") == "Basic dG9rw6luOg=="


# error_for_status


def test_rate_limited_flag_wins_over_the_status() -> None:
    connector, _ = echo(lambda r: httpx.Response(200))
    response = httpx.Response(400, headers={"Retry-After": "12"})
    error = connector.error_for_status(
        response, provider_code="20429", provider_message="Too Many Requests", rate_limited=True
    )
    assert type(error) is ProviderRateLimited
    assert error.retry_after == 12.0
    assert (error.status_code, error.provider_code) == (400, "20429")
    assert str(error) == "rate-limited by the provider: Too Many Requests"
    assert error.retryable


def test_error_for_status_summary() -> None:
    connector, _ = echo(lambda r: httpx.Response(200))
    rejected = connector.error_for_status(
        httpx.Response(200), provider_message="bad number", summary="bad number (RequestId R)"
    )
    assert type(rejected) is ProviderRejected
    assert str(rejected) == "rejected by the provider: bad number (RequestId R)"
    assert rejected.provider_message == "bad number"
    default = connector.error_for_status(httpx.Response(503))
    assert str(default) == "provider error: Service Unavailable"


# request(build=...)


def test_build_makes_fresh_request_arguments_for_every_attempt() -> None:
    bodies: list[bytes] = []
    answers = [httpx.Response(503), httpx.Response(429), httpx.Response(200)]

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return answers.pop(0)

    connector, sleeps = echo(handler)
    built = 0

    def build() -> dict[str, Any]:
        nonlocal built
        built += 1
        return {"content": f"attempt {built}".encode(), "headers": {"X-Attempt": str(built)}}

    response = connector.request("POST", "https://sms.example/send", build=build)
    assert response.status_code == 200
    assert bodies == [b"attempt 1", b"attempt 2", b"attempt 3"]
    assert sleeps == [0.25, 0.5]


def test_build_is_also_called_again_after_a_connection_failure() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["X-Attempt"])
        if len(seen) == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200)

    connector, _ = echo(handler)
    counter = iter(range(1, 10))
    connector.request(
        "GET", "https://sms.example/", build=lambda: {"headers": {"X-Attempt": str(next(counter))}}
    )
    assert seen == ["1", "2"]


def test_build_and_fixed_arguments_do_not_mix() -> None:
    connector, _ = echo(lambda r: httpx.Response(200))
    with pytest.raises(TypeError):
        connector.request("GET", "https://sms.example/", build=dict, headers={"X": "1"})


# DeliveryError.describe


def test_describe_does_not_repeat_the_provider_text() -> None:
    error = ProviderRejected(
        "rejected by the provider: bad number (RequestId R-1)",
        connector="aliyun",
        status_code=200,
        provider_code="isv.MOBILE_NUMBER_ILLEGAL",
        provider_message="bad number",
    )
    assert error.describe() == (
        "aliyun: rejected by the provider: bad number (RequestId R-1); HTTP 200; "
        "provider code isv.MOBILE_NUMBER_ILLEGAL"
    )
    assert error.describe().count("bad number") == 1


def test_describe_adds_a_provider_text_the_message_lacks() -> None:
    error = DeliveryError("rejected by the provider: Bad Request", provider_message="quota")
    assert error.describe() == "connector: rejected by the provider: Bad Request; quota"
    same = DeliveryError("quota", connector="x", provider_message="quota")
    assert same.describe() == "x: quota"
