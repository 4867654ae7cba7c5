"""The operator's pages (``SMS_OTP_ADMIN``): only the app's admins see them, every action
needs its CSRF token and is audited, filters and cursors are checked, and no credential or
number in clear reaches the browser. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from flask_sms_otp import ProviderRejected, admin_action
from flask_sms_otp.connectors.memory import SentSms
from flask_sms_otp.state import get_state
from flask_sms_otp.testing import fail_next_send

from .helpers import (
    GATEWAYAPI_CONFIG,
    OTHER_PHONE,
    PASSWORD,
    PHONE,
    PLAIN_HTTP,
    PROVIDER_TEMPLATES,
    TWILIO_CONFIG,
    US_PHONE,
    VONAGE_CONFIG,
    ApiClient,
    AppFactory,
    FakeClock,
    add_user,
    csrf_of,
    sign_in_with_password,
)

ADMIN = "/auth/admin"
#: Every admin URL, with the method that reaches it.
ADMIN_URLS = [
    ("GET", "/"),
    ("POST", "/test-send"),
    ("GET", "/deliveries"),
    ("GET", "/conversion"),
    ("POST", "/holds/release"),
    ("GET", "/locks"),
    ("POST", "/locks/unlock"),
    ("POST", "/locks/clear-limits"),
    ("POST", "/locks/number"),
    ("GET", "/audit"),
]
ADMIN_PAGES = [path for method, path in ADMIN_URLS if method == "GET"]


def is_admin(user: Any) -> bool:
    return bool(user.phone == US_PHONE)


@pytest.fixture
def site(make_app: AppFactory, clock: FakeClock, database_uri: str) -> Flask:
    app = make_app(
        clock=clock,
        admin_check=is_admin,
        SMS_OTP_ADMIN=True,
        SQLALCHEMY_DATABASE_URI=database_uri,
        **PLAIN_HTTP,
    )
    add_user(app, US_PHONE)
    add_user(app, OTHER_PHONE)
    return app


@pytest.fixture
def operator(site: Flask) -> FlaskClient:
    client = site.test_client()
    assert sign_in_with_password(client, US_PHONE).status_code == 302
    return client


@pytest.fixture
def actions(site: Flask) -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    def receive(sender: Flask, **extra: Any) -> None:
        seen.append(extra)

    with admin_action.connected_to(receive, site):
        yield seen


def audit_rows(app: Flask) -> list[Any]:
    with app.app_context():
        state = get_state(app)
        Action = state.models.AdminAction
        with state.db.engine.connect() as conn:
            return list(conn.execute(sa.select(Action).order_by(Action.id)).all())


def post_with_token(client: FlaskClient, page: str, to: str, data: dict[str, str]) -> TestResponse:
    shown = client.get(ADMIN + page)
    assert shown.status_code == 200
    return client.post(ADMIN + to, data={"csrf_token": csrf_of(shown.text), **data})


def record(app: Flask, phone: str, *, status: str = "sent", **at: Any) -> None:
    """A delivery record of a code to ``phone``, ``at`` the clock plus ``seconds``."""
    with app.app_context():
        state = get_state(app)
        assert state.delivery.records is not None
        state.delivery.records.record(
            challenge_id=None,
            connector="memory",
            usage="SignIn",
            phone=phone,
            status=status,
            at=state.challenges.clock() + timedelta(seconds=at.get("seconds", 0)),
        )


# Who sees the pages --------------------------------------------------------------------------


def test_anyone_but_an_admin_gets_the_apps_404_on_every_admin_url(site: Flask) -> None:
    anonymous = site.test_client()
    member = site.test_client()
    assert sign_in_with_password(member, OTHER_PHONE).status_code == 302
    nowhere = anonymous.get("/no-such-page")
    assert nowhere.status_code == 404
    for client in (anonymous, member):
        for method, path in ADMIN_URLS:
            # The wrong method too: a 405 would tell the page is there.
            for verb in (method, "PUT", "GET" if method == "POST" else "POST"):
                for data in ({}, {"csrf_token": "forged", "phone": US_PHONE}):
                    answer = client.open(ADMIN + path, method=verb, data=data)
                    assert answer.status_code == 404, (verb, path)
                    assert answer.data == nowhere.data  # the app's own 404, nothing more


def test_no_admin_check_or_no_setting_registers_no_page(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "flask_sms_otp"):
        unchecked = make_app(SMS_OTP_ADMIN=True)
    assert "no @sms_otp.admin_check" in caplog.text
    not_asked = make_app(admin_check=is_admin)
    for app in (unchecked, not_asked):
        assert not [r for r in app.url_map.iter_rules() if r.endpoint.startswith("sms_otp_admin")]
        assert app.test_client().get(ADMIN + "/").status_code == 404


def test_the_check_is_registered_before_init_app(make_app: AppFactory) -> None:
    from flask_sqlalchemy import SQLAlchemy

    from flask_sms_otp import SmsOtp

    app = Flask("late")
    app.config.update(SECRET_KEY="x", SQLALCHEMY_DATABASE_URI="sqlite://")
    extension = SmsOtp(app, db=SQLAlchemy(app))
    with pytest.raises(RuntimeError, match="before init_app"):
        extension.admin_check(is_admin)


def test_an_admin_sees_every_page_never_cached(operator: FlaskClient) -> None:
    for path in ADMIN_PAGES:
        page = operator.get(ADMIN + path)
        assert page.status_code == 200, path
        assert page.headers["Cache-Control"] == "no-store"
        assert 'aria-current="page"' in page.text
    connectors = operator.get(ADMIN + "/").text
    assert "memory" in connectors
    assert "Send a test code" in connectors


def test_pages_in_simplified_chinese(operator: FlaskClient) -> None:
    page = operator.get(ADMIN + "/", headers={"Accept-Language": "zh-CN"})
    assert "连接器" in page.text
    assert "发送测试验证码" in page.text


# Actions: CSRF and the audit trail -----------------------------------------------------------


def test_every_action_needs_its_csrf_token(
    site: Flask, operator: FlaskClient, sms_outbox: list[SentSms], actions: list[Any]
) -> None:
    for method, path in ADMIN_URLS:
        if method == "POST":
            answer = operator.post(ADMIN + path, data={"phone": OTHER_PHONE, "do": "clear"})
            assert answer.status_code == 400, path
    assert sms_outbox == []
    assert audit_rows(site) == []
    assert actions == []


def test_a_test_send_goes_out_and_is_audited(
    site: Flask, operator: FlaskClient, sms_outbox: list[SentSms], actions: list[Any]
) -> None:
    sent = post_with_token(
        operator, "/", "/test-send", {"phone": OTHER_PHONE, "usage": "Generic", "connector": ""}
    )
    assert sent.status_code == 302
    assert [sms.to for sms in sms_outbox] == [OTHER_PHONE]
    page = operator.get(ADMIN + "/").text
    assert "Sent a test code to +********3456 through memory." in page
    (row,) = audit_rows(site)
    assert (row.action, row.target, row.user_id) == ("test_send", "memory", "1")
    assert "+********3456" in row.detail
    assert actions[0]["action"] == "test_send"
    assert actions[0]["user"].phone == US_PHONE
    # A number the policy refuses is said next to the field, and nothing is sent.
    refused = post_with_token(operator, "/", "/test-send", {"phone": "12", "usage": "Generic"})
    assert refused.status_code == 400
    assert "That is not a phone number this app accepts." in refused.text
    assert len(sms_outbox) == 1


def test_a_refused_test_send_says_why_redacted_and_is_audited(
    site: Flask, operator: FlaskClient, sms_outbox: list[SentSms]
) -> None:
    echo = f"number {OTHER_PHONE} is barred"
    with site.app_context():
        fail_next_send(ProviderRejected(echo, connector="memory", provider_code="21610"))
    sent = post_with_token(operator, "/", "/test-send", {"phone": OTHER_PHONE, "usage": "Generic"})
    assert sent.status_code == 302
    page = operator.get(ADMIN + "/").text
    assert "The provider did not accept the message:" in page
    assert "21610" in page
    assert OTHER_PHONE not in page
    assert OTHER_PHONE[1:] not in page
    assert sms_outbox == []
    (row,) = audit_rows(site)
    assert (row.action, row.target) == ("test_send", "route")
    assert row.detail.startswith("failed: ")
    assert OTHER_PHONE[1:] not in row.detail


def test_a_hold_is_shown_and_released(
    site: Flask, operator: FlaskClient, clock: FakeClock, actions: list[Any]
) -> None:
    with site.app_context():
        state = get_state(site)
        with state.db.engine.begin() as conn:
            conn.execute(
                sa.insert(state.models.GuardHold).values(
                    scope="country",
                    key="KZ",
                    country="KZ",
                    label="KZ",
                    sent=40,
                    verified=1,
                    baseline=0.6,
                    held_at=clock(),
                    until=clock() + timedelta(hours=1),
                )
            )
    page = operator.get(ADMIN + "/conversion")
    assert "1/40" in page.text
    released = post_with_token(
        operator, "/conversion", "/holds/release", {"scope": "country", "key": "KZ"}
    )
    assert released.status_code == 302
    assert "Released the hold on KZ." in operator.get(ADMIN + "/conversion").text
    with site.app_context():
        holds = get_state(site).guard
        assert holds is not None
        assert holds.holds(clock()) == []
    (row,) = audit_rows(site)
    assert (row.action, row.target) == ("release_hold", "country KZ")
    assert [a["action"] for a in actions] == ["release_hold"]
    # Released twice: nothing to release, nothing audited.
    again = post_with_token(
        operator, "/conversion", "/holds/release", {"scope": "country", "key": "KZ"}
    )
    assert again.status_code == 302
    assert len(audit_rows(site)) == 1


def test_a_locked_number_is_unlocked_by_its_masked_row(
    site: Flask, operator: FlaskClient, clock: FakeClock
) -> None:
    with site.app_context():
        state = get_state(site)
        with state.db.engine.begin() as conn:
            conn.execute(
                sa.insert(state.models.FailureCounter).values(
                    phone=PHONE,
                    silent=False,
                    failures=0,
                    locked_until=clock() + timedelta(minutes=10),
                    updated_at=clock(),
                )
            )
    page = operator.get(ADMIN + "/locks")
    assert "+*********8000" in page.text
    assert PHONE not in page.text
    assert PHONE[1:] not in page.text
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    assert token is not None
    forged = operator.post(
        ADMIN + "/locks/unlock", data={"csrf_token": csrf_of(page.text), "token": "0" * 32}
    )
    assert forged.status_code == 302
    assert audit_rows(site) == []
    done = operator.post(
        ADMIN + "/locks/unlock", data={"csrf_token": csrf_of(page.text), "token": token[1]}
    )
    assert done.status_code == 302
    assert "No number is locked." in operator.get(ADMIN + "/locks").text
    (row,) = audit_rows(site)
    assert (row.action, row.target) == ("unlock", "+*********8000")


@pytest.mark.real_limits
def test_a_numbers_send_limits_are_looked_up_and_cleared(
    site: Flask, operator: FlaskClient, actions: list[Any]
) -> None:
    with site.app_context():
        limits = get_state(site).limits
        limits.hit_send(OTHER_PHONE, None)  # one a minute: it is at its limit
    looked = post_with_token(operator, "/locks", "/locks/number", {"phone": OTHER_PHONE})
    assert looked.status_code == 200
    assert "+********3456" in looked.text
    assert OTHER_PHONE not in looked.text
    assert re.search(r'class="bad">\s*<td>1 per 1 minute</td><td>send-number</td>', looked.text)
    assert audit_rows(site) == []  # looking is not an action
    cleared = post_with_token(
        operator, "/locks", "/locks/number", {"phone": OTHER_PHONE, "do": "clear"}
    )
    assert "Cleared the lock and send limits of +********3456." in cleared.text
    assert not re.search(r'class="bad">', cleared.text)
    (row,) = audit_rows(site)
    assert (row.action, row.target) == ("clear_limits", "+********3456")
    with site.app_context():
        get_state(site).limits.hit_send(OTHER_PHONE, None)  # not refused any more


@pytest.mark.real_limits
def test_numbers_at_their_send_limits_are_listed_masked_and_cleared(
    site: Flask, operator: FlaskClient, actions: list[Any], sms_outbox: list[SentSms]
) -> None:
    """The limiter cannot list its keys: the page finds the numbers asked for codes lately
    that are at a limit, shows them masked, and clears one by its row's keyed digest."""
    assert ApiClient(site).send_code(OTHER_PHONE, "SignIn").status_code == 202
    page = operator.get(ADMIN + "/locks")  # one a minute: the number is at its limit
    assert "No number is at a send limit." not in page.text
    row = re.search(r'<tr class="bad">\s*<td>(\+\*+3456)</td>\s*<td>([^<]*)</td>', page.text)
    assert row is not None, page.text
    assert "1 per 1 minute (send-number)" in row[2]
    assert OTHER_PHONE not in page.text
    assert OTHER_PHONE[1:] not in page.text
    tokens = re.findall(
        r'action="/auth/admin/locks/clear-limits">.*?name="token" value="([^"]+)"',
        page.text,
        re.S,
    )
    assert len(tokens) == 1
    forged = operator.post(
        ADMIN + "/locks/clear-limits", data={"csrf_token": csrf_of(page.text), "token": "0" * 32}
    )
    assert forged.status_code == 302
    assert audit_rows(site) == []
    assert actions == []
    assert "No number is at a send limit." not in operator.get(ADMIN + "/locks").text
    done = operator.post(
        ADMIN + "/locks/clear-limits", data={"csrf_token": csrf_of(page.text), "token": tokens[0]}
    )
    assert done.status_code == 302
    (audited,) = audit_rows(site)
    assert (audited.action, audited.target) == ("clear_limits", "+********3456")
    assert "No number is at a send limit." in operator.get(ADMIN + "/locks").text
    with site.app_context():
        get_state(site).limits.hit_send(OTHER_PHONE, None)  # not refused any more


