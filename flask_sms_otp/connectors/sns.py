"""Amazon SNS ``Publish`` straight to a phone number, as a transactional SMS.

Everything AWS-specific comes from botocore (the ``sns`` extra): the query-protocol body
from SNS's own service model, the SigV4 signature from its signer, the answer and the
error XML from its parser, and, when the config holds no keys, the credentials and the
region from the standard AWS chain (environment, shared files, SSO, container or instance
roles). This module only picks the parameters and judges the answer; the request goes out
on :class:`HttpConnector`'s pooled client, with its timeouts and safe retries.

botocore logs each request's canonical request, string to sign and signature at DEBUG
(with a session token, when there is one), and each answer's body (which may repeat the
number and the code): :class:`_SecretsFilter` keeps those records of ``botocore.auth``
and ``botocore.parsers`` out of the log while this connector signs and reads, and only then:
the app's own boto3 calls log as the app configured them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from typing import Any

import httpx

try:
    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from botocore.exceptions import BotoCoreError
    from botocore.parsers import ResponseParserError, create_parser
    from botocore.retries.standard import ThrottledRetryableChecker
    from botocore.serialize import create_serializer
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError("the sns connector needs botocore: pip install 'flask-sms-otp[sns]'") from exc

from ..errors import DeliveryError
from .base import DeliveryResult, SmsMessage
from .httpbase import HttpConnector
from .templates import find_template, render, validate_templates

SERVICE = "sns"
SMS_TYPE = "Transactional"
#: SNS's own throttling codes (its model's ``Throttled``, KMS's), and the codes botocore's
#: standard retry mode treats as throttling for every service.
RATE_LIMIT_CODES = frozenset(
    {
        "Throttled",
        "KMSThrottling",
        "Throttling",
        *getattr(ThrottledRetryableChecker, "_THROTTLED_ERROR_CODES", ()),
    }
)
#: SNS's codes for its own failures: nothing was refused, try again later.
UNAVAILABLE_CODES = frozenset({"InternalError", "InternalFailure", "ServiceUnavailable"})


#: True while this connector signs a request or reads its answer (in this thread or task).
_OURS: ContextVar[bool] = ContextVar("sms_otp_sns_call", default=False)


class _SecretsFilter(logging.Filter):
    """Drops botocore's DEBUG records of our requests' signing material and of their
    answers (which may repeat the number and the code); other callers' records pass."""

    PREFIXES = (
        "CanonicalRequest:",
        "StringToSign:",
        "Signature:",
        "Response headers:",
        "Response body:",
    )

    def filter(self, record: logging.LogRecord) -> bool:
        if not _OURS.get():
            return True
        return not (isinstance(record.msg, str) and record.msg.startswith(self.PREFIXES))


for _name in ("botocore.auth", "botocore.parsers"):
    _logger = logging.getLogger(_name)
    if not any(isinstance(f, _SecretsFilter) for f in _logger.filters):
        _logger.addFilter(_SecretsFilter())


