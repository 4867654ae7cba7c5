"""Delivery receipts over HTTP: a code goes out through the provider's connector to a local
fake of its API, then the provider's receipt is posted to ``/auth/api/receipts/default``
through the Flask test client, on SQLite and PostgreSQL.

Every signature here is made by hand, in this file, from the provider's documented scheme
(never by the product's functions): Twilio's ``X-Twilio-Signature`` (HMAC-SHA1 of the URL
and the sorted parameters), Vonage's ``sig`` (MD5 of the sorted ``&name=value`` string and
the secret, or its HMAC-SHA256), and GatewayAPI's HS256 JSON Web Token. The schemes
themselves are checked against published vectors in tests/connectors/test_receipts.py.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import itertools
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_wtf import CSRFProtect
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flask_sms_otp import Usage, delivery_status
from flask_sms_otp.state import get_state

from .helpers import (
    GATEWAYAPI_CONFIG,
    PHONE,
    TWILIO_CONFIG,
    VONAGE_CONFIG,
    AppFactory,
    FakeClock,
)

RECEIPTS = "/auth/api/receipts/default"
#: The URL as the test client's requests reach the app (what Twilio would have signed).
RECEIPTS_URL = f"http://localhost{RECEIPTS}"
CODE = "246810"


@dataclass(frozen=True)
class Post:
    """One receipt post: its raw body, content type and headers."""

    body: bytes
    content_type: str
    headers: dict[str, str]


class Provider:
    """One provider's wire data: its config, its fake API, and its receipts signed by hand."""

    name: ClassVar[str]
    connector: ClassVar[str]
    send_path: ClassVar[str]
    #: The provider's words for: on the way (and what we make of it), delivered, failed.
    interim: ClassVar[tuple[str, str]]
    delivered: ClassVar[str]
    failure: ClassVar[tuple[str, str, str]]  # provider's word, our status, error code
    #: False when the scheme signs no timestamp (nothing can be stale).
    signs_time: ClassVar[bool] = True

    def config(self, origin: str) -> dict[str, Any]:
        raise NotImplementedError

    def accept(self, message_id: str) -> Response:
        raise NotImplementedError

    def receipt(
        self,
        message_id: str,
        status: str,
        *,
        at: datetime,
        error: str | None = None,
        secret: str | None = None,
        drop: tuple[str, ...] = (),
    ) -> Post:
        """A receipt signed at ``at`` (with ``secret`` instead of the right one when given),
        without the fields in ``drop``."""
        raise NotImplementedError

    def unsigned(self, post: Post) -> Post:
        raise NotImplementedError

    def altered(self, post: Post) -> Post:
        """``post`` with its status changed after it was signed."""
        raise NotImplementedError

    def delivered_at(self, at: datetime) -> datetime:
        """When the record says the message arrived: the provider's time when it gives one."""
        return at

    def callback_of(self, request: Request) -> str | None:
        """The per-message callback URL in a send request, or None."""
        raise NotImplementedError


