"""Take the screenshots of the example app's pages shown in docs/flows.md and docs/admin.md.

Run by hand (not in CI), from the repository root, with the venv's Python:

    .venv/bin/python docs/screenshots.py --locale en
    .venv/bin/python docs/screenshots.py --locale zh-CN

It serves the example app on a free local port with the ``memory`` connector (so the codes
are read from its outbox), drives Debian's Chromium through Playwright with the browser's
language set to ``--locale`` (its ``Accept-Language``), walks every flow and writes one PNG
per step to ``docs/_static/screenshots/<locale>/``; then, signed in as the admin the
example app's check accepts, some activity added to the database (sends to four countries,
a held country, a locked number), one PNG per admin page. Fields and buttons are found by their
names and form actions, not their text, so the walk works in every language.

Chinese text needs a CJK font on the machine (Debian: ``apt-get install fonts-noto-cjk``);
without one Chromium draws boxes.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from flask import Flask
from playwright.sync_api import Page, Response, sync_playwright
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "_static" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 900, "height": 700}
PASSWORD = "correct horse battery"  # noqa: S105 - a throwaway demo account
NEW_PASSWORD = "staple battery horse"  # noqa: S105

sys.path.insert(0, str(ROOT))  # the example app lives next to docs/, not in the package


ADMIN_VIEWPORT = {"width": 1200, "height": 900}


@contextmanager
def serve_example_app(instance: Path, admin: str) -> Iterator[tuple[Flask, str]]:
    """The example app on http://127.0.0.1:<free port>, its admin pages open to the number
    ``admin``; yields the app and its base URL."""
    from example_app import create_app

    app = create_app(
        {
            "SECRET_KEY": "screenshots",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'screenshots.db'}",
            "SMS_OTP_CONNECTOR": "memory",
            "SMS_OTP_SECURE_COOKIES": False,
            # One number gets every kind of code within a minute.
            "SMS_OTP_SEND_LIMIT_PER_NUMBER": "20/hour",
            "SMS_OTP_SEND_LIMIT_PER_IP": "20/hour",
            "SMS_OTP_ADMIN": True,
            "ADMIN_PHONES": [admin],
        }
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="example-app", daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def last_code(phone: str, usage: str) -> str:
    """The code of the latest ``usage`` SMS to ``phone`` in the memory connector's outbox."""
    from flask_sms_otp.testing import outbox

    sent = [sms for sms in outbox if sms.to == phone and sms.usage == usage]
    if not sent:
        raise RuntimeError(f"no {usage} SMS to {phone} in the outbox")
    return sent[-1].code


