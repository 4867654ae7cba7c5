"""The bot check's verifiers (:mod:`flask_sms_otp.captcha`) against a local fake of each
provider's verification endpoint (the ``endpoint`` override): exactly what is sent, when a
token passes, and that every failure, the endpoint's own included, refuses without logging
the token or the secret. Then ``SMS_OTP_CAPTCHA``'s parsing, each mistake refused."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flask_sms_otp import ConfigurationError
from flask_sms_otp.captcha import ENDPOINTS, BotCheck
from flask_sms_otp.config_parsers import CaptchaConfig, captcha
from flask_sms_otp.errors import CaptchaFailed
from flask_sms_otp.settings import DEFAULTS, Settings

SITE_KEY = "site-key-0123"
SECRET = "secret-very-private-4567"
TOKEN = "token-from-the-widget-89ab"
IP = "203.0.113.7"
PATH = "/siteverify"
ENTERPRISE_PATH = "/v1/projects/my-project/assessments"
FORM = "application/x-www-form-urlencoded"


def config(provider: str, endpoint: str | None = None, **extra: Any) -> CaptchaConfig:
    value = {"provider": provider, "site_key": SITE_KEY, "secret": SECRET, **extra}
    if endpoint is not None:
        value["endpoint"] = endpoint
    parsed = captcha("SMS_OTP_CAPTCHA", value)
    assert parsed is not None
    return parsed


@pytest.fixture
def checks() -> Iterator[list[BotCheck]]:
    made: list[BotCheck] = []
    yield made
    for check in made:
        check.close()


@pytest.fixture
def make_check(checks: list[BotCheck]) -> Any:
    def make(parsed: CaptchaConfig, **kwargs: Any) -> BotCheck:
        check = BotCheck(parsed, **kwargs)
        checks.append(check)
        return check

    return make


def answer(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status, mimetype="application/json")


def only_request(httpserver: HTTPServer) -> Request:
    assert len(httpserver.log) == 1
    request: Request = httpserver.log[0][0]
    return request


def form_of(request: Request) -> dict[str, list[str]]:
    assert request.method == "POST"
    assert request.mimetype == FORM
    return parse_qs(request.get_data(as_text=True), strict_parsing=True)


# What each verifier sends -------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["turnstile", "recaptcha"])
def test_turnstile_and_recaptcha_post_secret_response_and_remoteip(
    httpserver: HTTPServer, make_check: Any, provider: str
) -> None:
    httpserver.expect_request(PATH, method="POST").respond_with_json({"success": True})
    check = make_check(config(provider, httpserver.url_for(PATH)))
    check.require(TOKEN, IP)
    request = only_request(httpserver)
    assert request.path == PATH
    assert request.query_string == b""
    assert form_of(request) == {"secret": [SECRET], "response": [TOKEN], "remoteip": [IP]}


def test_hcaptcha_also_posts_the_sitekey(httpserver: HTTPServer, make_check: Any) -> None:
    httpserver.expect_request(PATH, method="POST").respond_with_json({"success": True})
    make_check(config("hcaptcha", httpserver.url_for(PATH))).require(TOKEN, IP)
    assert form_of(only_request(httpserver)) == {
        "secret": [SECRET],
        "response": [TOKEN],
        "remoteip": [IP],
        "sitekey": [SITE_KEY],
    }


def test_no_remoteip_is_sent_without_a_client_ip(httpserver: HTTPServer, make_check: Any) -> None:
    httpserver.expect_request(PATH, method="POST").respond_with_json({"success": True})
    make_check(config("turnstile", httpserver.url_for(PATH))).require(TOKEN, None)
    assert form_of(only_request(httpserver)) == {"secret": [SECRET], "response": [TOKEN]}


def test_enterprise_creates_an_assessment_with_the_api_key(
    httpserver: HTTPServer, make_check: Any
) -> None:
    httpserver.expect_request(ENTERPRISE_PATH, method="POST").respond_with_json(
        {"tokenProperties": {"valid": True, "action": "signup"}, "riskAnalysis": {"score": 0.9}}
    )
    parsed = config(
        "recaptcha",
        httpserver.url_for(ENTERPRISE_PATH),
        project_id="my-project",
        action="signup",
    )
    make_check(parsed).require(TOKEN, IP)
    request = only_request(httpserver)
    assert request.method == "POST"
    assert request.path == ENTERPRISE_PATH
    assert request.args.to_dict(flat=False) == {"key": [SECRET]}
    assert request.mimetype == "application/json"
    assert request.get_json() == {
        "event": {
            "token": TOKEN,
            "siteKey": SITE_KEY,
            "expectedAction": "signup",
            "userIpAddress": IP,
        }
    }


def test_enterprise_leaves_out_what_it_does_not_know(
    httpserver: HTTPServer, make_check: Any
) -> None:
    httpserver.expect_request(ENTERPRISE_PATH, method="POST").respond_with_json(
        {"tokenProperties": {"valid": True}, "riskAnalysis": {"score": 0.5}}
    )
    parsed = config("recaptcha", httpserver.url_for(ENTERPRISE_PATH), project_id="my-project")
    make_check(parsed).require(TOKEN, None)
    assert only_request(httpserver).get_json() == {"event": {"token": TOKEN, "siteKey": SITE_KEY}}


@pytest.mark.parametrize(
    ("parsed", "url"),
    [
        (config("turnstile"), "https://challenges.cloudflare.com/turnstile/v0/siteverify"),
        (config("hcaptcha"), "https://api.hcaptcha.com/siteverify"),
        (config("recaptcha"), "https://www.google.com/recaptcha/api/siteverify"),
        (
            config("recaptcha", project_id="my-project"),
            "https://recaptchaenterprise.googleapis.com/v1/projects/my-project/assessments"
            f"?key={SECRET}",
        ),
    ],
    ids=["turnstile", "hcaptcha", "recaptcha", "enterprise"],
)
def test_without_an_endpoint_the_providers_own_url_is_used(
    make_check: Any, parsed: CaptchaConfig, url: str
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "success": True,
                "tokenProperties": {"valid": True},
                "riskAnalysis": {"score": 1.0},
            },
        )

    make_check(parsed, transport=httpx.MockTransport(handler)).require(TOKEN, IP)
    assert [str(request.url) for request in seen] == [url]
    assert set(ENDPOINTS) == {"turnstile", "hcaptcha", "recaptcha"}


# When a token passes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "body", "passes"),
    [
        ({}, {"success": True}, True),
        ({}, {"success": False, "error-codes": ["invalid-input-response"]}, False),
        ({}, {"success": "true"}, False),  # only JSON true is a yes
        ({}, {}, False),
        ({}, {"success": True, "score": 0.5}, True),
        ({}, {"success": True, "score": 0.49}, False),
        ({"min_score": 0.9}, {"success": True, "score": 0.8}, False),
        ({"min_score": 0.0}, {"success": True, "score": 0.0}, True),
        ({}, {"success": True, "score": "0.9"}, False),
        ({"action": "signup"}, {"success": True, "score": 0.9, "action": "signup"}, True),
        ({"action": "signup"}, {"success": True, "score": 0.9, "action": "login"}, False),
        ({"action": "signup"}, {"success": True}, False),
    ],
)
def test_recaptcha_passes_on_success_score_and_action(
    httpserver: HTTPServer, make_check: Any, extra: dict[str, Any], body: Any, passes: bool
) -> None:
    httpserver.expect_request(PATH, method="POST").respond_with_json(body)
    check = make_check(config("recaptcha", httpserver.url_for(PATH), **extra))
    assert check.verify(TOKEN, IP) is passes


@pytest.mark.parametrize("provider", ["turnstile", "hcaptcha"])
@pytest.mark.parametrize(
    ("body", "passes"),
    [
        ({"success": True}, True),
        ({"success": True, "score": 0.0}, True),  # their scores are not ours to judge
        ({"success": False, "error-codes": ["timeout-or-duplicate"]}, False),
        ({"success": None}, False),
    ],
)
def test_turnstile_and_hcaptcha_pass_on_success(
    httpserver: HTTPServer, make_check: Any, provider: str, body: Any, passes: bool
) -> None:
    httpserver.expect_request(PATH, method="POST").respond_with_json(body)
    assert make_check(config(provider, httpserver.url_for(PATH))).verify(TOKEN, IP) is passes


@pytest.mark.parametrize(
    ("extra", "body", "passes"),
    [
        ({}, {"tokenProperties": {"valid": True}, "riskAnalysis": {"score": 0.7}}, True),
        ({}, {"tokenProperties": {"valid": True}, "riskAnalysis": {"score": 0.3}}, False),
        (
            {},
            {"tokenProperties": {"valid": False, "invalidReason": "EXPIRED"}, "riskAnalysis": {}},
            False,
        ),
        ({}, {"tokenProperties": {"valid": "yes"}, "riskAnalysis": {"score": 0.9}}, False),
        ({}, {"tokenProperties": {"valid": True}}, False),  # no score, no pass
        ({}, {"riskAnalysis": {"score": 0.9}}, False),
        (
            {"action": "signup"},
            {"tokenProperties": {"valid": True, "action": "login"}, "riskAnalysis": {"score": 1}},
            False,
        ),
        (
            {"action": "signup"},
            {"tokenProperties": {"valid": True, "action": "signup"}, "riskAnalysis": {"score": 1}},
            True,
        ),
        (
            {"min_score": 0.8},
            {"tokenProperties": {"valid": True}, "riskAnalysis": {"score": 0.7}},
            False,
        ),
    ],
)
def test_enterprise_passes_on_valid_token_action_and_score(
    httpserver: HTTPServer, make_check: Any, extra: dict[str, Any], body: Any, passes: bool
) -> None:
    httpserver.expect_request(ENTERPRISE_PATH, method="POST").respond_with_json(body)
    parsed = config(
        "recaptcha", httpserver.url_for(ENTERPRISE_PATH), project_id="my-project", **extra
    )
    assert make_check(parsed).verify(TOKEN, IP) is passes


# Refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [None, "", 42, b"bytes", ["list"], "x" * 2049],
    ids=["none", "empty", "int", "bytes", "list", "too-long"],
)
def test_a_token_that_cannot_be_one_is_refused_without_asking(
    httpserver: HTTPServer, make_check: Any, token: Any
) -> None:
    check = make_check(config("turnstile", httpserver.url_for(PATH)))
    with pytest.raises(CaptchaFailed) as refused:
        check.require(token, IP)
    assert refused.value.data == {"provider": "turnstile", "site_key": SITE_KEY}
    assert httpserver.log == []


def test_turnstile_tokens_end_at_2048_characters_others_go_further(
    httpserver: HTTPServer, make_check: Any
) -> None:
    httpserver.expect_request(PATH, method="POST").respond_with_json({"success": True})
    assert make_check(config("turnstile", httpserver.url_for(PATH))).verify("t" * 2048, IP)
    # hCaptcha's tokens are seen above 4000 characters.
    assert make_check(config("hcaptcha", httpserver.url_for(PATH))).verify("h" * 5000, IP)
    assert len(httpserver.log) == 2


def ours(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The package's log records (the fake server logs its requests, the key in the URL)."""
    return [record for record in caplog.records if record.name == "flask_sms_otp"]


