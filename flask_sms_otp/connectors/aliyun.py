"""Alibaba Cloud SMS (Dysmsapi ``SendSms``, version 2017-05-25) with the RPC v1 signature.

The wire format is Logto's ``connector-aliyun-sms`` (providers.md §2.5, §3.1) with two fixes
(§0): ``TemplateParam`` carries only the template's declared variables (``code`` by default,
never the locale), and the mainland-China test runs on the E.164 number, so a ``+1`` number
whose digits happen to look like a Chinese mobile is not sent the ``china`` template.

The signing steps are small pure functions so the official vectors (§7.1) can test them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from ..errors import DeliveryError
from .base import DeliveryResult, SmsMessage
from .httpbase import HttpConnector
from .templates import (
    declared_values,
    find_template,
    template_param_names,
    validate_templates,
)

DEFAULT_ENDPOINT = "https://dysmsapi.aliyuncs.com"

#: Parameters every SendSms call carries, as Logto sends them.
CONSTANT_PARAMS: dict[str, str] = {
    "Action": "SendSms",
    "Format": "json",
    "RegionId": "cn-hangzhou",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureVersion": "1.0",
    "Version": "2017-05-25",
}

#: Aliyun codes meaning "too many messages for now" (flow control, daily/monthly caps).
RATE_LIMIT_CODES = frozenset(
    {"isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL", "isv.MONTH_LIMIT_CONTROL"}
)

#: SmsTemplateType values Logto accepts for a template's ``type`` (validated, never sent).
TEMPLATE_TYPES = frozenset({0, 1, 2, 6, 7})


_CHINA_MOBILE = re.compile(r"(?:\+86|0086|86)?1\d{10}")
_CHINA_MOBILE_STRICT = re.compile(r"(?:\+86|0086|86)1\d{10}")


# Signature (providers.md §3.1) ---------------------------------------------------------


def percent_encode(value: str) -> str:
    """RFC 3986 encoding of UTF-8: only ``A-Z a-z 0-9 - _ . ~`` stay as they are."""
    return quote(value, safe="~")


def canonicalized_query(params: Mapping[str, str]) -> str:
    """The sorted ``enc(name)=enc(value)`` pairs joined by ``&`` (Logto sorts the pairs)."""
    pairs = sorted(f"{percent_encode(k)}={percent_encode(v)}" for k, v in params.items())
    return "&".join(pairs)


def string_to_sign(params: Mapping[str, str], method: str = "POST") -> str:
    """``METHOD&%2F&enc(canonicalized query)``: the query is encoded a second time."""
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonicalized_query(params))}"


def sign_rpc(params: Mapping[str, str], access_key_secret: str, method: str = "POST") -> str:
    """Base64 HMAC-SHA1 of the string to sign, keyed with ``secret + "&"``.

    ``params`` are all request parameters except ``Signature``.
    """
    key = (access_key_secret + "&").encode()
    digest = hmac.new(key, string_to_sign(params, method).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def format_timestamp(moment: datetime) -> str:
    """UTC ``YYYY-MM-DDThh:mm:ssZ`` (JavaScript ``toISOString()`` without milliseconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Numbers and templates (providers.md §2.5) --------------------------------------------


def is_china_mobile(number: str, *, strict: bool = False) -> bool:
    """Logto's ``isChinaNumber``: an optional (strict: mandatory) ``+86``/``0086``/``86``
    prefix, then ``1`` and ten digits.

    The connector passes the E.164 form (with ``+``), so the prefix is always present and
    both modes agree; only bare national numbers tell them apart.
    """
    pattern = _CHINA_MOBILE_STRICT if strict else _CHINA_MOBILE
    return pattern.fullmatch(number) is not None


def select_template_code(
    template_code: str | Mapping[str, str], number: str, *, strict: bool
) -> str:
    """A plain code is used for every number; ``{china, overseas}`` picks by number."""
    if isinstance(template_code, str):
        return template_code
    return template_code["china" if is_china_mobile(number, strict=strict) else "overseas"]


def template_param(names: tuple[str, ...], payload: Mapping[str, Any]) -> str:
    """Compact JSON (non-ASCII kept, like ``JSON.stringify``) of only the declared variables."""
    values = dict(zip(names, declared_values(names, payload), strict=True))
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False)


# The connector ------------------------------------------------------------------------