class Twilio(Provider):
    name = connector = "twilio"
    send_path = "/2010-04-01/Accounts/account-sid/Messages.json"
    interim = ("sent", "sent")
    delivered = "delivered"
    failure = ("undelivered", "undelivered", "30003")
    signs_time = False

    def config(self, origin: str) -> dict[str, Any]:
        return {**TWILIO_CONFIG, "endpoint": origin}

    def accept(self, message_id: str) -> Response:
        return Response(json.dumps({"sid": message_id}), 201, mimetype="application/json")

    def receipt(
        self,
        message_id: str,
        status: str,
        *,
        at: datetime,
        error: str | None = None,
        secret: str | None = None,
        drop: tuple[str, ...] = (),
        url: str = RECEIPTS_URL,
    ) -> Post:
        fields = {
            "SmsSid": message_id,
            "SmsStatus": status,
            "MessageStatus": status,
            "To": PHONE,
            "MessageSid": message_id,
            "AccountSid": "account-sid",
            "From": "+15005550006",
            "ApiVersion": "2010-04-01",
        }
        if error:
            fields["ErrorCode"] = error
        fields = {k: v for k, v in fields.items() if k not in drop}
        headers = {"X-Twilio-Signature": self.sign(secret or "auth-token", url, fields)}
        return Post(urlencode(fields).encode(), "application/x-www-form-urlencoded", headers)

    @staticmethod
    def sign(token: str, url: str, fields: dict[str, str]) -> str:
        # Twilio's docs: the URL, then each parameter sorted by name, name then value.
        data = functools.reduce(lambda acc, k: acc + k + fields[k], sorted(fields), url)
        return base64.b64encode(hmac.new(token.encode(), data.encode(), "sha1").digest()).decode()

    def unsigned(self, post: Post) -> Post:
        return replace(post, headers={})

    def altered(self, post: Post) -> Post:
        return replace(post, body=post.body.replace(b"Status=delivered", b"Status=failed"))

    def callback_of(self, request: Request) -> str | None:
        return parse_qs(request.get_data(as_text=True)).get("StatusCallback", [None])[0]


class Vonage(Provider):
    name = connector = "vonage"
    send_path = "/sms/json"
    interim = ("buffered", "buffered")
    delivered = "delivered"
    failure = ("failed", "failed", "6")
    secret = "vonage-signature-secret"
    method: ClassVar[str] = "md5hash"
    #: The provider's time of the status, as ``message-timestamp`` says it.
    when = datetime(2026, 1, 1, 12, 0, 4, tzinfo=UTC)

    def config(self, origin: str) -> dict[str, Any]:
        return {
            **VONAGE_CONFIG,
            "endpoint": origin,
            "signatureSecret": self.secret,
            "signatureMethod": self.method,
        }

    def accept(self, message_id: str) -> Response:
        answer = {"message-count": "1", "messages": [{"message-id": message_id, "status": "0"}]}
        return Response(json.dumps(answer), 200, mimetype="application/json")

    def fields(
        self, message_id: str, status: str, at: datetime, error: str | None
    ) -> dict[str, str]:
        return {
            "msisdn": PHONE.removeprefix("+"),
            "to": "Acme",
            "network-code": "46000",
            "messageId": message_id,
            "price": "0.03330000",
            "status": status,
            "scts": "2601011200",
            "err-code": error or "0",
            "api-key": "api-key",
            "message-timestamp": self.when.strftime("%Y-%m-%d %H:%M:%S"),
            "timestamp": str(int(at.timestamp())),
            "nonce": "7d5e3f9a-5a2b-4b0e-9a8c-111111111111",
        }

    def receipt(
        self,
        message_id: str,
        status: str,
        *,
        at: datetime,
        error: str | None = None,
        secret: str | None = None,
        drop: tuple[str, ...] = (),
    ) -> Post:
        fields = {
            k: v for k, v in self.fields(message_id, status, at, error).items() if k not in drop
        }
        signed = "".join(
            "&" + k + "=" + fields[k].replace("&", "_").replace("=", "_") for k in sorted(fields)
        )
        fields["sig"] = self.sign(signed, secret or self.secret)
        return Post(urlencode(fields).encode(), "application/x-www-form-urlencoded", {})

    def sign(self, signed: str, secret: str) -> str:
        # Vonage's "md5hash": MD5 of the string followed by the secret, hex.
        return hashlib.md5((signed + secret).encode(), usedforsecurity=False).hexdigest()

    def unsigned(self, post: Post) -> Post:
        fields = {k: v[0] for k, v in parse_qs(post.body.decode()).items() if k != "sig"}
        return replace(post, body=urlencode(fields).encode())

    def altered(self, post: Post) -> Post:
        return replace(post, body=post.body.replace(b"status=delivered", b"status=failed"))

    def delivered_at(self, at: datetime) -> datetime:
        return self.when

    def callback_of(self, request: Request) -> str | None:
        callback: str | None = json.loads(request.get_data()).get("callback")
        return callback