def slow(request: Request) -> Response:
    time.sleep(1)
    return answer({"success": True})


@pytest.mark.parametrize(
    "failure", ["refused", "non-json", "json-list", "http-500", "http-403-json", "slow"]
)
@pytest.mark.parametrize("enterprise", [False, True], ids=["siteverify", "enterprise"])
def test_an_endpoint_that_fails_refuses_and_says_so_without_secrets(
    httpserver: HTTPServer,
    make_check: Any,
    caplog: pytest.LogCaptureFixture,
    failure: str,
    enterprise: bool,
) -> None:
    caplog.set_level(logging.DEBUG, logger="flask_sms_otp")
    path = ENTERPRISE_PATH if enterprise else PATH
    endpoint = httpserver.url_for(path)
    handled = httpserver.expect_request(path, method="POST")
    if failure == "refused":
        endpoint = "http://127.0.0.1:1" + path  # nothing listens on port 1
    elif failure == "non-json":
        handled.respond_with_data("<html>Bad gateway</html>", content_type="text/html")
    elif failure == "json-list":
        handled.respond_with_json(["success", True])
    elif failure == "http-500":
        handled.respond_with_data("oops", status=500)
    elif failure == "http-403-json":
        handled.respond_with_json({"success": True, "error": {"code": 403}}, status=403)
    else:
        handled.respond_with_handler(slow)
    extra = {"project_id": "my-project"} if enterprise else {}
    check = make_check(config("recaptcha", endpoint, **extra), timeout=0.3)
    with pytest.raises(CaptchaFailed) as refused:
        check.require(TOKEN, IP)
    assert refused.value.data == {"provider": "recaptcha", "site_key": SITE_KEY}
    assert refused.value.__cause__ is None
    assert refused.value.__context__ is None
    records = ours(caplog)
    assert [r.levelno for r in records] == [logging.WARNING]
    assert "the send was refused" in records[0].getMessage()
    assert SECRET not in records[0].getMessage()
    assert TOKEN not in records[0].getMessage()