# The delivery log ----------------------------------------------------------------------------


def test_the_delivery_log_pages_by_cursor_and_filters(site: Flask, operator: FlaskClient) -> None:
    for n in range(55):
        record(site, PHONE, seconds=n)
    for n in range(3):
        record(site, OTHER_PHONE, status="failed", seconds=100 + n)
    first = operator.get(ADMIN + "/deliveries")
    assert first.status_code == 200
    assert first.text.count("<td>+*********8000</td>") == 47
    assert first.text.count("<td>+********3456</td>") == 3
    assert PHONE not in first.text
    assert OTHER_PHONE not in first.text
    older = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert older is not None
    second = operator.get(older[1].replace("&amp;", "&"))
    assert second.text.count("<td>+*********8000</td>") == 8
    assert 'rel="next"' not in second.text
    gb = operator.get(ADMIN + "/deliveries?country=gb&status=failed&verified=no")
    assert gb.text.count("<td>GB</td>") == 3
    assert "<td>CN</td>" not in gb.text
    nothing = operator.get(ADMIN + "/deliveries?since=2030-01-01")
    assert "No deliveries match." in nothing.text
    # A cursor past any id, or far in time, is a cursor: the page is what comes before it.
    assert operator.get(ADMIN + "/deliveries?after=1.999999999999999999").status_code == 200
    far = operator.get(ADMIN + "/deliveries?after=99999999999999999.9&country=GB")
    assert far.text.count("<td>GB</td>") == 3


