"""Twilio Verify v2 with a custom code: our engine makes and checks the code, Twilio sends it.

Verify brings its fraud screening (Fraud Guard, Geo Permissions) and per-verification
pricing. With a custom code it asks the sender to report which verifications succeeded
("If you're using custom verification codes you must also provide feedback", Twilio's
*Customization Options* page), so each send starts a verification with ``CustomCode``
(``POST /v2/Services/{ServiceSid}/Verifications``) and, once the code was used,
:meth:`report_verified` sets it ``approved``
(``POST /v2/Services/{ServiceSid}/Verifications/{Sid}``, ``Status=approved``). The text
is Verify's own template, in the language Twilio picks for the number; this connector has
no ``templates``. Twilio's error JSON is the Messaging API's (:mod:`.twilio`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from ..errors import DeliveryError, ProviderRejected
from ..usage import LINK_USAGES
from .base import DeliveryResult, SmsMessage
from .httpbase import HttpConnector, basic_auth
from .twilio import form_urlencode, json_field

DEFAULT_ORIGIN = "https://verify.twilio.com"
FORM = "application/x-www-form-urlencoded"
#: Verify's "Max send attempts reached" (60203) and the API's "Too Many Requests" (20429).
RATE_LIMIT_CODES = frozenset({"60203", "20429"})


class TwilioVerifyConnector(HttpConnector):
    name = "twilio_verify"
    secret_fields = frozenset({"authToken"})
    reports_verified = True
    codes_only = True

    def configure(self, config: Mapping[str, Any]) -> None:
        self.account_sid = self.require_str(config, "accountSID")
        auth_token = self.require_str(config, "authToken")
        self.service_sid = self.require_str(config, "serviceSID")
        origin = self.endpoint_origin(config, default=DEFAULT_ORIGIN)
        self.service_url = f"{origin}/v2/Services/{quote(self.service_sid, safe='')}"
        self.verifications_url = f"{self.service_url}/Verifications"
        self._authorization = basic_auth(self.account_sid, auth_token)

    def derived_secrets(self) -> Iterable[str]:
        return (self._authorization.removeprefix("Basic "),)

    def send(self, message: SmsMessage) -> DeliveryResult:
        if not message.code or message.usage in LINK_USAGES:
            # A notice has no code, an invitation a link, and Verify sends nothing but codes.
            raise DeliveryError("Twilio Verify sends only codes", connector=self.name)
        to = message.to if message.to.startswith("+") else f"+{message.to}"
        body = form_urlencode([("To", to), ("Channel", "sms"), ("CustomCode", message.code)])
        response = self._post(self.verifications_url, body)
        if not response.is_success:
            raise self._failure(response)
        return DeliveryResult(connector=self.name, message_id=json_field(response, "sid"))

    def report_verified(self, message_id: str) -> None:
        """Set the verification ``approved``: its code was used here."""
        url = f"{self.verifications_url}/{quote(message_id, safe='')}"
        response = self._post(url, form_urlencode([("Status", "approved")]))
        if not response.is_success:
            raise self._failure(response)

    def check(self) -> str | None:
        """Fetch the Verify service: proves the credentials and the service SID, and that
        the service takes custom codes, without sending anything."""
        response = self.request(
            "GET", self.service_url, headers={"Authorization": self._authorization}
        )
        if not response.is_success:
            raise self._failure(response)
        body = self.json_body(response)
        service = body if isinstance(body, dict) else {}
        name = service.get("friendly_name")
        if service.get("custom_code_enabled") is False:
            raise ProviderRejected(
                f"the Verify service {self.service_sid} does not take custom codes: "
                "turn on 'Enable Custom Verification Code' in its settings",
                connector=self.name,
                status_code=response.status_code,
            )
        named = f" ({self.provider_text(name)})" if isinstance(name, str) and name else ""
        return f"Twilio Verify service {self.service_sid}{named} answered"

    def _post(self, url: str, body: str) -> httpx.Response:
        return self.request(
            "POST",
            url,
            content=body.encode("ascii"),
            headers={"Authorization": self._authorization, "Content-Type": FORM},
        )

    def _failure(self, response: httpx.Response) -> DeliveryError:
        """Twilio's error JSON, ``{code, message, more_info, status}``: 60410 (Fraud Guard
        blocked the prefix) and 60605 (Geo Permissions) are refusals like any 4xx."""
        code = json_field(response, "code")
        text = json_field(response, "message")
        text = self.provider_text(response.text if code is None and text is None else text)
        return self.error_for_status(
            response,
            provider_code=code,
            provider_message=text,
            rate_limited=code in RATE_LIMIT_CODES,
        )
