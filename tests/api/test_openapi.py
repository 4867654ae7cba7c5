"""The OpenAPI document against the code: every route, error code and status in both, and
Schemathesis fuzzing the API through it (anonymous, signed in and recently verified), with
checks that every answer is documented: status, body schema, content type, headers."""

from __future__ import annotations

import ast
import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.exceptions import HTTPException

from flask_sms_otp import errors, flows, openapi
from flask_sms_otp.api import RECEIPT_ENDPOINT, UNROUTED_ENDPOINT, CsrfFailed, api_blueprint
from flask_sms_otp.openapi import ERROR_CODES
from flask_sms_otp.settings import DEFAULTS, Settings

from ..helpers import (
    API,
    PHONE,
    AppFactory,
    FakeClock,
    SessionCookie,
    create_user,
    verified_session_cookie,
)

DOCS = Path(__file__).resolve().parents[2] / "docs"

#: The fuzzed app: no CSRF (tested on its own below), the relaxed limits of every test app
#: (the fuzzer cannot reach them in one run), and a 500 answered (so the server-error check
#: sees it).
FUZZ_CONFIG: dict[str, Any] = {
    "SMS_OTP_SECURE_COOKIES": False,
    "WTF_CSRF_ENABLED": False,
    "PROPAGATE_EXCEPTIONS": False,
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
#: Bounded and reproducible: the same examples on every run.
FUZZ = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def document(app: Flask) -> dict[str, Any]:
    response = app.test_client().get(f"{API}/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body, dict)
    return body


# The document against the code ------------------------------------------------------------------


def api_routes(app: Flask) -> set[tuple[str, str]]:
    """(method, path) of every route of the API blueprint, paths in OpenAPI's ``{name}`` form."""
    found = set()
    for rule in app.url_map.iter_rules():
        # Delivery receipts are posted by SMS providers, not clients: docs/receipts.md is
        # their contract, and tests/test_receipts.py posts hostile bodies at them.
        # The catch-all that answers unserved URLs with a JSON 404 or 405 serves nothing.
        if rule.endpoint in (RECEIPT_ENDPOINT, UNROUTED_ENDPOINT):
            continue
        if rule.endpoint.startswith(f"{api_blueprint.name}."):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            for method in rule.methods or ():
                if method not in ("HEAD", "OPTIONS"):
                    found.add((method, path))
    return found


def documented_routes(doc: dict[str, Any]) -> set[tuple[str, str]]:
    root = doc["servers"][0]["url"]
    methods = {"get", "put", "post", "delete", "patch"}
    return {
        (method.upper(), root + path)
        for path, item in doc["paths"].items()
        for method in item
        if method in methods
    }


@pytest.mark.parametrize("prefix", ["/auth", "/accounts/login"])
def test_every_route_is_documented_and_every_documented_route_exists(
    make_app: AppFactory, prefix: str
) -> None:
    app = make_app(SMS_OTP_URL_PREFIX=prefix)
    doc = app.test_client().get(f"{prefix}/api/openapi.json").get_json()
    assert doc["servers"] == [{"url": f"{prefix}/api"}]
    assert documented_routes(doc) == api_routes(app)


def test_the_docs_show_what_an_app_with_the_default_settings_serves(
    make_app: AppFactory,
) -> None:
    """docs/conf.py writes ``document(Settings.from_config(DEFAULTS))`` for json-api.md."""
    assert document(make_app()) == json.loads(
        json.dumps(openapi.document(Settings.from_config(DEFAULTS)))
    )
    assert "```{literalinclude} _generated/openapi.json" in (DOCS / "json-api.md").read_text()


def test_the_document_follows_the_app_settings(make_app: AppFactory) -> None:
    app = make_app(
        SMS_OTP_CODE_LENGTH=8,
        SMS_OTP_PASSWORD_MIN_LENGTH=12,
        SMS_OTP_PASSWORD_REQUIRED=True,
        SESSION_COOKIE_NAME="site",
    )
    doc = document(app)
    schemas = doc["components"]["schemas"]
    assert schemas["Code"]["pattern"] == "^[0-9]{8}$"
    assert schemas["NewPassword"]["minLength"] == 12
    sign_up = doc["paths"]["/sign-up"]["post"]["requestBody"]["content"]["application/json"]
    assert "password" in sign_up["schema"]["required"]
    assert doc["components"]["securitySchemes"]["session"]["name"] == "site"
    without_csrf = document(make_app(WTF_CSRF_ENABLED=False))
    assert "csrfToken" not in without_csrf["components"]["securitySchemes"]
    assert "csrf_failed" not in str(without_csrf["paths"])


def test_the_document_is_valid_openapi_3_1(make_app: AppFactory) -> None:
    app = make_app()
    schema = schemathesis.openapi.from_wsgi(f"{API}/openapi.json", app)
    schema.validate()
    broken = document(app)
    broken["paths"]["/csrf"]["get"]["responses"] = "none"
    with pytest.raises(Exception, match="responses"):
        schemathesis.openapi.from_dict(broken).validate()


def http_error_codes() -> dict[str, int]:
    """``error_code`` → status of every HTTP-facing error: the classes of errors.py and api.py,
    and the codes ``ActionNotAllowed`` is raised with (in flows.py)."""
    found: dict[str, int] = {}
    for module in (errors, inspect.getmodule(CsrfFailed)):
        for cls in vars(module).values():
            if isinstance(cls, type) and issubclass(cls, HTTPException):
                code = cls.__dict__.get("error_code") or getattr(cls, "error_code", None)
                if isinstance(code, str):
                    assert cls.code is not None
                    found[code] = cls.code
    for node in ast.walk(ast.parse(inspect.getsource(flows))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == errors.ActionNotAllowed.__name__
        ):
            first = node.args[0]
            assert isinstance(first, ast.Constant)
            found[str(first.value)] = errors.ActionNotAllowed.code
    return found


def test_every_error_code_is_documented_with_its_status(make_app: AppFactory) -> None:
    raised = http_error_codes()
    assert {code: status for code, (status, _) in ERROR_CODES.items()} == raised
    doc = document(make_app())
    assert doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"][
        "enum"
    ] == sorted(raised, key=list(ERROR_CODES).index)
    # Every code is answered by some operation, under its own status.
    answered: dict[str, set[str]] = {}
    for item in doc["paths"].values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for status, answer in operation["responses"].items():
                schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
                for part in schema.get("allOf", []):
                    codes = part.get("properties", {}).get("error", {}).get("properties", {})
                    for code in codes.get("code", {}).get("enum", []):
                        answered.setdefault(code, set()).add(status)
    assert answered == {code: {str(status)} for code, status in raised.items()}


def test_the_docs_error_table_matches_the_document() -> None:
    text = (DOCS / "json-api.md").read_text()
    table = text.split("## Error codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d{3}) \| (.+?) \|", table, re.MULTILINE)
    documented = {
        code: int(status) for status, codes in rows for code in re.findall(r"`([a-z_]+)`", codes)
    }
    assert documented == {code: status for code, (status, _) in ERROR_CODES.items()}


# Fuzzing ------------------------------------------------------------------------------------


@pytest.fixture
def fuzz_app(make_app: AppFactory, clock: FakeClock) -> Flask:
    app = make_app(clock=clock, **FUZZ_CONFIG)
    create_user(app, PHONE)
    return app


@pytest.fixture
def verified_session(fuzz_app: Flask) -> SessionCookie:
    return verified_session_cookie(fuzz_app)


#: The document the fuzzed app serves (checked below), built without it: Schemathesis makes
#: one test per operation when the module is collected.
FUZZED_DOCUMENT = openapi.document(Settings.from_config({**DEFAULTS, **FUZZ_CONFIG}), csrf=False)
fuzzed = schemathesis.openapi.from_dict(FUZZED_DOCUMENT)


def test_the_fuzzed_document_is_the_one_the_fuzzed_app_serves(fuzz_app: Flask) -> None:
    assert document(fuzz_app) == json.loads(json.dumps(FUZZED_DOCUMENT))


@fuzzed.parametrize()
@FUZZ
def test_the_api_answers_anonymous_clients_as_documented(
    case: schemathesis.Case[Any], fuzz_app: Flask
) -> None:
    case.call_and_validate(checks=CHECKS, app=fuzz_app)


@fuzzed.parametrize()
@FUZZ
def test_the_api_answers_a_verified_session_as_documented(
    case: schemathesis.Case[Any], fuzz_app: Flask, verified_session: SessionCookie
) -> None:
    case.call_and_validate(checks=CHECKS, app=fuzz_app, cookies=verified_session())