class VonageHmac(Vonage):
    """Vonage with "SHA-256 HMAC" chosen in the dashboard; ``sig`` sent upper-case."""

    name = "vonage-sha256"
    method = "sha256"

    def sign(self, signed: str, secret: str) -> str:
        return hmac.new(secret.encode(), signed.encode(), "sha256").hexdigest().upper()


class GatewayApi(Provider):
    name = connector = "gatewayapi"
    send_path = "/rest/mtsms"
    interim = ("ENROUTE", "sent")
    delivered = "DELIVERED"
    failure = ("UNDELIVERABLE", "undelivered", "1")
    secret = "gatewayapi-webhook-secret"
    when = datetime(2026, 1, 1, 12, 0, 3, tzinfo=UTC)

    def config(self, origin: str) -> dict[str, Any]:
        return {
            **GATEWAYAPI_CONFIG,
            "endpoint": origin + self.send_path,
            "webhookSecret": self.secret,
        }

    def accept(self, message_id: str) -> Response:
        return Response(json.dumps({"ids": [int(message_id)]}), 200, mimetype="application/json")

    def receipt(
        self,
        message_id: str,
        status: str,
        *,
        at: datetime,
        error: str | None = None,
        secret: str | None = None,
        drop: tuple[str, ...] = (),
    ) -> Post:
        body: dict[str, Any] = {
            "id": int(message_id) if message_id.isdigit() else message_id,
            "msisdn": int(PHONE.removeprefix("+")),
            "time": int(self.when.timestamp()),
            "status": status,
            "error": "Unknown subscriber" if error else None,
            "code": error,
            "userref": None,
            "country_code": "CN",
            "country_prefix": 86,
            "charge_status": "CAPTURED",
        }
        body = {k: v for k, v in body.items() if k not in drop}
        token = self.jwt({**body, "iat": int(at.timestamp())}, secret or self.secret)
        return Post(json.dumps(body).encode(), "application/json", {"X-Gwapi-Signature": token})

    @staticmethod
    def jwt(claims: dict[str, Any], secret: str, header: dict[str, Any] | None = None) -> str:
        def part(data: Any) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

        signing_input = part(header or {"alg": "HS256", "typ": "JWT"}) + "." + part(claims)
        mac = hmac.new(secret.encode(), signing_input.encode(), "sha256").digest()
        return signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def unsigned(self, post: Post) -> Post:
        return replace(post, headers={})

    def altered(self, post: Post) -> Post:
        return replace(post, body=post.body.replace(b'"DELIVERED"', b'"REJECTED"'))

    def delivered_at(self, at: datetime) -> datetime:
        return self.when

    def callback_of(self, request: Request) -> str | None:
        callback: str | None = json.loads(request.get_data()).get("callback_url")
        return callback


PROVIDERS = [Twilio(), Vonage(), VonageHmac(), GatewayApi()]


@pytest.fixture(params=PROVIDERS, ids=lambda p: p.name)
def provider(request: pytest.FixtureRequest) -> Provider:
    chosen: Provider = request.param
    return chosen


@pytest.fixture
def message_ids() -> Iterator[str]:
    """The ids the fake provider gives, in turn (digits: GatewayAPI's are numbers)."""
    return (str(421332671 + n) for n in itertools.count())


@pytest.fixture
def fake_provider(
    httpserver: HTTPServer, provider: Provider, message_ids: Iterator[str]
) -> HTTPServer:
    httpserver.expect_request(provider.send_path, method="POST").respond_with_handler(
        lambda request: provider.accept(next(message_ids))
    )
    return httpserver


def origin(httpserver: HTTPServer) -> str:
    return str(httpserver.url_for("/")).rstrip("/")


@pytest.fixture
def app(
    make_app: AppFactory,
    database_uri: str,
    clock: FakeClock,
    provider: Provider,
    fake_provider: HTTPServer,
) -> Flask:
    return make_app(
        SQLALCHEMY_DATABASE_URI=database_uri,
        SMS_OTP_CONNECTOR=provider.connector,
        SMS_OTP_CONNECTOR_CONFIG=provider.config(origin(fake_provider)),
        clock=clock,
        code_generator=lambda length: CODE,
    )


