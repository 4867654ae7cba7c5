"""Security bar check 12: no code, and no unkeyed hash of one, in any response body, header
or cookie (Flask's session cookie is only signed: its payload decodes without the key)."""

from __future__ import annotations

import base64
import hashlib
import re
import zlib

from werkzeug.test import TestResponse

from flask_sms_otp.testing import SentSms

from .helpers import (
    PHONE,
    AppFactory,
)


def cookie_payloads(response: TestResponse) -> list[str]:
    """Every Set-Cookie value, and the decoded payload of signed-cookie sessions."""
    out = []
    for header in response.headers.getlist("Set-Cookie"):
        value = header.split(";", 1)[0].split("=", 1)[1]
        out.append(value)
        compressed = value.startswith(".")
        head = value.lstrip(".").split(".", 1)[0]
        if not head:
            continue
        raw = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))
        out.append((zlib.decompress(raw) if compressed else raw).decode("utf-8", "replace"))
    return out


def exposures(response: TestResponse) -> str:
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    return "\n".join([response.get_data(as_text=True), headers, *cookie_payloads(response)])


def forbidden(code: str) -> list[str]:
    """The code, and unkeyed hashes of it (what Supabase stores), in hex."""
    return [code] + [
        hashlib.new(name, data.encode()).hexdigest()
        for name in ("sha256", "sha224", "sha1", "md5")
        for data in (code, PHONE + code)
    ]


def assert_clean(responses: list[TestResponse], outbox: list[SentSms]) -> None:
    assert outbox, "the flow sent no code: the test would prove nothing"
    seen = "\n".join(exposures(r) for r in responses)
    assert "session" in seen  # cookies were there to be inspected
    for message in outbox:
        for secret in forbidden(message.code):
            assert secret not in seen, f"{secret!r} leaked"


def test_the_json_flows_never_show_the_code(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    client = make_app().test_client()
    seen = [client.get("/auth/api/csrf")]
    token = seen[0].json["csrf_token"]  # type: ignore[index]

    def post(path: str, body: dict[str, object]) -> TestResponse:
        nonlocal token
        response = client.post(f"/auth/api{path}", json=body, headers={"X-CSRFToken": token})
        token = response.headers.get("X-CSRFToken", token)
        seen.append(response)
        return response

    sent = post("/verification-codes", {"phone": PHONE, "usage": "Register"})
    vid = sent.json["verification_id"]  # type: ignore[index]
    post("/sign-up", {"verification_id": vid, "code": "000000"})  # a wrong one first
    post("/sign-up", {"verification_id": vid, "code": sms_outbox[-1].code, "password": "pw" * 5})
    post("/sign-out", {})
    sent = post("/verification-codes", {"phone": PHONE, "usage": "SignIn"})
    post(
        "/sign-in/code",
        {
            "verification_id": sent.json["verification_id"],  # type: ignore[index]
            "code": sms_outbox[-1].code,
        },
    )
    assert [r.status_code for r in seen] == [200, 202, 400, 201, 204, 202, 200]
    assert_clean(seen, sms_outbox)


def test_the_html_flows_never_show_the_code(
    make_app: AppFactory, sms_outbox: list[SentSms]
) -> None:
    client = make_app().test_client()
    seen: list[TestResponse] = []

    def csrf(path: str) -> str:
        page = client.get(path)
        seen.append(page)
        found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
        assert found is not None
        return found.group(1)

    seen.append(
        client.post("/auth/sign-up", data={"csrf_token": csrf("/auth/sign-up"), "phone": PHONE})
    )
    step = "/auth/sign-up/verify"
    seen.append(client.post(step, data={"csrf_token": csrf(step), "code": "000000"}))
    seen.append(
        client.post(
            step,
            data={
                "csrf_token": csrf(step),
                "code": sms_outbox[-1].code,
                "password": "correct horse battery",
            },
        )
    )
    assert seen[-1].status_code == 302
    assert client.get("/auth/account").status_code == 200
    # The decoded session really was read: the flow's challenge id is in it.
    assert "_sms_otp_flow" in "\n".join(p for r in seen for p in cookie_payloads(r))
    assert_clean(seen, sms_outbox)
