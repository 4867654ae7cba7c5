"""Several connectors at once, against fake providers speaking each one's wire format:
routes by country, failover that never texts twice, and a circuit breaker shared by every
process through Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flask_sms_otp import ConfigurationError, signals
from flask_sms_otp.state import get_state
from flask_sms_otp.testing import wait_for_sends
from tests.connectors import test_aliyun, test_tencent, test_twilio
from tests.connectors.contract import HttpConnectorContract, origin_of

from .helpers import PLAIN_HTTP, ApiClient, AppFactory, FakeClock, require_redis

ROOT = Path(__file__).resolve().parent.parent
REDIS_URI = os.environ.get("SMS_OTP_TEST_LIMITS_REDIS_URL", "redis://127.0.0.1:6379")
CHINESE = "+8613800138000"
AMERICAN = "+12015550123"
ROUTES = [
    {"regions": ["CN"], "connectors": ["aliyun", "tencent"]},
    {"regions": "*", "connectors": ["twilio"]},
]

ALIYUN = test_aliyun.TestContract()
TENCENT = test_tencent.TestContract()
TWILIO = test_twilio.TestContract()


class Provider:
    """A fake provider on a server of its own, answering as told and counting requests."""

    def __init__(self, contract: HttpConnectorContract) -> None:
        self.contract = contract
        self.server = HTTPServer(port=0)
        self.server.start()
        self.answer = "accept"
        self.delay = 0.0
        self.seen = 0
        self.server.expect_request(contract.send_path).respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        self.seen += 1  # counted on arrival: a slow answer is still a request seen
        if self.delay:
            time.sleep(self.delay)
        if self.answer == "refuse":
            return self.contract.refuse(request, 400, "refused for the test")
        return self.contract.accept(request)

    @property
    def requests(self) -> int:
        return self.seen

    def config(self) -> dict[str, Any]:
        return self.contract.config(self.contract.endpoint(origin_of(self.server)))

    def stop(self) -> None:
        self.server.clear()
        if self.server.is_running():
            self.server.stop()


@pytest.fixture
def providers() -> Iterator[dict[str, Provider]]:
    made = {"aliyun": Provider(ALIYUN), "tencent": Provider(TENCENT), "twilio": Provider(TWILIO)}
    yield made
    for provider in made.values():
        provider.stop()


def connectors(providers: dict[str, Provider]) -> dict[str, Any]:
    return {name: {"connector": name, "config": p.config()} for name, p in providers.items()}


def _app(make: AppFactory, providers: dict[str, Provider], **config: Any) -> Flask:
    config.setdefault("SMS_OTP_CONNECTORS", connectors(providers))
    config.setdefault("SMS_OTP_ROUTES", ROUTES)
    config.setdefault("SMS_OTP_HTTP_TIMEOUT", [2, 0.5])
    return make(**PLAIN_HTTP, **config)


def send(app: Flask, phone: str) -> str:
    """Ask for a sign-up code and wait for the background send; the challenge id."""
    vid = ApiClient(app).request_code(phone, "Register")
    wait_for_sends(app)
    return vid


def records(app: Flask) -> list[tuple[str, str]]:
    """(connector, status) of every delivery record, oldest first."""
    with app.app_context():
        state = get_state(app)
        Record = state.models.DeliveryRecord
        rows = state.db.session.execute(
            sa.select(Record.connector, Record.status).order_by(Record.id)
        ).all()
    return [(row.connector, row.status) for row in rows]


def test_each_country_goes_through_its_own_route(
    make_app: AppFactory, providers: dict[str, Provider]
) -> None:
    app = _app(make_app, providers)
    send(app, CHINESE)
    send(app, AMERICAN)
    assert [p.requests for p in providers.values()] == [1, 0, 1]
    assert records(app) == [("aliyun", "sent"), ("twilio", "sent")]


def test_a_refusal_fails_over_to_the_next_connector_at_once(
    make_app: AppFactory, providers: dict[str, Provider]
) -> None:
    app = _app(make_app, providers)
    providers["aliyun"].answer = "refuse"
    sent: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    signals.code_sent.connect(lambda _, **data: sent.append(data), app, weak=False)
    signals.delivery_failed.connect(lambda _, **data: failed.append(data), app, weak=False)
    send(app, CHINESE)
    assert [p.requests for p in providers.values()] == [1, 1, 0]
    # One record per try; the person gets one SMS, and no failure is signalled.
    assert records(app) == [("aliyun", "failed"), ("tencent", "sent")]
    assert [data["connector"] for data in sent] == ["tencent"]
    assert failed == []


def test_a_refusal_everywhere_is_one_failure_with_every_try_recorded(
    make_app: AppFactory, providers: dict[str, Provider]
) -> None:
    app = _app(make_app, providers)
    providers["aliyun"].answer = providers["tencent"].answer = "refuse"
    failed: list[dict[str, Any]] = []
    signals.delivery_failed.connect(lambda _, **data: failed.append(data), app, weak=False)
    send(app, CHINESE)
    assert records(app) == [("aliyun", "failed"), ("tencent", "failed")]
    assert [data["connector"] for data in failed] == ["tencent"]


def test_a_lost_answer_does_not_fail_over_and_the_resend_goes_to_the_next(
    make_app: AppFactory, providers: dict[str, Provider], clock: FakeClock
) -> None:
    app = _app(make_app, providers, clock=clock)
    providers["aliyun"].delay = 1.0  # past the 0.5 s read timeout: the SMS may have left
    vid = send(app, CHINESE)
    # Exactly one provider saw the request: no second text for one code.
    assert [p.requests for p in providers.values()] == [1, 0, 0]
    assert records(app) == [("aliyun", "unsure")]
    providers["aliyun"].delay = 0
    clock.advance(61)
    client = ApiClient(app)
    assert client.post(f"/verification-codes/{vid}/resend").status_code == 202
    wait_for_sends(app)
    assert [p.requests for p in providers.values()] == [1, 1, 0]
    assert records(app) == [("aliyun", "unsure"), ("tencent", "sent")]
    # A resend after a send that surely went starts from the first connector again.
    clock.advance(61)
    assert client.post(f"/verification-codes/{vid}/resend").status_code == 202
    wait_for_sends(app)
    assert [p.requests for p in providers.values()] == [2, 1, 0]


@pytest.mark.real_limits
def test_an_open_circuit_skips_a_connector_in_every_process_sharing_redis(
    make_app: AppFactory, providers: dict[str, Provider], sqlite_uri: str
) -> None:
    shared = {
        "RATELIMIT_STORAGE_URI": require_redis(REDIS_URI),
        # A prefix of its own: the counters of other tests on this Redis stay apart.
        "RATELIMIT_KEY_PREFIX": f"routing-{uuid.uuid4().hex}",
        "SMS_OTP_SEND_LIMIT_PER_PREFIX": "1000/hour",
        "SMS_OTP_SEND_LIMIT_PER_IP": "1000/hour",
        "SMS_OTP_CIRCUIT_BREAKER": {"failures": 2, "cool_off": 60},
    }
    first = _app(make_app, providers, **shared)
    second = _app(make_app, providers, **shared)
    providers["aliyun"].answer = "refuse"
    send(first, "+8613800138001")
    send(first, "+8613800138002")  # the second failure in a row opens aliyun's circuit
    assert providers["aliyun"].requests == 2
    send(second, "+8613800138003")
    # The other process skips aliyun: it goes straight to tencent.
    assert providers["aliyun"].requests == 2
    assert providers["tencent"].requests == 3
    assert records(second)[-1] == ("tencent", "sent")


OTHER_PROCESS_APP = """
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from flask_sms_otp import SmsOtp