@pytest.mark.parametrize(
    "query",
    [
        "after=abc",
        "after=1.",
        "after=999999999999999999.1",
        "after=9999999999999999999.1",
        "after=-5.3",
        "after=1.2%00",
        "country=GBR",
        "country=%E4%B8%AD",
        "status=lost",
        "delivery=somewhere",
        "verified=maybe",
        "since=2026-13-01",
        "until=yesterday",
        "until=9999-12-31",
        "since=0000-01-01",
        "connector=" + "x" * 41,
        "usage=a%20b",
    ],
)
def test_a_forged_cursor_or_filter_is_a_400(operator: FlaskClient, query: str) -> None:
    answer = operator.get(f"{ADMIN}/deliveries?{query}")
    assert answer.status_code == 400
    assert "That filter or page is not one this log offers." in answer.text


def test_conversion_is_charted_and_its_period_checked(site: Flask, operator: FlaskClient) -> None:
    for n in range(4):
        record(site, PHONE, seconds=-n)
    with site.app_context():
        state = get_state(site)
        Record = state.models.DeliveryRecord
        with state.db.engine.begin() as conn:
            first_two = sa.select(Record.id).order_by(Record.id).limit(2).scalar_subquery()
            conn.execute(
                sa.update(Record)
                .where(Record.id.in_(first_two))
                .values(delivery_status="delivered", verified_at=Record.created_at)
            )
    page = operator.get(ADMIN + "/conversion?days=1")
    assert page.status_code == 200
    assert "<svg" in page.text
    assert "<title>Sent: 4</title>" in page.text
    assert "<title>Delivered: 2</title>" in page.text
    assert "<title>Verified: 2</title>" in page.text
    assert '<td class="num">50%</td>' in page.text
    assert operator.get(ADMIN + "/conversion?days=2").status_code == 400
    assert operator.get(ADMIN + "/conversion?days=x").status_code == 400