class AliyunConnector(HttpConnector):
    """Sends the template code and its parameters; the text itself lives at Aliyun."""

    name = "aliyun"
    secret_fields = frozenset({"accessKeySecret"})
    #: A request's ``Signature`` (28 characters of base64), as sent or percent-encoded.
    secret_patterns = (
        r"(?<![A-Za-z0-9+/%])(?:[A-Za-z0-9+/]|%2[BbFf]){27}(?:=|%3[Dd])(?![A-Za-z0-9+/=%])",
    )

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        nonce: Callable[[], str] | None = None,
        **kwargs: Any,
    ) -> None:
        # Injected so tests can pin the signed Timestamp and SignatureNonce.
        self._clock = clock or (lambda: datetime.now(UTC))
        self._nonce = nonce or (lambda: str(uuid.uuid4()))
        super().__init__(config, **kwargs)

    def configure(self, config: Mapping[str, Any]) -> None:
        self.access_key_id = self.require_str(config, "accessKeyId")
        self._access_key_secret = self.require_str(config, "accessKeySecret")
        self.sign_name = self.require_str(config, "signName")
        strict = config.get("strictPhoneRegionNumberCheck")
        if strict is not None and not isinstance(strict, bool):
            raise self.config_error("strictPhoneRegionNumberCheck", "must be true or false")
        self.strict_region_check = bool(strict)
        self.templates = validate_templates(config, fields=())
        for index, template in enumerate(self.templates):
            self._check_template(index, template)
        self.url = self.endpoint_origin(config, default=DEFAULT_ENDPOINT) + "/"

    def _check_template(self, index: int, template: dict[str, Any]) -> None:
        where = f"templates[{index}]"
        code = template.get("templateCode")
        if isinstance(code, Mapping):
            for region in ("china", "overseas"):
                value = code.get(region)
                if not isinstance(value, str) or not value:
                    raise self.config_error(
                        f"{where}.templateCode.{region}", "is required (a string)"
                    )
        elif not isinstance(code, str) or not code:
            raise self.config_error(
                f"{where}.templateCode",
                "is required: a string, or {china: string, overseas: string}",
            )
        kind = template.get("type")
        if kind is not None and (type(kind) is not int or kind not in TEMPLATE_TYPES):
            raise self.config_error(f"{where}.type", "must be one of 0, 1, 2, 6, 7")
        template["templateParams"] = template_param_names(
            template.get("templateParams"), f"{where}.templateParams", distinct=True
        )

    def send(self, message: SmsMessage) -> DeliveryResult:
        template = find_template(self.templates, message.usage, message.locale)
        params = {
            **CONSTANT_PARAMS,
            "AccessKeyId": self.access_key_id,
            "PhoneNumbers": message.to.lstrip("+"),
            "SignName": self.sign_name,
            "TemplateCode": select_template_code(
                template["templateCode"], message.to, strict=self.strict_region_check
            ),
            "TemplateParam": template_param(template["templateParams"], message.payload),
        }

        def signed() -> dict[str, Any]:
            # Signed afresh for every attempt: Aliyun refuses a SignatureNonce it has seen
            # (SignatureNonceUsed), and a retry should not carry a stale Timestamp.
            attempt = {
                **params,
                "SignatureNonce": self._nonce(),
                "Timestamp": format_timestamp(self._clock()),
            }
            attempt["Signature"] = sign_rpc(attempt, self._access_key_secret, "POST")
            return {
                "content": urlencode(attempt).encode("ascii"),
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            }

        return self._judge(self.request("POST", self.url, build=signed))

    def _judge(self, response: httpx.Response) -> DeliveryResult:
        body = self.json_body(response)
        code = body.get("Code") if isinstance(body, dict) else None
        if not isinstance(code, str):
            if response.is_error:
                raise self.error_for_status(response)
            raise self.unavailable(
                "the provider's answer has no Code", status_code=response.status_code
            )
        text = body.get("Message")
        provider_message = self.provider_text(text) if isinstance(text, str) else None
        if code == "OK" and response.is_success:
            biz_id = body.get("BizId")
            return DeliveryResult(connector=self.name, message_id=str(biz_id) if biz_id else None)
        raise self._error(response, code, provider_message, body.get("RequestId"))

    def _error(
        self, response: httpx.Response, code: str, text: str | None, request_id: Any
    ) -> DeliveryError:
        rate_limited = (
            code in RATE_LIMIT_CODES or code == "Throttling" or code.startswith("Throttling.")
        )
        if response.is_error and not rate_limited:
            return self.error_for_status(response, provider_code=code, provider_message=text)
        # Aliyun's own verdict: its text (else code) and the RequestId its support asks for.
        suffix = f" (RequestId {request_id})" if isinstance(request_id, str) and request_id else ""
        return self.error_for_status(
            response,
            provider_code=code,
            provider_message=text,
            rate_limited=rate_limited,
            summary=(text or code) + suffix,
        )
