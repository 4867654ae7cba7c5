"""The pumping guard: a simulated attack on one number block, and on one country, is held
within the window; ordinary traffic elsewhere never is. Holds are shared by every process,
end on time, on recovery or by an operator, and answer alike for every number."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from pytest_httpserver import HTTPServer

from flask_sms_otp import ConfigurationError, signals
from flask_sms_otp.connectors.memory import SentSms
from flask_sms_otp.errors import CaptchaFailed
from flask_sms_otp.guard import Hold
from flask_sms_otp.records import DeliveryRecords, block_key
from flask_sms_otp.state import get_state

from .helpers import (
    PASSWORD,
    PLAIN_HTTP,
    ApiClient,
    AppFactory,
    FakeClock,
    Siteverify,
    add_user,
    error_code,
    last_code,
    sent_to,
    submit,
    valid_mobile,
)

#: Small enough for a test to reach; grace and window as in production.
GUARD = {"interval": 0, "min_sends": 10, "min_block_sends": 5, "grace": 300, "hold": 7200}
#: The attacked block of 10,000 numbers: +44 7400 12xx xx.
ATTACKED = [valid_mobile(f"+44740012{i:04d}") for i in range(40)]


def ordinary(number: int) -> str:
    """A British mobile number in a block of its own (no two share the first eight digits)."""
    return valid_mobile(f"+4474{number % 90 + 10:02d}{number * 7919 % 1000000:06d}")


def _app(make: AppFactory, clock: FakeClock, uri: str | None = None, **config: Any) -> Flask:
    if uri is not None:
        config["SQLALCHEMY_DATABASE_URI"] = uri
    config.setdefault("SMS_OTP_PUMPING_GUARD", GUARD)
    return make(clock=clock, **PLAIN_HTTP, **config)


def sign_up(app: Flask, phone: str, outbox: list[SentSms]) -> None:
    """An ordinary person: asks for a code and types it."""
    client = ApiClient(app, ip="198.51.100.7")
    vid = client.request_code(phone, "Register")
    code = last_code(phone, outbox=outbox)
    answer = client.post("/sign-up", {"verification_id": vid, "code": code, "password": PASSWORD})
    assert answer.status_code == 201, answer.get_json()


def history(app: Flask, clock: FakeClock, outbox: list[SentSms], *, sent: int, used: int) -> None:
    """Yesterday's traffic: ``sent`` codes to British numbers, ``used`` of them typed."""
    clock.advance(-86400)
    for n in range(sent):
        if n < used:
            sign_up(app, ordinary(1000 + n), outbox)
        else:
            ApiClient(app).request_code(ordinary(1000 + n), "Register")
        clock.advance(60)
    clock.advance(86400 - 60 * sent)


@contextmanager
def caught(signal: Any) -> Iterator[list[dict[str, Any]]]:
    received: list[dict[str, Any]] = []

    def receiver(sender: Flask, **data: Any) -> None:
        received.append(data)

    signal.connect(receiver)
    try:
        yield received
    finally:
        signal.disconnect(receiver)


