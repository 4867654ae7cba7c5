"""The bot check before a code goes to a number anyone may name (``SMS_OTP_CAPTCHA``):
Cloudflare Turnstile, hCaptcha or Google reCAPTCHA (v2, v3 or Enterprise), whose widget's
token is verified here, server-side, with the provider's own verification API.

It fails closed: a token that is missing, not text or too long is refused without asking
the provider, and an endpoint that is down, slow or answers something that is not its JSON
refuses the send too (a line in the log says why, for operators). Neither the token nor the
secret is ever logged. No Flask here: the engine asks :meth:`BotCheck.require` (see
:class:`.challenges.BotCheck`), the pages and the API hand it the widget's token.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from .config_parsers import CaptchaConfig
from .errors import CaptchaFailed

if TYPE_CHECKING:
    from .settings import Settings

logger = logging.getLogger("flask_sms_otp")

#: Each provider's verification URL (``endpoint`` in the config replaces it).
ENDPOINTS: Mapping[str, str] = {
    "turnstile": "https://challenges.cloudflare.com/turnstile/v0/siteverify",
    "hcaptcha": "https://api.hcaptcha.com/siteverify",
    "recaptcha": "https://www.google.com/recaptcha/api/siteverify",
}
#: reCAPTCHA Enterprise's ``projects.assessments.create``, authenticated by an API key.
ENTERPRISE_ENDPOINT = (
    "https://recaptchaenterprise.googleapis.com/v1/projects/{project_id}/assessments"
)

#: The form field in which each provider's widget puts its token.
RESPONSE_FIELDS: Mapping[str, str] = {
    "turnstile": "cf-turnstile-response",
    "hcaptcha": "h-captcha-response",
    "recaptcha": "g-recaptcha-response",
}
#: The longest token passed on to the provider. Turnstile documents 2048 characters;
#: hCaptcha's and reCAPTCHA's have no documented bound and are seen above 4000, so theirs
#: only keeps an absurd body from being forwarded.
MAX_TOKEN_LENGTH: Mapping[str, int] = {"turnstile": 2048, "hcaptcha": 32768, "recaptcha": 32768}

#: Seconds to connect to, and then to hear from, the verification endpoint.
TIMEOUT = 5.0
USER_AGENT = "flask-sms-otp"

#: Provider error codes that mean the configuration is wrong, not the visitor.
_CONFIG_ERRORS = ("secret", "sitekey", "site_key")


class BotCheck:
    """One app's bot check: the configured provider's verification, behind the engine's
    ``BotCheck`` protocol (``when`` and :meth:`require`).

    Owns a pooled ``httpx.Client``. ``transport`` is for tests (an ``httpx.MockTransport``).
    """

    def __init__(
        self,
        config: CaptchaConfig,
        *,
        timeout: float = TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        #: ``"always"``, ``"guard"`` or ``"never"`` (then the engine never asks).
        self.when = config.when
        self.client = httpx.Client(
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> BotCheck | None:
        """The app's bot check; ``None`` without ``SMS_OTP_CAPTCHA`` or when it is never
        asked (``"when": "never"``)."""
        config = settings.captcha
        if config is None or config.when == "never":
            return None
        return cls(config)

    @property
    def url(self) -> str:
        """Where tokens are verified: the configured ``endpoint`` or the provider's."""
        if self.config.endpoint is not None:
            return self.config.endpoint
        if self.config.project_id is not None:
            return ENTERPRISE_ENDPOINT.format(project_id=self.config.project_id)
        return ENDPOINTS[self.config.provider]

    def failed(self) -> CaptchaFailed:
        """The refusal, carrying what a client needs to show the widget (never the secret)."""
        return CaptchaFailed(provider=self.config.provider, site_key=self.config.site_key)

    def require(self, token: str | None, remote_ip: str | None) -> None:
        """Return if ``token`` proves a person; else raise :class:`.CaptchaFailed`."""
        if not self.verify(token, remote_ip):
            raise self.failed()

    def verify(self, token: object, remote_ip: str | None) -> bool:
        """Whether the provider accepts ``token`` (for a visitor at ``remote_ip``)."""
        provider = self.config.provider
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH[provider]:
            return False
        try:
            response = self._ask(token, remote_ip or None)
        except httpx.HTTPError as exc:
            # The type only: an error's text may hold the URL, and Enterprise's has the key.
            logger.warning(
                "bot check: %s's verification endpoint failed (%s); the send was refused",
                provider,
                type(exc).__name__,
            )
            return False
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not response.is_success or not isinstance(answer, dict):
            logger.warning(
                "bot check: %s's verification endpoint answered HTTP %s%s; the send was refused",
                provider,
                response.status_code,
                "" if isinstance(answer, dict) else " without a JSON object",
            )
            return False
        judge = _judge_assessment if self.config.enterprise else _judge_siteverify
        refusal = judge(self.config, answer)
        if refusal is not None:
            configuration = any(word in refusal for word in _CONFIG_ERRORS)
            logger.log(
                logging.WARNING if configuration else logging.INFO,
                "bot check: %s refused the token (%s)%s",
                provider,
                refusal,
                "; check SMS_OTP_CAPTCHA" if configuration else "",
            )
            return False
        return True

    def close(self) -> None:
        """Close the pooled connections."""
        self.client.close()

    def _ask(self, token: str, remote_ip: str | None) -> httpx.Response:
        config = self.config
        if config.enterprise:
            event = {"token": token, "siteKey": config.site_key}
            if config.action is not None:
                event["expectedAction"] = config.action
            if remote_ip is not None:
                event["userIpAddress"] = remote_ip
            return self.client.post(self.url, params={"key": config.secret}, json={"event": event})
        form = {"secret": config.secret, "response": token}
        if remote_ip is not None:
            form["remoteip"] = remote_ip
        if config.provider == "hcaptcha":
            form["sitekey"] = config.site_key
        return self.client.post(self.url, data=form)


def _judge_siteverify(config: CaptchaConfig, answer: Mapping[str, Any]) -> str | None:
    """Why a ``siteverify`` answer (Turnstile, hCaptcha, reCAPTCHA v2/v3) refuses, or ``None``."""
    if answer.get("success") is not True:
        codes = answer.get("error-codes")
        if isinstance(codes, list) and codes:
            return ", ".join(str(code)[:64] for code in codes[:5])
        return "success is not true"
    if config.provider != "recaptcha":
        return None
    score = answer.get("score")
    if score is not None and not _at_least(score, config.min_score):
        return f"score {score!r} below {config.min_score}"
    if config.action is not None and answer.get("action") != config.action:
        return "not the expected action"
    return None


def _judge_assessment(config: CaptchaConfig, answer: Mapping[str, Any]) -> str | None:
    """Why a reCAPTCHA Enterprise assessment refuses, or ``None``."""
    token = answer.get("tokenProperties")
    risk = answer.get("riskAnalysis")
    if not isinstance(token, dict) or token.get("valid") is not True:
        reason = token.get("invalidReason") if isinstance(token, dict) else None
        return f"invalid token ({str(reason)[:64]})" if reason else "invalid token"
    if config.action is not None and token.get("action") != config.action:
        return "not the expected action"
    score = risk.get("score") if isinstance(risk, dict) else None
    if not _at_least(score, config.min_score):
        return f"score {score!r} below {config.min_score}"
    return None


def _at_least(score: object, minimum: float) -> bool:
    return isinstance(score, int | float) and not isinstance(score, bool) and score >= minimum