def default_origin(region: str) -> str:
    """SNS's regional endpoint (the China partition has its own domain)."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://sns.{region}.{suffix}"


class SnsConnector(HttpConnector):
    """Publishes the rendered template text to the number, SigV4-signed by botocore."""

    name = "sns"
    secret_fields = frozenset({"secretAccessKey", "sessionToken"})
    #: A request's SigV4 ``Signature`` (64 lower-case hex digits, in ``Authorization``).
    secret_patterns = (r"(?<![0-9A-Za-z])[0-9a-f]{64}(?![0-9A-Za-z])",)

    def configure(self, config: Mapping[str, Any]) -> None:
        session = botocore.session.Session()
        access_key = self.optional_str(config, "accessKeyId")
        secret_key = self.optional_str(config, "secretAccessKey")
        token = self.optional_str(config, "sessionToken")
        if access_key is not None or secret_key is not None or token is not None:
            access_key = self.require_str(config, "accessKeyId")
            secret_key = self.require_str(config, "secretAccessKey")
            self._static: Credentials | None = Credentials(access_key, secret_key, token)
            self._chain: Any = None
        else:
            self._static = None
            try:
                self._chain = session.get_credentials()
            except BotoCoreError as exc:
                raise self.config_error(
                    "accessKeyId", f"the AWS credential chain failed: {type(exc).__name__}"
                ) from None
            if self._chain is None:
                raise self.config_error(
                    "accessKeyId",
                    "is required by the sns connector when the standard AWS credential "
                    "chain (environment, shared files, roles) finds none",
                )
        region = self.optional_str(config, "region") or session.get_config_variable("region")
        if not region:
            raise self.config_error(
                "region",
                "is required by the sns connector (or AWS_REGION / a profile's region)",
            )
        self.region: str = str(region)
        self.sender_id = self.optional_str(config, "senderId")
        self.origination_number = self.optional_str(config, "originationNumber")
        self.templates = validate_templates(config)
        self.url = self.endpoint_origin(config, default=default_origin(self.region)) + "/"
        model = session.get_service_model(SERVICE)
        self._publish = model.operation_model("Publish")
        self._get_attributes = model.operation_model("GetSMSAttributes")
        self._serializer = create_serializer("query", include_validation=True)
        self._parser = create_parser("query")

    def credentials(self) -> Credentials:
        """The config's keys, else the chain's current ones (refreshed when they expire)."""
        if self._static is not None:
            return self._static
        frozen = self._chain.get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    def derived_secrets(self) -> Iterable[str]:
        # Keys from the chain are secrets as much as the config's.
        if self._static is not None or self._chain is None:
            return ()
        frozen = self._chain.get_frozen_credentials()
        return tuple(value for value in (frozen.secret_key, frozen.token) if value)

    def attributes(self) -> dict[str, dict[str, str]]:
        """The ``MessageAttributes`` of every message."""
        found = {"AWS.SNS.SMS.SMSType": SMS_TYPE}
        if self.sender_id is not None:
            found["AWS.SNS.SMS.SenderID"] = self.sender_id
        if self.origination_number is not None:
            found["AWS.MM.SMS.OriginationNumber"] = self.origination_number
        return {name: {"DataType": "String", "StringValue": value} for name, value in found.items()}

    def send(self, message: SmsMessage) -> DeliveryResult:
        template = find_template(self.templates, message.usage, message.locale)
        params = {
            "PhoneNumber": message.to if message.to.startswith("+") else f"+{message.to}",
            "Message": render(str(template["content"]), message.payload),
            "MessageAttributes": self.attributes(),
        }
        parsed = self._call(self._publish, params)
        message_id = parsed.get("MessageId")
        return DeliveryResult(
            connector=self.name, message_id=str(message_id) if message_id else None
        )

    def check(self) -> str | None:
        """``GetSMSAttributes``: proves the credentials, the region and the
        ``sns:GetSMSAttributes`` permission without sending anything."""
        parsed = self._call(self._get_attributes, {"attributes": ["DefaultSMSType"]})
        default = (parsed.get("attributes") or {}).get("DefaultSMSType")
        said = f"default SMS type {default}" if default else "no default SMS type"
        return f"Amazon SNS in {self.region} answered ({said}; codes go as {SMS_TYPE})"

    def _call(self, operation: Any, params: Mapping[str, Any]) -> dict[str, Any]:
        try:
            request = self._serializer.serialize_to_request(params, operation)
        except BotoCoreError as exc:  # a parameter botocore's validation refuses
            raise DeliveryError(
                f"the SNS request is not valid: {type(exc).__name__}", connector=self.name
            ) from None

        def signed() -> dict[str, Any]:
            # Signed afresh for every attempt (a fresh X-Amz-Date), as botocore's client does.
            aws = AWSRequest(
                method="POST", url=self.url, data=request["body"], headers=request["headers"]
            )
            SigV4Auth(self.credentials(), SERVICE, self.region).add_auth(aws)
            prepared = aws.prepare()
            return {"content": prepared.body, "headers": dict(prepared.headers.items())}

        ours = _OURS.set(True)
        try:
            return self._judge(self.request("POST", self.url, build=signed), operation)
        finally:
            _OURS.reset(ours)

    def _judge(self, response: httpx.Response, operation: Any) -> dict[str, Any]:
        answer = {
            "status_code": response.status_code,
            "headers": dict(response.headers),
            "body": response.content,
        }
        try:
            parsed: dict[str, Any] = self._parser.parse(answer, operation.output_shape)
        except (ResponseParserError, LookupError, ValueError, TypeError):
            # Not SNS's XML, or not the shape it documents (the error's text repeats the
            # body: not kept).
            parsed = {}
        error = parsed.get("Error") if response.status_code >= 300 else None
        if response.status_code >= 300:
            raise self._failure(response, error if isinstance(error, dict) else {})
        if not parsed or "ResponseMetadata" not in parsed:
            raise self.unavailable(
                "the provider's answer is not SNS's XML",
                status_code=response.status_code,
                maybe_sent=True,  # a success we cannot read is still a success
            )
        return parsed

    def _failure(self, response: httpx.Response, error: Mapping[str, Any]) -> DeliveryError:
        """SNS's ``ErrorResponse``: ``Code`` and ``Message``; else the raw body."""
        code = error.get("Code") or None
        text = error.get("Message") or None
        if code is None and text is None:
            return self.error_for_status(
                response, provider_message=self.provider_text(response.text)
            )
        # OptedOut (the number replied STOP), InvalidParameter (not a number SNS serves),
        # AuthorizationError: refusals, so a route moves on to its next connector.
        return self.coded_failure(
            response,
            code,
            self.provider_text(text),
            unavailable=UNAVAILABLE_CODES,
            rate_limited=code in RATE_LIMIT_CODES,
        )