def test_a_burst_to_one_block_is_held_within_the_window_and_other_traffic_never_is(
    make_app: AppFactory,
    clock: FakeClock,
    database_uri: str,
    sms_outbox: list[SentSms],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = _app(make_app, clock, database_uri)
    history(app, clock, sms_outbox, sent=14, used=11)
    attacker = ApiClient(app, ip="203.0.113.66")
    held_at = None
    with caught(signals.pumping_suspected) as suspected, caplog.at_level(logging.WARNING):
        for step, number in enumerate(ATTACKED):
            # Ordinary people keep signing up elsewhere, every step.
            sign_up(app, ordinary(step), sms_outbox)
            answer = attacker.send_code(number, "Register")
            if answer.status_code == 429:
                held_at = step
                break
            assert answer.status_code == 202
            clock.advance(120)  # one code every two minutes, none ever typed
    assert held_at is not None, "the attack was never held"
    assert error_code(answer) == "sends_held"
    assert int(answer.headers["Retry-After"]) == 7200
    # Held within the window: five codes counted after their grace, and no more.
    assert held_at * 120 <= 3600
    assert held_at == 7
    attacked = [m for m in sms_outbox if m.to in ATTACKED]
    assert len(attacked) == held_at
    assert [data["hold"].scope for data in suspected] == ["block"]
    hold: Hold = suspected[0]["hold"]
    assert (hold.sent, hold.verified, hold.country) == (5, 0, "GB")
    assert hold.baseline == pytest.approx(11 / 14)
    assert hold.label == "+447400******"
    assert "pumping suspected" in caplog.text
    assert "+447400******" in caplog.text
    # The block stays held; the rest of the country and the world are not.
    for number in ATTACKED[held_at : held_at + 3]:
        assert error_code(attacker.send_code(number, "Register")) == "sends_held"
    assert len([m for m in sms_outbox if m.to in ATTACKED]) == held_at
    sign_up(app, ordinary(500), sms_outbox)
    sign_up(app, valid_mobile("+12015550123"), sms_outbox)


def test_a_country_with_no_history_is_held_when_its_codes_go_unused(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = _app(make_app, clock)
    history(app, clock, sms_outbox, sent=14, used=11)
    attacker = ApiClient(app, ip="203.0.113.66")
    # One number per block, so no block reaches its own minimum: only the country can tell.
    latvian = [valid_mobile(f"+3712{i:03d}{i:04d}") for i in range(30)]
    with caught(signals.pumping_suspected) as suspected:
        for step, number in enumerate(latvian):
            sign_up(app, ordinary(step), sms_outbox)
            answer = attacker.send_code(number, "Register")
            if answer.status_code != 202:
                break
            clock.advance(60)
    assert error_code(answer) == "sends_held"
    # Ten counted (older than the five-minute grace) with none used.
    assert step == 15
    assert [(d["hold"].scope, d["hold"].key, d["hold"].sent) for d in suspected] == [
        ("country", "LV", 10)
    ]
    sign_up(app, ordinary(99), sms_outbox)


class RefusingCheck:
    """A bot check nobody here passes: the attacker has no token."""

    when = "guard"

    def require(self, token: str | None, remote_ip: str | None) -> None:
        raise CaptchaFailed(provider="turnstile", site_key="site-key")


@pytest.mark.parametrize("bot_check", [False, True])
def test_the_apps_own_country_is_held_only_when_a_bot_check_can_let_its_people_through(
    make_app: AppFactory,
    clock: FakeClock,
    sms_outbox: list[SentSms],
    caplog: pytest.LogCaptureFixture,
    bot_check: bool,
) -> None:
    # Anyone can make codes go unused: without a bot check, holding the app's own country
    # would let a vandal shut out every new user there.
    app = _app(make_app, clock)
    history(app, clock, sms_outbox, sent=14, used=11)
    state = get_state(app)
    assert state.guard is not None
    if bot_check:
        state.guard.bot_check = True
        state.challenges.bot_check = RefusingCheck()
    vandal = ApiClient(app, ip="203.0.113.66")
    answers = []
    with caplog.at_level(logging.WARNING):
        for step in range(30):  # one number per block: only the country can tell
            answer = vandal.send_code(ordinary(2000 + step), "Register")
            answers.append(answer.get_json().get("error", {}).get("code", "sent"))
            clock.advance(60)
    if bot_check:
        assert answers.index("captcha_failed") == 15
        assert set(answers[15:]) == {"captcha_failed"}
    else:
        assert set(answers) == {"sent"}
        assert caplog.text.count("not held without a bot check") == 1
        sign_up(app, ordinary(3000), sms_outbox)


def test_a_held_block_answers_alike_for_numbers_with_and_without_an_account(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = _app(make_app, clock)
    member = ATTACKED[-1]
    add_user(app, member)
    attack(app, clock)
    client = ApiClient(app)
    with_account = client.send_code(member, "SignIn")
    without = client.send_code(ATTACKED[-2], "SignIn")
    assert with_account.status_code == without.status_code == 429
    assert with_account.get_json() == without.get_json()
    assert with_account.headers["Retry-After"] == without.headers["Retry-After"]
    assert sent_to(sms_outbox, member) == []


def attack(app: Flask, clock: FakeClock) -> int:
    """Codes to the attacked block, two minutes apart, until it is held; how many went."""
    attacker = ApiClient(app, ip="203.0.113.66")
    for step, number in enumerate(ATTACKED[:20]):
        answer = attacker.send_code(number, "Register")
        if answer.status_code == 429:
            assert error_code(answer) == "sends_held"
            return step
        clock.advance(120)
    raise AssertionError("the attack was never held")


def test_the_pages_say_a_held_number_cannot_get_a_code_now_and_send_nothing(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = _app(make_app, clock)
    attack(app, clock)
    before = len(sms_outbox)
    for page in ("/auth/sign-up", "/auth/sign-in/code", "/auth/reset-password"):
        refused = submit(app.test_client(), page, {"phone": ATTACKED[25]})
        assert refused.status_code == 429, page
        assert refused.headers["Retry-After"] == "7200"
        assert "Codes cannot be sent to this number right now. Try again in 2 hours." in (
            refused.text
        )
    assert len(sms_outbox) == before


def test_a_hold_made_by_one_process_stops_the_others(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms], sqlite_uri: str
) -> None:
    # Two apps on one database: two processes of one deployment (tables made once, first).
    other = _app(make_app, clock, sqlite_uri)
    app = _app(make_app, clock, sqlite_uri)
    attack(app, clock)
    answer = ApiClient(other).send_code(ATTACKED[30], "Register")
    assert error_code(answer) == "sends_held"
    assert sent_to(sms_outbox, ATTACKED[30]) == []


def test_resends_into_a_held_block_answer_alike_with_and_without_an_account(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = _app(make_app, clock)
    member = ATTACKED[-1]
    add_user(app, member)
    client = ApiClient(app)
    real = client.request_code(member, "SignIn")  # a code goes out
    silent = client.request_code(ATTACKED[-2], "SignIn")  # nothing goes out, and no one may tell
    clock.advance(120)
    attack(app, clock)
    answers = [client.post(f"/verification-codes/{vid}/resend") for vid in (real, silent)]
    assert [a.status_code for a in answers] == [429, 429]
    assert answers[0].get_json() == answers[1].get_json()
    assert answers[0].headers["Retry-After"] == answers[1].headers["Retry-After"]
    assert len(sent_to(sms_outbox, member)) == 1


def test_a_resend_into_a_held_block_is_refused(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = _app(make_app, clock)
    client = ApiClient(app, ip="203.0.113.66")
    first = client.request_code(ATTACKED[0], "Register")
    clock.advance(120)
    attack(app, clock)
    before = len(sms_outbox)
    answer = client.post(f"/verification-codes/{first}/resend")
    assert answer.status_code == 429
    assert error_code(answer) == "sends_held"
    assert len(sms_outbox) == before


def test_a_hold_ends_on_time_and_is_not_renewed_by_old_figures(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = _app(make_app, clock)
    attack(app, clock)
    clock.advance(7200)
    assert ApiClient(app).send_code(ATTACKED[30], "Register").status_code == 202


def test_an_operator_lists_and_releases_holds_from_the_command_line(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = _app(make_app, clock)
    attack(app, clock)
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["sms-otp", "guard"])
    assert listed.exit_code == 0, listed.output
    (line,) = [row for row in listed.output.splitlines() if row.startswith("block")]
    assert "+447400******" in line
    assert "0/5" in line
    assert not any(number in listed.output for number in ATTACKED)
    key = line.split()[1]
    with caught(signals.pumping_released) as released:
        freed = runner.invoke(args=["sms-otp", "guard", "release", key])
    assert freed.exit_code == 0, freed.output
    assert "Released block" in freed.output
    assert [data["by"] for data in released] == ["operator"]
    assert "no active holds" in runner.invoke(args=["sms-otp", "guard"]).output
    assert key in runner.invoke(args=["sms-otp", "guard", "--all"]).output
    # Only sends after the release are judged: the old unused codes do not hold it again.
    client = ApiClient(app)
    for number in ATTACKED[20:24]:
        assert client.send_code(number, "Register").status_code == 202
        clock.advance(120)
    again = runner.invoke(args=["sms-otp", "guard", "release", key])
    assert again.exit_code != 0
    assert "no active hold" in again.output


class PassingCheck:
    """A bot check every sender passes, asked only while the guard holds the number."""

    when = "guard"

    def __init__(self) -> None:
        self.asked = 0

    def require(self, token: str | None, remote_ip: str | None) -> None:
        self.asked += 1


def test_with_a_bot_check_a_held_block_lets_people_through_and_recovers_when_codes_are_used(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = _app(make_app, clock)
    attack(app, clock)
    check = PassingCheck()
    get_state(app).challenges.bot_check = check
    with caught(signals.pumping_released) as released:
        for number in ATTACKED[20:26]:
            sign_up(app, number, sms_outbox)
            clock.advance(60)
    # Asked while held; five codes used since the hold began lift it before the sixth.
    assert check.asked == 5
    assert [data["by"] for data in released] == ["recovered"]
    ApiClient(app).request_code(ATTACKED[30], "Register")
    assert check.asked == 5


def test_codes_to_an_account_holder_are_never_held(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = _app(make_app, clock)
    member = ATTACKED[-1]
    add_user(app, member)
    attack(app, clock)
    client = ApiClient(app)
    assert client.sign_in_password(member).status_code == 200
    assert client.verify_identity(sms_outbox).status_code == 200


def test_the_guard_can_be_turned_off(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = _app(make_app, clock, SMS_OTP_PUMPING_GUARD=False)
    client = ApiClient(app)
    for number in ATTACKED[:15]:
        assert client.send_code(number, "Register").status_code == 202
        clock.advance(120)
    assert "is off" in app.test_cli_runner().invoke(args=["sms-otp", "guard"]).output


def test_the_records_hold_each_block_as_a_keyed_digest_not_in_clear(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms]
) -> None:
    app = _app(make_app, clock)
    ApiClient(app).request_code(ATTACKED[0], "Register")
    with app.app_context():
        state = get_state(app)
        records = state.delivery.records
        assert records is not None
        (block,) = state.db.session.scalars(sa.select(state.models.DeliveryRecord.block)).all()
        assert block == records.block_of(ATTACKED[1]) != records.block_of(ordinary(1))
        assert len(block) == 16
        assert "74001" not in block
        # Keyed by the app's secret: another app's digest of the same block differs.
        other = DeliveryRecords(state.db, state.models, block_key=block_key("another-secret"))
        assert other.block_of(ATTACKED[0]) != block


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("nope", "JSON"),
        ([1], "dict"),
        ({"windw": 60}, "unknown"),
        ({"window": 10}, "between"),
        ({"ratio": 0}, "above 0"),
        ({"ratio": True}, "above 0"),
        ({"min_sends": "many"}, "integer"),
        ({"grace": 3600, "window": 3600}, "shorter"),
    ],
)
def test_a_wrong_setting_is_refused_at_start_up_naming_the_key(
    make_app: AppFactory, value: Any, problem: str
) -> None:
    with pytest.raises(ConfigurationError, match="SMS_OTP_PUMPING_GUARD") as raised:
        make_app(SMS_OTP_PUMPING_GUARD=value)
    assert problem in str(raised.value)


def test_a_held_block_lets_a_person_through_the_real_bot_check_and_stops_a_script(
    make_app: AppFactory, clock: FakeClock, sms_outbox: list[SentSms], httpserver: HTTPServer
) -> None:
    siteverify = Siteverify(httpserver, "captcha-secret", "a-person")
    captcha = {
        "provider": "turnstile",
        "site_key": "site-key",
        "secret": "captcha-secret",
        "when": "guard",
        "endpoint": siteverify.url,
    }
    app = _app(make_app, clock, SMS_OTP_CAPTCHA=captcha)
    attacker = ApiClient(app, ip="203.0.113.66")
    answers = []
    for number in ATTACKED[:10]:
        answers.append(attacker.send_code(number, "Register"))
        clock.advance(120)
    # No bot check is asked until the block is held; then the script without a token stops.
    assert [a.status_code for a in answers] == [202] * 7 + [400] * 3
    answer = answers[-1]
    assert answer.get_json()["error"]["code"] == "captcha_failed"
    assert siteverify.forms == []
    assert len([m for m in sms_outbox if m.to in ATTACKED]) == 7
    person = ApiClient(app, ip="198.51.100.9")
    through = person.post(
        "/verification-codes",
        {"phone": ATTACKED[30], "usage": "Register", "captcha_token": "a-person"},
    )
    assert through.status_code == 202
    assert [form["response"] for form in siteverify.forms] == [["a-person"]]
    assert sent_to(sms_outbox, ATTACKED[30]) != []
    # Elsewhere nothing is asked.
    assert person.send_code(ordinary(7), "Register").status_code == 202
    assert len(siteverify.forms) == 1