class Walk:
    """Drives one browser page through the flows, saving a PNG per step."""

    def __init__(self, page: Page, base: str, out: Path, phone: str) -> None:
        self.page = page
        self.base = base
        self.out = out
        self.phone = phone

    def shot(self, name: str) -> None:
        """The viewport, less the empty space below the page's content."""
        path = self.out / f"{name}.png"
        bottom = self.page.evaluate(
            "Math.ceil(document.querySelector('main').getBoundingClientRect().bottom)"
        )
        size = self.page.viewport_size or VIEWPORT
        height = min(size["height"], int(bottom) + 24)
        self.page.screenshot(
            path=str(path), clip={"x": 0, "y": 0, "width": size["width"], "height": height}
        )
        print(f"wrote {path}")

    def go(self, path: str) -> None:
        self.check(self.page.goto(self.base + path))

    def check(self, response: Response | None) -> None:
        """Stop at a server error rather than photograph it."""
        if response is not None and response.status >= 500:
            raise RuntimeError(f"{response.url} answered {response.status}")

    def fill(self, name: str, value: str) -> None:
        self.page.locator(f"main input[name='{name}']").fill(value)

    def submit(self, field: str | None = None, action: str | None = None) -> None:
        """Press the submit button of the form holding input ``field``, or posting to
        ``action``, or else the page's main form; wait for the next page."""
        if field is not None:
            form = self.page.locator("main form", has=self.page.locator(f"[name='{field}']"))
        elif action is not None:
            form = self.page.locator(f"form[action^='{action}']")
        else:
            form = self.page.locator("main form:not(.resend)")
        with self.page.expect_navigation() as navigation:
            form.locator("button[type='submit']").first.click()
        self.check(navigation.value)

    def expect_path(self, path: str) -> None:
        current = self.page.url.removeprefix(self.base).split("?", 1)[0]
        if current != path:
            raise RuntimeError(f"expected to be on {path}, but the browser is on {current}")

    def sign_out(self) -> None:
        self.submit(action="/auth/sign-out")
        self.expect_path("/")

    def run(self) -> None:
        phone = self.phone
        self.go("/")
        self.shot("home")

        # Sign up: the number, then the code (and a password).
        self.go("/auth/sign-up")
        self.fill("phone", phone)
        self.shot("sign-up")
        self.submit("phone")
        self.expect_path("/auth/sign-up/verify")
        self.fill("code", last_code(phone, "Register"))
        self.fill("password", PASSWORD)
        self.shot("sign-up-verify")
        self.submit("code")
        self.expect_path("/")
        self.shot("home-signed-in")

        # The account page.
        self.go("/auth/account")
        self.shot("account")

        # A page behind verification_required: confirm it's you, by a code.
        self.go("/settings/danger")
        self.expect_path("/auth/verify-identity")
        self.shot("verify-identity")
        self.submit(action="/auth/verify-identity/send")
        self.expect_path("/auth/verify-identity/code")
        self.fill("code", last_code(phone, "UserPermissionValidation"))
        self.shot("verify-identity-code")
        self.submit("code")
        self.expect_path("/settings/danger")
        self.shot("danger")

        # Turn on two-step verification: the phone proves it receives codes.
        self.go("/auth/account/mfa/enable")
        self.shot("enable-mfa")
        self.submit()
        self.expect_path("/auth/account/mfa/verify")
        self.fill("code", last_code(phone, "BindMfa"))
        self.submit("code")
        self.expect_path("/auth/account")
        self.shot("account-mfa-on")
        self.go("/")
        self.sign_out()

        # Sign in with the password; the second step asks for a code.
        self.go("/auth/sign-in")
        self.fill("phone", phone)
        self.fill("password", PASSWORD)
        self.shot("sign-in")
        self.submit("password")
        self.expect_path("/auth/mfa")
        self.fill("code", last_code(phone, "MfaVerification"))
        self.shot("mfa")
        self.submit("code")
        self.expect_path("/")
        self.sign_out()

        # Sign in by code.
        self.go("/auth/sign-in/code")
        self.fill("phone", phone)
        self.shot("sign-in-code")
        self.submit("phone")
        self.expect_path("/auth/sign-in/code/verify")
        self.fill("code", last_code(phone, "SignIn"))
        self.shot("sign-in-code-verify")
        self.submit("code")
        self.expect_path("/")
        self.sign_out()

        # Reset the password: it never signs in; it ends on the sign-in page.
        self.go("/auth/reset-password")
        self.fill("phone", phone)
        self.shot("reset-password")
        self.submit("phone")
        self.expect_path("/auth/reset-password/verify")
        self.fill("code", last_code(phone, "ForgotPassword"))
        self.fill("password", NEW_PASSWORD)
        self.shot("reset-password-verify")
        self.submit("code")
        self.expect_path("/auth/sign-in")
        self.shot("reset-password-done")


class AdminWalk(Walk):
    """The admin pages, signed in as the admin, after the flows' walk (MFA on, the password
    reset to ``NEW_PASSWORD``)."""

    def run(self) -> None:
        self.go("/auth/sign-in")
        self.fill("phone", self.phone)
        self.fill("password", NEW_PASSWORD)
        self.submit("password")
        self.fill("code", last_code(self.phone, "MfaVerification"))
        self.submit("code")
        self.go("/auth/admin/")
        self.fill("phone", "+447400123456")
        self.submit("phone")
        self.expect_path("/auth/admin/")
        self.shot("admin-connectors")
        self.go("/auth/admin/deliveries")
        self.shot("admin-deliveries")
        self.go("/auth/admin/conversion")
        self.shot("admin-conversion")
        self.go("/auth/admin/locks")
        self.shot("admin-locks")
        self.submit(action="/auth/admin/locks/unlock")
        self.go("/auth/admin/audit")
        self.shot("admin-audit")