def send_code(app: Flask) -> tuple[str, str]:
    """Send a sign-in code through the provider; the challenge id and the message id."""
    with app.app_context():
        state = get_state(app)
        issued = state.dispatcher.issue(PHONE, Usage.SIGN_IN, protect=False)
        state.sender.drain()
        Record = state.models.DeliveryRecord
        message_id = state.db.session.execute(
            sa.select(Record.provider_message_id).where(Record.challenge_id == issued.id)
        ).scalar_one()
        state.db.session.remove()
    assert message_id
    return issued.id, str(message_id)


def record_of(app: Flask, message_id: str) -> dict[str, Any]:
    """The receipt columns of the message's record, as stored."""
    with app.app_context():
        state = get_state(app)
        Record = state.models.DeliveryRecord
        row = state.db.session.execute(
            sa.select(Record).where(Record.provider_message_id == message_id)
        ).scalar_one()
        found = {
            name: getattr(row, name)
            for name in (
                "status",
                "delivery_status",
                "delivery_error",
                "delivered_at",
                "receipt_at",
                "receipt_key",
            )
        }
        state.db.session.remove()
        return found


def post(app: Flask, receipt: Post, url: str = RECEIPTS, **kwargs: Any) -> Any:
    return app.test_client().post(
        url,
        data=receipt.body,
        content_type=receipt.content_type,
        headers=receipt.headers,
        **kwargs,
    )


@pytest.fixture
def statuses(app: Flask) -> Iterator[list[dict[str, Any]]]:
    """Every ``delivery_status`` signal the app sends."""
    seen: list[dict[str, Any]] = []

    def receive(sender: Flask, **kwargs: Any) -> None:
        assert sender is app
        seen.append(kwargs)

    with delivery_status.connected_to(receive, app):
        yield seen


# Applied receipts ----------------------------------------------------------------------------


def test_signed_receipts_update_the_record_and_fire_the_signal(
    app: Flask, provider: Provider, clock: FakeClock, statuses: list[dict[str, Any]]
) -> None:
    challenge_id, message_id = send_code(app)
    assert record_of(app, message_id)["delivery_status"] is None

    clock.advance(2)
    word, interim = provider.interim
    answer = post(app, provider.receipt(message_id, word, at=clock.now))
    assert (answer.status_code, answer.json) == (200, {"result": "applied"})
    assert record_of(app, message_id)["delivery_status"] == interim

    clock.advance(3)
    answer = post(app, provider.receipt(message_id, provider.delivered, at=clock.now))
    assert (answer.status_code, answer.json) == (200, {"result": "applied"})
    stored = record_of(app, message_id)
    delivered_at = provider.delivered_at(clock.now)
    assert stored["status"] == "sent"
    assert stored["delivery_status"] == "delivered"
    assert stored["delivery_error"] is None
    assert stored["delivered_at"] == delivered_at
    assert stored["receipt_at"] == clock.now
    assert [s["status"] for s in statuses] == [interim, "delivered"]
    assert statuses[-1] == {
        "challenge_id": challenge_id,
        "connector": provider.connector,
        "message_id": message_id,
        "status": "delivered",
        "error_code": None,
        "delivered_at": delivered_at,
    }

    # A late "on the way" after the final word changes nothing and announces nothing.
    clock.advance(1)
    answer = post(app, provider.receipt(message_id, word, at=clock.now))
    assert (answer.status_code, answer.json) == (200, {"result": "ignored"})
    assert record_of(app, message_id) == stored
    assert len(statuses) == 2


