"""WhatsApp beside SMS on one route, against fakes of the WhatsApp Cloud API and of Amazon
SNS on one local server: a number that is not on WhatsApp gets its code by SMS at once,
with one delivery record per try."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import pytest
import sqlalchemy as sa
from flask import Flask
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flask_sms_otp import signals
from flask_sms_otp.state import get_state
from flask_sms_otp.testing import wait_for_sends
from tests.connectors import test_sns, test_whatsapp
from tests.connectors.contract import origin_of

from .helpers import PLAIN_HTTP, ApiClient, AppFactory, FakeClock, create_user, submit

INDIAN = "+919876543210"
AMERICAN = "+12015550123"
CODE = "914263"
ROUTES = [
    {"regions": ["IN"], "connectors": ["whatsapp", "sns"]},
    {"regions": "*", "connectors": ["sns"]},
]


class Fakes:
    """WhatsApp and SNS on one server; WhatsApp knows the numbers in ``on_whatsapp``."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.on_whatsapp: set[str] = set()
        server.expect_request(test_whatsapp.MESSAGES_PATH, method="POST").respond_with_handler(
            self.whatsapp
        )
        server.expect_request("/", method="POST").respond_with_handler(self.sns)

    def whatsapp(self, request: Request) -> Response:
        if request.get_json()["to"] in self.on_whatsapp:
            return test_whatsapp.accepted(request)
        return test_whatsapp.graph_error(
            131026,
            "Message undeliverable",
            400,
            "Unable to deliver message. Reasons can include: The recipient phone number is "
            "not a WhatsApp phone number.",
        )

    def sns(self, request: Request) -> Response:
        assert test_sns.signature_of(request) == test_sns.recomputed_signature(request)
        return test_sns.published()

    def requests(self) -> list[tuple[str, dict[str, Any]]]:
        """(which fake, what it was sent), in order."""
        seen = []
        for request, _ in self.server.log:
            if request.path == "/":
                fields = parse_qs(request.get_data(as_text=True))
                seen.append(("sns", {key: value[0] for key, value in fields.items()}))
            else:
                seen.append(("whatsapp", request.get_json()))
        return seen


@pytest.fixture
def fakes(httpserver: HTTPServer) -> Fakes:
    return Fakes(httpserver)


def connectors(server: HTTPServer) -> dict[str, Any]:
    origin = origin_of(server)
    return {
        "whatsapp": {
            "connector": "whatsapp",
            "config": {**test_whatsapp.BASE_CONFIG, "endpoint": origin},
        },
        "sns": {"connector": "sns", "config": {**test_sns.BASE_CONFIG, "endpoint": origin}},
    }


def channel_app(make_app: AppFactory, server: HTTPServer, **config: Any) -> Flask:
    return make_app(
        **PLAIN_HTTP,
        SMS_OTP_CONNECTORS=connectors(server),
        SMS_OTP_ROUTES=ROUTES,
        code_generator=lambda length: CODE,
        **config,
    )


def records(app: Flask) -> list[tuple[str, str]]:
    """(connector, status) of every delivery record, oldest first."""
    with app.app_context():
        state = get_state(app)
        Record = state.models.DeliveryRecord
        rows = state.db.session.execute(
            sa.select(Record.connector, Record.status).order_by(Record.id)
        ).all()
    return [(row.connector, row.status) for row in rows]


def test_a_number_not_on_whatsapp_gets_its_code_by_sms(
    make_app: AppFactory, httpserver: HTTPServer, fakes: Fakes, database_uri: str
) -> None:
    app = channel_app(make_app, httpserver, SQLALCHEMY_DATABASE_URI=database_uri)
    sent: list[dict[str, Any]] = []
    signals.code_sent.connect(lambda _, **data: sent.append(data), app, weak=False)
    client = ApiClient(app)
    vid = client.request_code(INDIAN, "Register")
    wait_for_sends(app)
    (whatsapp, whatsapp_body), (sns, sns_fields) = fakes.requests()
    assert (whatsapp, sns) == ("whatsapp", "sns")
    assert whatsapp_body["to"] == INDIAN.removeprefix("+")
    assert whatsapp_body["template"]["name"] == "acme_sign_up"
    assert sns_fields["PhoneNumber"] == INDIAN
    assert sns_fields["Message"] == f"Your sign-up code is {CODE}."
    assert records(app) == [("whatsapp", "failed"), ("sns", "sent")]
    assert [(data["connector"], data["challenge_id"]) for data in sent] == [("sns", vid)]
    # The code that went by SMS signs up.
    response = client.post("/sign-up", {"verification_id": vid, "code": CODE})
    assert response.status_code == 201, response.get_json()


def test_a_number_on_whatsapp_gets_its_code_there_only(
    make_app: AppFactory, httpserver: HTTPServer, fakes: Fakes
) -> None:
    fakes.on_whatsapp.add(INDIAN.removeprefix("+"))
    app = channel_app(make_app, httpserver)
    ApiClient(app).request_code(INDIAN, "Register")
    wait_for_sends(app)
    assert [which for which, _ in fakes.requests()] == ["whatsapp"]
    assert records(app) == [("whatsapp", "sent")]