# No credential reaches the browser -----------------------------------------------------------

USAGES = ("Generic", "SignIn", "Register", "ForgotPassword")
#: Every built-in connector with credentials, each a value no page may show.
CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "twilio": ("twilio", {**TWILIO_CONFIG, "authToken": "S3cret-twilio-token"}),
    "vonage": (
        "vonage",
        {**VONAGE_CONFIG, "apiSecret": "S3cret-vonage", "signatureSecret": "S3cret-vsig"},
    ),
    "gatewayapi": (
        "gatewayapi",
        {**GATEWAYAPI_CONFIG, "apiToken": "S3cret-gw", "webhookSecret": "S3cret-gwhook"},
    ),
    "smsaero": (
        "smsaero",
        {
            "email": "ops@example.com",
            "apiKey": "S3cret-aero",
            "senderName": "Acme",
            "templates": PROVIDER_TEMPLATES,
        },
    ),
    "aliyun": (
        "aliyun",
        {
            "accessKeyId": "id",
            "accessKeySecret": "S3cret-aliyun",
            "signName": "Acme",
            "templates": [{"usageType": u, "templateCode": "SMS_1"} for u in USAGES],
        },
    ),
    "tencent": (
        "tencent",
        {
            "accessKeyId": "id",
            "accessKeySecret": "S3cret-tencent",
            "signName": "Acme",
            "sdkAppId": "1400006666",
            "region": "ap-guangzhou",
            "templates": [{"usageType": u, "templateCode": "1234"} for u in USAGES],
        },
    ),
    # A credential copied into a field that is not secret is hidden there too.
    "hook": (
        "http",
        {
            "endpoint": "https://sms.example/hook?token=S3cret-hook",
            "authorization": "S3cret-hook",
        },
    ),
}