def test_a_failure_receipt_keeps_the_provider_error_code(
    app: Flask, provider: Provider, clock: FakeClock, statuses: list[dict[str, Any]]
) -> None:
    _, message_id = send_code(app)
    word, status, code = provider.failure
    answer = post(app, provider.receipt(message_id, word, at=clock.now, error=code))
    assert answer.status_code == 200
    stored = record_of(app, message_id)
    assert (stored["delivery_status"], stored["delivery_error"]) == (status, code)
    assert stored["delivered_at"] is None
    assert [(s["status"], s["error_code"], s["delivered_at"]) for s in statuses] == [
        (status, code, None)
    ]
    # A final status is never overwritten, not even by another final one.
    clock.advance(1)
    answer = post(app, provider.receipt(message_id, provider.delivered, at=clock.now))
    assert answer.json == {"result": "ignored"}
    assert record_of(app, message_id) == stored


# Refused receipts ----------------------------------------------------------------------------


@pytest.mark.parametrize("refusal", ["forged", "unsigned", "altered", "stale", "replayed"])
def test_refused_receipts_get_403_and_change_nothing(
    app: Flask,
    provider: Provider,
    clock: FakeClock,
    statuses: list[dict[str, Any]],
    refusal: str,
) -> None:
    _, message_id = send_code(app)
    if refusal == "stale" and not provider.signs_time:
        # Twilio signs no timestamp: a late receipt stands on its signature (a repeat of
        # it is refused as a replay, the case above).
        late = provider.receipt(message_id, provider.delivered, at=clock.now)
        clock.advance(3600)
        assert post(app, late).status_code == 200
        assert statuses != []
        return
    genuine = provider.receipt(message_id, provider.delivered, at=clock.now)
    if refusal == "replayed":
        assert post(app, genuine).status_code == 200
        statuses.clear()
        clock.advance(30)  # well within the freshness window
        sent = genuine
    elif refusal == "forged":
        sent = provider.receipt(message_id, provider.delivered, at=clock.now, secret="guess")
    elif refusal == "unsigned":
        sent = provider.unsigned(genuine)
    elif refusal == "altered":
        sent = provider.altered(genuine)
    else:  # older than SMS_OTP_RECEIPT_MAX_AGE (a day)
        sent = provider.receipt(message_id, provider.delivered, at=clock.now - timedelta(days=1.01))
    before = record_of(app, message_id)

    answer = post(app, sent)

    assert answer.status_code == 403, answer.get_data(as_text=True)
    assert answer.json["error"]["code"] == "receipt_rejected"
    assert record_of(app, message_id) == before
    assert statuses == []


@pytest.mark.parametrize(
    "provider", [Vonage(), VonageHmac(), GatewayApi()], ids=lambda p: p.name, indirect=True
)
def test_a_receipt_signed_in_the_future_is_refused(
    app: Flask, provider: Provider, clock: FakeClock
) -> None:
    _, message_id = send_code(app)
    ahead = provider.receipt(message_id, provider.delivered, at=clock.now + timedelta(minutes=6))
    assert post(app, ahead).status_code == 403
    assert record_of(app, message_id)["delivery_status"] is None


@pytest.mark.parametrize(
    "provider", [Vonage(), VonageHmac(), GatewayApi()], ids=lambda p: p.name, indirect=True
)
def test_a_retry_the_app_missed_while_down_is_taken_late_but_only_once(
    app: Flask, provider: Provider, clock: FakeClock, statuses: list[dict[str, Any]]
) -> None:
    """GatewayAPI retries after 1, 2, 6 and 24 minutes and dates its token by the status's
    time: the 24-minute retry is taken (SMS_OTP_RECEIPT_MAX_AGE, a day by default), and
    taken once."""
    _, message_id = send_code(app)
    late = provider.receipt(message_id, provider.delivered, at=clock.now)
    clock.advance(24 * 60)
    answer = post(app, late)
    assert (answer.status_code, answer.json) == (200, {"result": "applied"})
    assert record_of(app, message_id)["delivery_status"] == "delivered"
    assert len(statuses) == 1
    assert post(app, late).status_code == 403  # the same post again is a replay
    assert len(statuses) == 1