def test_other_countries_keep_their_own_route(
    make_app: AppFactory, httpserver: HTTPServer, fakes: Fakes
) -> None:
    app = channel_app(make_app, httpserver)
    ApiClient(app).request_code(AMERICAN, "Register")
    wait_for_sends(app)
    assert [which for which, _ in fakes.requests()] == ["sns"]
    assert records(app) == [("sns", "sent")]


# The person's choice, through the JSON API -------------------------------------------------


def whatsapp_user(fakes: Fakes) -> None:
    fakes.on_whatsapp.add(INDIAN.removeprefix("+"))


def test_sms_chosen_sends_no_whatsapp_message(
    make_app: AppFactory, httpserver: HTTPServer, fakes: Fakes
) -> None:
    whatsapp_user(fakes)
    app = channel_app(make_app, httpserver)
    client = ApiClient(app)
    response = client.post(
        "/verification-codes", {"phone": INDIAN, "usage": "Register", "channel": "sms"}
    )
    assert response.status_code == 202, response.get_json()
    wait_for_sends(app)
    assert [which for which, _ in fakes.requests()] == ["sns"]
    assert records(app) == [("sns", "sent")]


def test_the_choice_is_kept_for_the_resend_until_changed(
    make_app: AppFactory,
    httpserver: HTTPServer,
    fakes: Fakes,
    clock: FakeClock,
    database_uri: str,
) -> None:
    """On SQLite and PostgreSQL: the channel column is written with the challenge and
    replaced by a resend that names another."""
    whatsapp_user(fakes)
    app = channel_app(make_app, httpserver, clock=clock, SQLALCHEMY_DATABASE_URI=database_uri)
    client = ApiClient(app)
    response = client.post(
        "/verification-codes", {"phone": INDIAN, "usage": "Register", "channel": "whatsapp"}
    )
    vid = response.get_json()["verification_id"]
    wait_for_sends(app)

    def resend(body: Any = None) -> None:
        clock.advance(get_state(app).settings.resend_cooldown)
        path = f"/verification-codes/{vid}/resend"
        answer = client.post(path) if body is None else client.post(path, body)
        assert answer.status_code == 202, answer.get_json()
        wait_for_sends(app)

    resend()  # no body: WhatsApp again
    resend({"channel": "sms"})  # "send it by SMS instead"
    resend()  # SMS is now the choice
    assert [which for which, _ in fakes.requests()] == ["whatsapp", "whatsapp", "sns", "sns"]
    assert records(app) == [
        ("whatsapp", "sent"),
        ("whatsapp", "sent"),
        ("sns", "sent"),
        ("sns", "sent"),
    ]


def test_whatsapp_chosen_in_a_country_without_it_is_sms(
    make_app: AppFactory, httpserver: HTTPServer, fakes: Fakes
) -> None:
    app = channel_app(make_app, httpserver)
    ApiClient(app).request_code(AMERICAN, "Register", channel="whatsapp")
    wait_for_sends(app)
    assert [which for which, _ in fakes.requests()] == ["sns"]


