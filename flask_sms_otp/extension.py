"""The :class:`SmsOtp` extension object and its per-app state."""

from __future__ import annotations

import copy
import logging
from typing import Any

from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from .challenges import (
    ChallengeService,
    Clock,
    CodeGenerator,
    IssuedChallenge,
    VerifiedChallenge,
    derive_keys,
    generate_code,
    utcnow,
)
from .cli import sms_otp_cli
from .connectors.base import SmsConnector
from .connectors.registry import get_connector_class
from .delivery import Delivery
from .errors import ConfigurationError
from .models import models_for
from .settings import DEFAULTS, Settings
from .state import EXTENSION_KEY, SmsOtpState, get_state
from .usage import Usage

logger = logging.getLogger("flask_sms_otp")


class SmsOtp:
    """Phone-number authentication by SMS one-time codes.

    ``SmsOtp(app, db=db)``, or ``SmsOtp(db=db)`` then ``init_app(app)`` in a factory.
    Nothing app-bound is kept on this object; per-app state lives in
    ``app.extensions["sms_otp"]``, so one instance can serve several apps.

    Config keys read at ``init_app`` (defaults in parentheses; see docs/configuration.rst):
    ``SMS_OTP_CONNECTOR`` ("console"), ``SMS_OTP_CONNECTOR_CONFIG`` ({}),
    ``SMS_OTP_CODE_LENGTH`` (6), ``SMS_OTP_CODE_TTL`` (600), ``SMS_OTP_MAX_ATTEMPTS`` (5),
    ``SMS_OTP_RESEND_COOLDOWN`` (60), ``SMS_OTP_MAX_RESENDS`` (3),
    ``SMS_OTP_LOCKOUT_THRESHOLD`` (10), ``SMS_OTP_LOCKOUT_DURATION`` (900),
    ``SMS_OTP_DEFAULT_REGION`` (None), ``SMS_OTP_ALLOWED_REGIONS`` (None),
    ``SMS_OTP_ALLOW_VOIP`` (False), ``SMS_OTP_HTTP_TIMEOUT`` ((5.0, 10.0)); and Flask's
    ``SECRET_KEY`` / ``SECRET_KEY_FALLBACKS``, from which the code-digest keys are derived.

    :param db: the app's Flask-SQLAlchemy object; the models are created on it.
    :param user_model: the app's user model, if it has one.
    :param clock: returns the current aware UTC datetime (tests inject a fake one).
    :param code_generator: makes a code of the given length (tests may inject one).
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        db: SQLAlchemy | None = None,
        user_model: type[Any] | None = None,
        clock: Clock = utcnow,
        code_generator: CodeGenerator = generate_code,
    ) -> None:
        self.db = db
        self.user_model = user_model
        self.clock = clock
        self.code_generator = code_generator
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Validate the config, build the connector and register the CLI on ``app``.

        Every configuration problem raises :class:`ConfigurationError` here, naming the key.
        """
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError("flask-sms-otp is already initialised on this app")
        if self.db is None:
            raise TypeError("SmsOtp needs the app's Flask-SQLAlchemy object: SmsOtp(db=db)")
        if "sqlalchemy" not in app.extensions:
            raise RuntimeError("initialise Flask-SQLAlchemy on the app (db.init_app) first")
        for key, value in DEFAULTS.items():
            app.config.setdefault(key, copy.deepcopy(value))
        settings = Settings.from_config(app.config)
        secret = app.config.get("SECRET_KEY")
        if not secret:
            raise ConfigurationError("SECRET_KEY", "is required: code digests are keyed by it")
        fallbacks = app.config.get("SECRET_KEY_FALLBACKS") or []
        connector = build_connector(settings)
        if connector.name == "console" and not (app.debug or app.testing):
            logger.warning(
                "flask-sms-otp uses the 'console' connector outside DEBUG/TESTING: codes are "
                "printed, not sent. Set SMS_OTP_CONNECTOR for production."
            )
        models = models_for(self.db)
        delivery = Delivery(connector, settings)
        challenges = ChallengeService(
            db=self.db,
            models=models,
            settings=settings,
            delivery=delivery,
            keys=derive_keys([secret, *fallbacks]),
            clock=self.clock,
            code_generator=self.code_generator,
        )
        app.extensions[EXTENSION_KEY] = SmsOtpState(
            settings=settings,
            connector=connector,
            delivery=delivery,
            challenges=challenges,
            models=models,
            db=self.db,
            user_model=self.user_model,
        )
        app.cli.add_command(sms_otp_cli)

    # The code engine for the current app ---------------------------------------------------

    def send_code(
        self,
        phone: str,
        usage: Usage | str,
        *,
        user_id: Any = None,
        deliver: bool = True,
        client_ip: str | None = None,
    ) -> IssuedChallenge:
        """Send a code to ``phone`` for ``usage``; see :meth:`ChallengeService.issue`."""
        return get_state().challenges.issue(
            phone, usage, user_id=user_id, deliver=deliver, client_ip=client_ip
        )

    def resend_code(self, challenge_id: str, *, client_ip: str | None = None) -> IssuedChallenge:
        """Send a new code for a challenge; see :meth:`ChallengeService.resend`."""
        return get_state().challenges.resend(challenge_id, client_ip=client_ip)

    def verify_code(
        self,
        challenge_id: Any,
        code: Any,
        *,
        usage: Usage | str,
        phone: str | None = None,
        user_id: Any = None,
    ) -> VerifiedChallenge:
        """Verify and consume a code; see :meth:`ChallengeService.verify`."""
        return get_state().challenges.verify(
            challenge_id, code, usage=usage, phone=phone, user_id=user_id
        )


def build_connector(settings: Settings) -> SmsConnector:
    """The connector named by the settings, configured (and so validated) once."""
    cls = get_connector_class(settings.connector)
    return cls(
        settings.connector_config,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
    )