@pytest.mark.parametrize("provider", [Vonage(), GatewayApi()], ids=lambda p: p.name, indirect=True)
def test_the_receipt_age_limit_is_the_apps_to_choose(
    make_app: AppFactory,
    database_uri: str,
    clock: FakeClock,
    provider: Provider,
    fake_provider: HTTPServer,
) -> None:
    app = make_app(
        SQLALCHEMY_DATABASE_URI=database_uri,
        SMS_OTP_CONNECTOR=provider.connector,
        SMS_OTP_CONNECTOR_CONFIG=provider.config(origin(fake_provider)),
        SMS_OTP_RECEIPT_MAX_AGE=600,
        clock=clock,
    )
    _, message_id = send_code(app)
    late = provider.receipt(message_id, provider.delivered, at=clock.now - timedelta(minutes=11))
    answer = post(app, late)
    assert (answer.status_code, answer.json["error"]["message"]) == (403, "stale")
    assert record_of(app, message_id)["delivery_status"] is None
    timely = provider.receipt(message_id, provider.delivered, at=clock.now - timedelta(minutes=9))
    assert post(app, timely).status_code == 200
    assert record_of(app, message_id)["delivery_status"] == "delivered"


def test_an_earlier_status_replayed_after_a_later_one_changes_nothing(
    app: Flask, provider: Provider, clock: FakeClock, statuses: list[dict[str, Any]]
) -> None:
    """What the long age limit allows an attacker who captured a genuine receipt: nothing."""
    _, message_id = send_code(app)
    earlier = provider.receipt(message_id, provider.interim[0], at=clock.now)
    assert post(app, earlier).status_code == 200
    clock.advance(5)
    assert post(app, provider.receipt(message_id, provider.delivered, at=clock.now)).json == {
        "result": "applied"
    }
    after = record_of(app, message_id)
    statuses.clear()
    clock.advance(3600)
    answer = post(app, earlier)
    assert answer.status_code in (200, 403)
    assert answer.get_json() != {"result": "applied"}
    assert record_of(app, message_id) == after
    assert statuses == []


def test_a_receipt_for_an_unknown_message_changes_nothing(
    app: Flask, provider: Provider, clock: FakeClock, statuses: list[dict[str, Any]]
) -> None:
    _, message_id = send_code(app)
    before = record_of(app, message_id)
    answer = post(app, provider.receipt("999999999", provider.delivered, at=clock.now))
    # 2xx, so the provider does not retry a receipt nobody will ever take.
    assert (answer.status_code, answer.json) == (200, {"result": "unknown"})
    assert record_of(app, message_id) == before
    assert statuses == []


# Malformed and hostile posts ------------------------------------------------------------------


def test_a_signed_receipt_without_a_message_id_gets_400(
    app: Flask, provider: Provider, clock: FakeClock, statuses: list[dict[str, Any]]
) -> None:
    _, message_id = send_code(app)
    drop = {"twilio": ("MessageSid", "SmsSid"), "gatewayapi": ("id",)}.get(
        provider.connector, ("messageId",)
    )
    answer = post(app, provider.receipt(message_id, provider.delivered, at=clock.now, drop=drop))
    assert answer.status_code == 400
    assert answer.json["error"]["code"] == "receipt_malformed"
    assert record_of(app, message_id)["delivery_status"] is None
    assert statuses == []


JUNK_BODIES = [
    (b"", "application/x-www-form-urlencoded"),
    (b"\xff\xfe\x00", "application/x-www-form-urlencoded"),
    (b"%%%&&&===", "application/x-www-form-urlencoded"),
    (b"{", "application/json"),
    (b"[1, 2, 3]", "application/json"),
    (b"[" * 50_000 + b"]" * 50_000, "application/json"),
    (b'{"id": "\\ud800"}', "application/json"),
    (b"x" * 100_000, "text/plain"),
    (b"<xml/>", "application/xml"),
]
JUNK_SIGNATURES = [
    {},
    {"X-Twilio-Signature": "AAAA", "X-Gwapi-Signature": "a.b.c"},
    {"X-Gwapi-Signature": GatewayApi.jwt({"id": 1}, "", {"alg": "none"})[:-43]},
    {"X-Gwapi-Signature": "eyJhbGciOiJIUzI1NiJ9.e30.AAAA", "X-Twilio-Signature": ""},
]


