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

from .helpers import PLAIN_HTTP, ApiClient, AppFactory

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
    make_app: AppFactory, httpserver: HTTPServer, fakes: Fakes
) -> None:
    app = channel_app(make_app, httpserver)
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