def add_activity(app: Flask) -> None:
    """A day of sends to four countries (codes to Kazakhstan going unused, as pumping
    looks), a hold on Kazakhstan and a locked number, for the admin pages to show."""
    import sqlalchemy as sa

    from flask_sms_otp.state import get_state

    with app.app_context():
        state = get_state(app)
        records = state.delivery.records
        if records is None:
            raise RuntimeError("the example app keeps no delivery records")
        now = state.challenges.clock()
        sends = {"+8613800138000": 40, "+447400123456": 25, "+12015550199": 18, "+77012345678": 30}
        minute = 0
        for phone, count in sends.items():
            for n in range(count):
                minute += 7
                records.record(
                    challenge_id=None,
                    connector="memory",
                    usage="SignIn",
                    phone=phone[:-2] + f"{n:02d}",
                    status="failed" if n % 13 == 5 else "sent",
                    at=now - timedelta(minutes=minute),
                )
        Record = state.models.DeliveryRecord
        with state.db.engine.begin() as conn:
            for country, share in (("CN", 0.9), ("GB", 0.8), ("US", 0.85), ("KZ", 0.05)):
                found = conn.execute(
                    sa.select(Record.id, Record.created_at).where(
                        Record.country == country, Record.status == "sent"
                    )
                ).all()
                for n, (record_id, created_at) in enumerate(found):
                    delivered = n % 10 < 9
                    conn.execute(
                        sa.update(Record)
                        .where(Record.id == record_id)
                        .values(
                            delivery_status="delivered" if delivered else "undelivered",
                            delivered_at=created_at + timedelta(seconds=2 + n % 17)
                            if delivered
                            else None,
                            verified_at=created_at + timedelta(seconds=40)
                            if delivered and n / len(found) < share
                            else None,
                        )
                    )
            conn.execute(
                sa.insert(state.models.GuardHold).values(
                    scope="country",
                    key="KZ",
                    country="KZ",
                    label="KZ",
                    sent=30,
                    verified=1,
                    baseline=0.85,
                    held_at=now,
                    until=now + timedelta(hours=12),
                )
            )
            conn.execute(
                sa.insert(state.models.FailureCounter).values(
                    phone="+8613800138123",
                    silent=False,
                    failures=0,
                    locked_until=now + timedelta(minutes=15),
                    updated_at=now,
                )
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Take the screenshots of the example app's pages for the docs."
    )
    parser.add_argument(
        "--locale",
        default="en",
        help="the browser's language (Accept-Language), e.g. en or zh-CN; "
        "also the name of the output folder (default: en)",
    )
    parser.add_argument(
        "--phone", default="+12015550123", help="the number to sign up (default: %(default)s)"
    )
    parser.add_argument("--chromium", default=CHROMIUM, help="default: %(default)s")
    parser.add_argument(
        "--out", type=Path, default=OUT, help="parent folder of the per-locale folders"
    )
    args = parser.parse_args(argv)
    out: Path = args.out / args.locale
    out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as instance,
        serve_example_app(Path(instance), args.phone) as (app, base),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=args.chromium, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            context = browser.new_context(
                viewport=VIEWPORT,
                locale=args.locale,
                extra_http_headers={"Accept-Language": args.locale},
            )
            Walk(context.new_page(), base, out, args.phone).run()
            add_activity(app)
            context.set_default_timeout(10_000)
            page = context.new_page()
            page.set_viewport_size(ADMIN_VIEWPORT)
            AdminWalk(page, base, out, args.phone).run()
        finally:
            browser.close()


if __name__ == "__main__":
    main()