def test_a_refused_token_is_logged_without_secrets_a_bad_secret_as_a_warning(
    httpserver: HTTPServer, make_check: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="flask_sms_otp")
    httpserver.expect_ordered_request(PATH).respond_with_json(
        {"success": False, "error-codes": ["invalid-input-response"]}
    )
    httpserver.expect_ordered_request(PATH).respond_with_json(
        {"success": False, "error-codes": ["invalid-input-secret"]}
    )
    check = make_check(config("turnstile", httpserver.url_for(PATH)))
    assert not check.verify(TOKEN, IP)
    assert not check.verify(TOKEN, IP)
    levels = [(r.levelno, r.getMessage()) for r in ours(caplog)]
    assert len(levels) == 2
    assert levels[0][0] == logging.INFO
    assert "invalid-input-response" in levels[0][1]
    assert levels[1][0] == logging.WARNING
    assert "check SMS_OTP_CAPTCHA" in levels[1][1]
    assert not [text for _level, text in levels if SECRET in text or TOKEN in text]


# From the settings --------------------------------------------------------------------------


def settings(value: Any) -> Settings:
    return Settings.from_config({**DEFAULTS, "SMS_OTP_CAPTCHA": value})


def test_from_settings_makes_none_when_never_asked() -> None:
    assert BotCheck.from_settings(settings(None)) is None
    never = {"provider": "turnstile", "site_key": SITE_KEY, "secret": SECRET, "when": "never"}
    assert BotCheck.from_settings(settings(never)) is None
    check = BotCheck.from_settings(settings({**never, "when": "guard"}))
    assert check is not None
    assert check.when == "guard"
    check.close()