@pytest.mark.parametrize("bad", ["pigeon", "SMS", 1, ["sms"], {"sms": True}])
def test_an_unknown_channel_is_a_clear_400_and_sends_nothing(
    make_app: AppFactory, httpserver: HTTPServer, fakes: Fakes, bad: Any
) -> None:
    whatsapp_user(fakes)
    app = channel_app(make_app, httpserver)
    client = ApiClient(app)
    response = client.post(
        "/verification-codes", {"phone": INDIAN, "usage": "Register", "channel": bad}
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_request"
    vid = client.request_code(INDIAN, "Register")
    wait_for_sends(app)
    resent = client.post(f"/verification-codes/{vid}/resend", {"channel": bad})
    assert resent.status_code == 400
    assert response.get_json()["error"]["message"] == "Choose SMS or WhatsApp."
    assert [which for which, _ in fakes.requests()] == ["whatsapp"]  # the valid request's


@pytest.mark.real_limits
def test_both_channels_share_the_send_limits(
    make_app: AppFactory, httpserver: HTTPServer, fakes: Fakes
) -> None:
    whatsapp_user(fakes)
    app = channel_app(make_app, httpserver, SMS_OTP_SEND_LIMIT_PER_NUMBER="2/hour")
    client = ApiClient(app)
    for channel in ("whatsapp", "sms"):
        client.request_code(INDIAN, "Register", channel=channel)
    for channel in ("whatsapp", "sms"):
        refused = client.send_code(INDIAN, "Register", channel=channel)
        assert refused.status_code == 429, channel
        assert refused.get_json()["error"]["code"] == "rate_limited"
    wait_for_sends(app)
    assert [which for which, _ in fakes.requests()] == ["whatsapp", "sns"]


# The choice on the HTML pages (the browser walk-through is tests/browser) ------------------


def test_the_pages_offer_no_choice_without_a_route_holding_both(make_app: AppFactory) -> None:
    client = make_app(**PLAIN_HTTP).test_client()
    for path in ("/auth/sign-up", "/auth/sign-in/code", "/auth/reset-password"):
        page = client.get(path)
        assert page.status_code == 200
        assert 'name="channel"' not in page.text


def test_sms_picked_on_the_page_sends_no_whatsapp_message(
    make_app: AppFactory, httpserver: HTTPServer, fakes: Fakes
) -> None:
    whatsapp_user(fakes)
    app = channel_app(make_app, httpserver)
    client = app.test_client()
    page = client.get("/auth/sign-in/code")
    assert 'type="radio" value="whatsapp"' in page.text
    assert 'type="radio" value="sms"' in page.text
    answer = submit(client, "/auth/sign-up", {"phone": INDIAN, "region": "", "channel": "sms"})
    assert answer.status_code == 302
    wait_for_sends(app)
    assert [which for which, _ in fakes.requests()] == ["sns"]
    code_page = client.get(answer.location)
    # The code page offers the other channel for the new code, the chosen one checked.
    assert 'checked id="channel-1" name="channel" type="radio" value="sms"' in code_page.text


def test_a_bad_channel_on_the_page_is_a_clear_400(
    make_app: AppFactory, httpserver: HTTPServer, fakes: Fakes
) -> None:
    app = channel_app(make_app, httpserver)
    client = app.test_client()
    answer = submit(client, "/auth/sign-up", {"phone": INDIAN, "region": "", "channel": "fax"})
    assert answer.status_code == 400
    assert "Choose SMS or WhatsApp." in answer.text
    wait_for_sends(app)
    assert fakes.requests() == []


def test_the_choice_orders_any_route() -> None:
    from flask_sms_otp.connectors.sns import SnsConnector
    from flask_sms_otp.connectors.whatsapp import WhatsAppConnector
    from flask_sms_otp.routing import Named, Router

    sms = Named("sns", "sns", SnsConnector(test_sns.BASE_CONFIG))
    chat = Named("whatsapp", "whatsapp", WhatsAppConnector(test_whatsapp.BASE_CONFIG))
    route = [sms, chat]  # SMS first, as an operator may configure it
    assert Router.by_channel(route, None) == [sms, chat]
    assert Router.by_channel(route, "whatsapp") == [chat, sms]
    assert Router.by_channel(route, "sms") == [sms]
    assert Router.by_channel([sms], "whatsapp") == [sms]  # not offered: the route as it is
    assert Router.by_channel([chat], "sms") == [chat]
    for entry in route:
        entry.connector.close()


def test_the_choice_tells_nothing_about_accounts(
    make_app: AppFactory, httpserver: HTTPServer, fakes: Fakes
) -> None:
    whatsapp_user(fakes)
    app = channel_app(make_app, httpserver)
    create_user(app, INDIAN)
    answers = []
    for phone in (INDIAN, "+919876543211"):  # an account, and no account
        for channel in ("whatsapp", "sms"):
            response = ApiClient(app).send_code(phone, "Register", channel=channel)
            answers.append((response.status_code, tuple(sorted(response.get_json()))))
    assert len(set(answers)) == 1
    assert answers[0] == (202, ("expires_at", "resend_after", "verification_id"))
    wait_for_sends(app)
    # Only the number without an account gets its sign-up codes: by WhatsApp (it is not on
    # WhatsApp, so then by SMS) and by SMS. The account holder's answers sent nothing.
    seen = sorted(
        (which, str(sent.get("to") or sent.get("PhoneNumber"))) for which, sent in fakes.requests()
    )
    assert seen == [
        ("sns", "+919876543211"),
        ("sns", "+919876543211"),
        ("whatsapp", "919876543211"),
    ]


@pytest.mark.parametrize("body", [b"[]", b'"sms"', b"{", b"null"])
def test_a_resend_body_that_is_not_an_object_is_a_400(
    make_app: AppFactory, httpserver: HTTPServer, fakes: Fakes, body: bytes
) -> None:
    whatsapp_user(fakes)
    app = channel_app(make_app, httpserver)
    client = ApiClient(app)
    vid = client.request_code(INDIAN, "Register")
    wait_for_sends(app)
    response = client.post(
        f"/verification-codes/{vid}/resend", data=body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_request"
    assert len(fakes.requests()) == 1


def test_an_invitation_skips_whatsapp_whose_templates_carry_only_codes(
    make_app: AppFactory, httpserver: HTTPServer, fakes: Fakes
) -> None:
    """An authentication template has room for a code, not a link: an invitation on a route
    that starts with WhatsApp goes by SMS, even to a number on WhatsApp, with no failed try
    recorded first."""
    app = channel_app(make_app, httpserver)
    fakes.on_whatsapp.add(INDIAN.removeprefix("+"))
    with app.test_request_context():
        invitation = get_state(app).invitations.invite(INDIAN, inviter_name="Alice")
    wait_for_sends(app)
    assert invitation.url is not None
    [(which, fields)] = fakes.requests()
    assert which == "sns"
    assert invitation.url in fields["Message"]
    assert records(app) == [("sns", "sent")]
    # A code to the same number still goes by WhatsApp first.
    ApiClient(app).request_code(INDIAN, "Register")
    wait_for_sends(app)
    assert [which for which, _ in fakes.requests()] == ["sns", "whatsapp"]