@pytest.mark.parametrize("database_uri", ["sqlite"], indirect=True)
def test_hostile_posts_never_get_a_server_error(app: Flask, provider: Provider) -> None:
    client = app.test_client()
    for (body, content_type), headers in itertools.product(JUNK_BODIES, JUNK_SIGNATURES):
        answer = client.post(RECEIPTS, data=body, content_type=content_type, headers=headers)
        assert answer.status_code in (400, 403), (body[:20], headers, answer.status_code)


@pytest.mark.parametrize("provider", [GatewayApi()], ids=["gatewayapi"], indirect=True)
def test_a_verified_token_over_a_body_that_is_not_json_gets_400(
    app: Flask, provider: Provider, clock: FakeClock
) -> None:
    _, message_id = send_code(app)
    genuine = provider.receipt(message_id, provider.delivered, at=clock.now)
    answer = post(app, replace(genuine, body=b"status=DELIVERED"))
    assert answer.status_code == 400
    assert record_of(app, message_id)["delivery_status"] is None


# Where receipts are taken ---------------------------------------------------------------------


@pytest.mark.parametrize("database_uri", ["sqlite"], indirect=True)
def test_unknown_names_and_connectors_without_receipts_get_404(
    make_app: AppFactory, app: Flask, provider: Provider, clock: FakeClock
) -> None:
    genuine = provider.receipt("1", provider.delivered, at=clock.now)
    assert post(app, genuine, url="/auth/api/receipts/other").status_code == 404
    assert app.test_client().get(RECEIPTS).status_code == 405
    for connector, config in [
        ("memory", {}),
        ("vonage", {**VONAGE_CONFIG}),  # no signatureSecret: receipts cannot be verified
        ("gatewayapi", {**GATEWAYAPI_CONFIG}),  # no webhookSecret
    ]:
        other = make_app(SMS_OTP_CONNECTOR=connector, SMS_OTP_CONNECTOR_CONFIG=config)
        answer = post(other, genuine)
        assert answer.status_code == 404, connector
        assert answer.json["error"]["code"] == "no_receipts"


@pytest.mark.parametrize("database_uri", ["sqlite"], indirect=True)
@pytest.mark.parametrize("provider", [Twilio()], ids=["twilio"], indirect=True)
def test_receipts_need_no_csrf_token_and_start_no_session(
    app: Flask, provider: Provider, clock: FakeClock
) -> None:
    assert app.config.get("WTF_CSRF_ENABLED", True)
    _, message_id = send_code(app)
    answer = post(app, provider.receipt(message_id, "sent", at=clock.now))
    assert answer.status_code == 200
    assert "Set-Cookie" not in answer.headers
    assert "X-CSRFToken" not in answer.headers
    # The rest of the API still wants its token.
    assert app.test_client().post("/auth/api/verification-codes", json={}).status_code == 400


@pytest.mark.parametrize("provider", [Twilio()], ids=["twilio"], indirect=True)
def test_an_app_wide_csrf_protect_lets_receipts_through(
    make_app: AppFactory, provider: Provider, clock: FakeClock, fake_provider: HTTPServer
) -> None:
    app = make_app(
        SMS_OTP_CONNECTOR="twilio",
        SMS_OTP_CONNECTOR_CONFIG=provider.config(origin(fake_provider)),
        clock=clock,
    )
    CSRFProtect(app)  # set up after the extension, as apps often do
    _, message_id = send_code(app)
    answer = post(app, provider.receipt(message_id, "delivered", at=clock.now))
    assert (answer.status_code, answer.json) == (200, {"result": "applied"})
    assert app.test_client().post("/auth/api/verification-codes", json={}).status_code == 400