def test_the_config_reads_json_text_and_keeps_the_secret_out_of_its_repr() -> None:
    parsed = settings(
        json.dumps(
            {
                "provider": "recaptcha",
                "site_key": SITE_KEY,
                "secret": SECRET,
                "min_score": 1,
                "action": "signup",
                "project_id": "my-project",
                "version": 2,
                "endpoint": "https://proxy.example/verify",
            }
        )
    ).captcha
    assert parsed == CaptchaConfig(
        provider="recaptcha",
        site_key=SITE_KEY,
        secret=SECRET,
        when="always",
        endpoint="https://proxy.example/verify",
        min_score=1.0,
        action="signup",
        project_id="my-project",
        version=2,
    )
    assert parsed.enterprise
    assert SECRET not in repr(parsed)
    assert settings(None).captcha is None
    assert settings("").captcha is None


GOOD = {"provider": "turnstile", "site_key": SITE_KEY, "secret": SECRET}
GOOD_RECAPTCHA = {**GOOD, "provider": "recaptcha"}


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("{not json", "not valid JSON"),
        (["turnstile"], "must be None or a dict"),
        (42, "must be None or a dict"),
        ({**GOOD, "provider": "friendlycaptcha"}, "'provider' must be one of"),
        ({"site_key": SITE_KEY, "secret": SECRET}, "'provider' must be one of"),
        ({**GOOD, "provider": None}, "'provider' must be one of"),
        ({"provider": "turnstile", "secret": SECRET}, "'site_key' must be a non-empty string"),
        ({**GOOD, "site_key": ""}, "'site_key' must be a non-empty string"),
        ({**GOOD, "site_key": 123}, "'site_key' must be a non-empty string"),
        ({**GOOD, "site_key": " padded "}, "'site_key' must be a non-empty string"),
        ({"provider": "turnstile", "site_key": SITE_KEY}, "'secret' must be a non-empty string"),
        ({**GOOD, "secret": ""}, "'secret' must be a non-empty string"),
        ({**GOOD, "secret": ["x"]}, "'secret' must be a non-empty string"),
        ({**GOOD, "when": "sometimes"}, "'when' must be one of"),
        ({**GOOD, "when": None}, "'when' must be one of"),
        ({**GOOD, "endpoint": "ftp://example.com/verify"}, "'endpoint' must be an http(s) URL"),
        ({**GOOD, "endpoint": "/siteverify"}, "'endpoint' must be an http(s) URL"),
        ({**GOOD, "endpoint": 8080}, "'endpoint' must be an http(s) URL"),
        ({**GOOD, "endpoint": "http://[::1"}, "'endpoint' must be an http(s) URL"),
        ({**GOOD, "sitekey": SITE_KEY}, "unknown keys for 'turnstile': 'sitekey'"),
        ({**GOOD, "min_score": 0.5}, "unknown keys for 'turnstile': 'min_score'"),
        ({**GOOD, "provider": "hcaptcha", "action": "x"}, "unknown keys for 'hcaptcha'"),
        ({**GOOD_RECAPTCHA, "min_score": 1.5}, "'min_score' must be a number from 0 to 1"),
        ({**GOOD_RECAPTCHA, "min_score": -0.1}, "'min_score' must be a number from 0 to 1"),
        ({**GOOD_RECAPTCHA, "min_score": "0.5"}, "'min_score' must be a number from 0 to 1"),
        ({**GOOD_RECAPTCHA, "min_score": True}, "'min_score' must be a number from 0 to 1"),
        ({**GOOD_RECAPTCHA, "action": ""}, "'action' must be a non-empty string"),
        ({**GOOD_RECAPTCHA, "action": 7}, "'action' must be a non-empty string"),
        ({**GOOD_RECAPTCHA, "project_id": ""}, "'project_id' must be a non-empty string"),
        ({**GOOD_RECAPTCHA, "project_id": "My Project!"}, "not a Google Cloud project id"),
        ({**GOOD_RECAPTCHA, "version": 1}, "'version' must be 2 or 3"),
        ({**GOOD_RECAPTCHA, "version": "3"}, "'version' must be 2 or 3"),
    ],
)
def test_every_mistake_names_the_key_and_hides_the_secret(value: Any, says: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        settings(value)
    assert error.value.key == "SMS_OTP_CAPTCHA"
    assert says in str(error.value)
    assert SECRET not in str(error.value)