def create_app():
    app = Flask(__name__)
    app.config.update(SECRET_KEY="another-process", DEBUG=True)
    app.config.from_prefixed_env()  # FLASK_SMS_OTP_CONNECTORS='{...}' and the like
    db = SQLAlchemy(app)
    SmsOtp(app, db=db)
    with app.app_context():
        db.create_all()
    return app
"""


def flask_in_another_process(
    directory: Path, config: dict[str, Any], *args: str
) -> subprocess.CompletedProcess[str]:
    """``flask sms-otp ARGS`` in an OS process of its own, configured like this one."""
    (directory / "otherapp.py").write_text(OTHER_PROCESS_APP)
    env = {f"FLASK_{key}": json.dumps(value) for key, value in config.items()}
    env["FLASK_SQLALCHEMY_DATABASE_URI"] = json.dumps(f"sqlite:///{directory}/other.db")
    return subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-m", "flask", "--app", "otherapp", "sms-otp", *args],
        cwd=directory,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.real_limits
def test_a_circuit_opened_by_another_os_process_is_skipped_here(
    make_app: AppFactory, providers: dict[str, Provider], tmp_path: Path
) -> None:
    """Must show: two processes on Redis. A ``flask`` CLI process of its own opens
    aliyun's circuit; this process then sends Chinese numbers straight to tencent, and
    a third process reports the circuit open."""
    shared = {
        "SMS_OTP_CONNECTORS": connectors(providers),
        "SMS_OTP_ROUTES": ROUTES,
        "RATELIMIT_STORAGE_URI": require_redis(REDIS_URI),
        "RATELIMIT_KEY_PREFIX": f"routing-{uuid.uuid4().hex}",
        "SMS_OTP_CIRCUIT_BREAKER": {"failures": 2, "cool_off": 60},
    }
    providers["aliyun"].answer = "refuse"
    for _ in range(2):  # each send-test fails over to tencent and exits 0
        done = flask_in_another_process(tmp_path, shared, "send-test", "+8613800138001")
        assert done.returncode == 0, done.stderr
        assert "via tencent" in done.stdout
    assert (providers["aliyun"].requests, providers["tencent"].requests) == (2, 2)

    here = _app(make_app, providers, SMS_OTP_SEND_LIMIT_PER_IP="1000/hour", **shared)
    providers["aliyun"].answer = "accept"  # it would now answer, but its circuit is open
    send(here, "+8613800138002")
    assert (providers["aliyun"].requests, providers["tencent"].requests) == (2, 3)
    assert records(here) == [("tencent", "sent")]

    shown = flask_in_another_process(tmp_path, shared, "connectors")
    assert shown.returncode == 0, shown.stderr
    rows = {line.split()[0]: line for line in shown.stdout.splitlines() if line.strip()}
    assert rows["aliyun"].split()[3] == "open"
    assert "closed" in rows["tencent"]


def test_with_every_circuit_open_the_route_is_still_tried(
    make_app: AppFactory, providers: dict[str, Provider]
) -> None:
    app = _app(make_app, providers, SMS_OTP_CIRCUIT_BREAKER={"failures": 1})
    providers["twilio"].answer = "refuse"
    send(app, AMERICAN)
    providers["twilio"].answer = "accept"
    send(app, "+12015550124")  # twilio's circuit is open, but it is all the route has
    assert providers["twilio"].requests == 2
    assert records(app)[-1] == ("twilio", "sent")


def test_the_single_connector_keeps_its_name_and_serves_every_region(
    make_app: AppFactory,
) -> None:
    app = make_app()
    send(app, CHINESE)
    assert records(app) == [("memory", "sent")]


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"SMS_OTP_CONNECTORS": {"x": {"connector": "nope"}}}, "unknown connector 'nope'"),
        ({"SMS_OTP_CONNECTORS": {"Bad Name": {"connector": "memory"}}}, "not a connector name"),
        ({"SMS_OTP_CONNECTORS": {"x": {"config": {}}}}, "names no connector type"),
        (
            {"SMS_OTP_CONNECTORS": {"tw": {"connector": "twilio", "config": {}}}},
            "SMS_OTP_CONNECTORS['tw']: SMS_OTP_CONNECTOR_CONFIG.",
        ),
        (
            {
                "SMS_OTP_CONNECTORS": {"m": {"connector": "memory"}},
                "SMS_OTP_ROUTES": [{"regions": "*", "connectors": ["m", "ghost"]}],
            },
            "names 'ghost'",
        ),
        (
            {"SMS_OTP_ROUTES": [{"regions": ["XX"], "connectors": ["default"]}]},
            "'XX' is not an ISO 3166 region",
        ),
        (
            {"SMS_OTP_ROUTES": [{"regions": ["CN"], "connectors": ["default"]}]},
            "no route serves every region",
        ),
        (
            {
                "SMS_OTP_ALLOWED_REGIONS": ["CN", "GB", "US"],
                "SMS_OTP_ROUTES": [{"regions": ["CN", "US"], "connectors": ["default"]}],
            },
            "no route serves GB",
        ),
        ({"SMS_OTP_ROUTES": [{"regions": "*", "connectors": []}]}, "must list connector names"),
        ({"SMS_OTP_CIRCUIT_BREAKER": {"failures": 0}}, "between 1 and 1000"),
    ],
)
def test_every_name_and_region_is_checked_at_start_up(
    make_app: AppFactory, config: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        make_app(**config)
    assert problem in str(raised.value)


def test_a_blocked_region_needs_no_route(make_app: AppFactory) -> None:
    app = make_app(
        SMS_OTP_ALLOWED_REGIONS=["CN", "GB"],
        SMS_OTP_BLOCKED_REGIONS=["GB"],
        SMS_OTP_ROUTES=[{"regions": ["CN"], "connectors": ["default"]}],
    )
    send(app, CHINESE)
    assert records(app) == [("memory", "sent")]


def test_the_connectors_command_shows_routes_circuits_and_failure_rates(
    make_app: AppFactory, providers: dict[str, Provider]
) -> None:
    app = _app(make_app, providers, SMS_OTP_CIRCUIT_BREAKER={"failures": 2})
    providers["aliyun"].answer = "refuse"
    send(app, "+8613800138001")
    send(app, "+8613800138002")
    send(app, AMERICAN)
    result = app.test_cli_runner().invoke(args=["sms-otp", "connectors"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines()[1:4]}
    assert rows["aliyun"].split()[1:4] == ["aliyun", "CN", "open"]
    assert rows["aliyun"].endswith("2/2 (100%)")
    assert "closed (0 in a row)" in rows["tencent"]
    assert rows["tencent"].endswith("0/2 (0%)")
    assert rows["twilio"].split()[2] == "*"
    assert rows["twilio"].endswith("0/1 (0%)")
    # No secret of any connector is shown.
    for provider in providers.values():
        assert provider.contract.secret_field not in result.output
        assert str(provider.config()[provider.contract.secret_field]) not in result.output


def test_send_test_goes_through_the_route_or_through_the_connector_named(
    make_app: AppFactory, providers: dict[str, Provider]
) -> None:
    app = _app(make_app, providers)
    runner = app.test_cli_runner()
    providers["aliyun"].answer = "refuse"
    routed = runner.invoke(args=["sms-otp", "send-test", CHINESE])
    assert routed.exit_code == 0, routed.output
    assert [p.requests for p in providers.values()] == [1, 1, 0]
    alone = runner.invoke(args=["sms-otp", "send-test", CHINESE, "--connector", "aliyun"])
    assert alone.exit_code == 1
    assert "isv.MOBILE_NUMBER_ILLEGAL" in alone.output
    assert [p.requests for p in providers.values()] == [2, 1, 0]
    unknown = runner.invoke(args=["sms-otp", "send-test", CHINESE, "--connector", "nope"])
    assert unknown.exit_code == 2
    assert "configured: aliyun, tencent, twilio" in unknown.output