@pytest.mark.parametrize("provider", [Twilio()], ids=["twilio"], indirect=True)
def test_twilio_urls_behind_a_proxy_and_with_a_port(
    make_app: AppFactory, provider: Twilio, clock: FakeClock, fake_provider: HTTPServer
) -> None:
    public = "https://auth.example.com/auth/api/receipts/default"
    app = make_app(
        SMS_OTP_CONNECTOR="twilio",
        SMS_OTP_CONNECTOR_CONFIG={
            **provider.config(origin(fake_provider)),
            "statusCallback": public,
        },
        clock=clock,
    )
    _, message_id = send_code(app)
    # Signed for the public URL Twilio was given, received on the app's own address.
    assert post(app, provider.receipt(message_id, "sent", at=clock.now, url=public)).json == {
        "result": "applied"
    }
    # Signed with the default port, received without it.
    with_port = provider.receipt(
        message_id, "delivered", at=clock.now, url=f"https://localhost:443{RECEIPTS}"
    )
    answer = post(app, with_port, base_url="https://localhost")
    assert answer.json == {"result": "applied"}
    # Signed for some other URL: refused.
    elsewhere = provider.receipt(message_id, "failed", at=clock.now, url="https://evil.example/r")
    assert post(app, elsewhere).status_code == 403


@pytest.mark.parametrize("database_uri", ["sqlite"], indirect=True)
def test_receipts_never_log_the_number(
    app: Flask, provider: Provider, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    _, message_id = send_code(app)
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        post(app, provider.receipt(message_id, provider.delivered, at=clock.now))
        post(app, provider.receipt(message_id, provider.delivered, at=clock.now, secret="x"))
    assert message_id in caplog.text
    assert "refused a delivery receipt" in caplog.text  # the forged one, and why
    assert PHONE.removeprefix("+") not in caplog.text
    assert PHONE[-8:] not in caplog.text


# The send request ---------------------------------------------------------------------------


@pytest.mark.parametrize("configured", [False, True], ids=["unset", "set"])
def test_the_callback_url_is_sent_only_when_configured(
    make_app: AppFactory,
    provider: Provider,
    fake_provider: HTTPServer,
    clock: FakeClock,
    configured: bool,
) -> None:
    callback = "https://app.example.com/auth/api/receipts/default"
    config = provider.config(origin(fake_provider))
    if configured:
        config["statusCallback"] = callback
    app = make_app(
        SMS_OTP_CONNECTOR=provider.connector, SMS_OTP_CONNECTOR_CONFIG=config, clock=clock
    )
    send_code(app)
    (request, _response), *_ = fake_provider.log
    assert provider.callback_of(request) == (callback if configured else None)


# The report -----------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", [Twilio()], ids=["twilio"], indirect=True)
def test_stats_show_delivered_counts_and_the_median_time_to_delivery(
    app: Flask, provider: Provider, clock: FakeClock
) -> None:
    sent = [send_code(app) for _ in range(4)]
    with app.app_context():
        get_state(app).challenges.verify(sent[0][0], CODE, usage=Usage.SIGN_IN)
    # Delivered after 2, 4 and 10 seconds; the fourth never is.
    for (_, message_id), seconds in zip(sent, (2, 2, 6), strict=False):
        clock.advance(seconds)
        assert post(app, provider.receipt(message_id, "delivered", at=clock.now)).status_code == 200

    with app.app_context():
        rows = get_state(app).delivery.records.delivery_stats(clock.now - timedelta(days=1))  # type: ignore[union-attr]
    assert [(r.country, r.connector, r.sent, r.delivered, r.verified) for r in rows] == [
        ("CN", "twilio", 4, 3, 1)
    ]
    assert rows[0].median_delivery_ms == 4000

    output = app.test_cli_runner().invoke(args=["sms-otp", "stats", "--days", "1"]).output
    lines = output.splitlines()
    assert lines[1].split() == ["CN", "4", "0", "1", "25%"]
    header = lines.index(next(line for line in lines if line.startswith("country connector")))
    assert lines[header].split() == [
        "country",
        "connector",
        "sent",
        "delivered",
        "verified",
        "median",
        "delivery",
    ]
    assert lines[header + 1].split() == ["CN", "twilio", "4", "3", "1", "4.0", "s"]