def test_no_secret_value_in_any_admin_response(make_app: AppFactory, database_uri: str) -> None:
    app = make_app(
        admin_check=is_admin,
        SMS_OTP_ADMIN=True,
        SQLALCHEMY_DATABASE_URI=database_uri,
        SMS_OTP_CONNECTORS={
            name: {"connector": kind, "config": config} for name, (kind, config) in CONFIGS.items()
        },
        **PLAIN_HTTP,
    )
    add_user(app, US_PHONE)
    client = app.test_client()
    assert sign_in_with_password(client, US_PHONE, PASSWORD).status_code == 302
    with app.app_context():
        secrets: set[str] = set()
        for entry in get_state(app).delivery.router.named.values():
            connector = entry.connector
            secrets |= {str(connector.config[f]) for f in connector.secret_fields}
            secrets |= set(connector.derived_secrets())
    assert "S3cret-aero" in secrets
    assert len(secrets) >= 10
    encoded = {base64.b64encode(s.encode()).decode() for s in secrets}
    pages = [client.get(ADMIN + path) for path in ADMIN_PAGES]
    assert all(page.status_code == 200 for page in pages)
    connectors = pages[0].text
    for name in CONFIGS:
        assert f"Configuration of {name}" in connectors
    assert "ops@example.com" in connectors  # what is not secret is shown
    assert connectors.count("[redacted]") >= 10
    for page in pages:
        for secret in secrets | encoded:
            assert secret not in page.text, secret
