"""The :class:`SmsOtp` extension object and its per-app state."""

from __future__ import annotations

import copy
import functools
import inspect
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast, overload

from flask import Flask
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_login import config as login_config
from flask_sqlalchemy import SQLAlchemy

from . import i18n, sessions, verified_reports
from .admin import admin_blueprint, refuse_non_admins
from .api import api_blueprint, exempt_receipts_from_csrf
from .captcha import BotCheck
from .challenges import ChallengeService, IssuedChallenge, VerifiedChallenge
from .cli import sms_otp_cli
from .clock import Clock, utcnow
from .codes import CodeGenerator, Codes, derive_keys, generate_code
from .delivery import Delivery
from .dispatch import Dispatcher, InlineDispatcher, PooledDispatcher, QueuedDispatcher
from .errors import ConfigurationError
from .flows import Flows
from .guard import PumpingGuard
from .guards import signed_in, verify_identity_first
from .invitations import Invitation, Invitations
from .limits import RateLimits
from .lockout import Lockout
from .models import models_for
from .notices import Notices
from .phone import mask_phone, test_code
from .records import DeliveryRecords, block_key
from .routing import Router
from .sender import BackgroundSender
from .session_records import SessionRecords
from .settings import DEFAULTS, Settings, keys_reference
from .state import EXTENSION_KEY, SmsOtpState, get_state
from .usage import Usage
from .users import UserStore, default_user_model
from .views import html_blueprint

F = TypeVar("F", bound=Callable[..., Any])

logger = logging.getLogger("flask_sms_otp")


class SmsOtp:
    """Phone-number authentication by SMS one-time codes.

    ``SmsOtp(app, db=db)``, or ``SmsOtp(db=db)`` then ``init_app(app)`` in a factory.
    Nothing app-bound is kept on this object; per-app state lives in
    ``app.extensions["sms_otp"]``, so one instance can serve several apps.

    Besides the ``SMS_OTP_*`` keys listed below, ``init_app`` reads Flask's ``SECRET_KEY`` /
    ``SECRET_KEY_FALLBACKS``, from which the code-digest keys are derived; Flask-Limiter's
    ``RATELIMIT_STORAGE_URI`` and ``RATELIMIT_STRATEGY``; Flask-Babel's
    ``BABEL_DEFAULT_LOCALE`` when this extension sets Flask-Babel up (the app has not).

    :param db: the app's Flask-SQLAlchemy object; the models are created on it.
    :param user_model: the app's user model (with :class:`PhoneUserMixin`'s columns); by
        default the extension's own ``SmsOtpUser``.
    :param limiter: a Flask-Limiter ``Limiter`` already initialised on the app, whose storage
        the send and password limits use; by default one is created from the app's
        ``RATELIMIT_STORAGE_URI`` (``memory://`` if unset) with the moving-window strategy.
    :param clock: returns the current aware UTC datetime (tests inject a fake one).
    :param code_generator: makes a code of the given length (tests may inject one).
    :param admin_check: ``is_admin(user) -> bool``, who may see the admin pages
        (``SMS_OTP_ADMIN``); the same as decorating it with :meth:`admin_check`.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        db: SQLAlchemy | None = None,
        user_model: type[Any] | None = None,
        limiter: Limiter | None = None,
        clock: Clock = utcnow,
        code_generator: CodeGenerator = generate_code,
        admin_check: Callable[[Any], bool] | None = None,
    ) -> None:
        self.db = db
        self._admin_check = admin_check
        self._initialised = False
        self.user_model = user_model
        self.limiter = limiter
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
        limiter = self.limiter or _create_limiter(app)
        limits_enabled = _limits_enabled(limiter)
        # Flask-Limiter has no storage while it is turned off: nor do the circuits then.
        storage = limiter.storage if limits_enabled else None
        router = Router.from_settings(settings, storage, _key_prefix(limiter))
        connector = router.default.connector
        if connector.name == "console" and not (app.debug or app.testing):
            logger.warning(
                "flask-sms-otp uses the 'console' connector outside DEBUG/TESTING: codes are "
                "printed, not sent. Set SMS_OTP_CONNECTOR for production."
            )
        _warn_of_test_numbers(settings, self.clock())
        if app.config.get("RATELIMIT_SWALLOW_ERRORS"):
            raise ConfigurationError(
                "RATELIMIT_SWALLOW_ERRORS",
                "must be off: it lets codes go out unmetered when the rate-limit storage "
                "is down (flask-sms-otp fails closed with a 503 instead)",
            )
        models = models_for(self.db)
        users = UserStore(self.db, self.user_model or default_user_model(self.db), settings)
        limits = RateLimits(limiter, settings, enabled=limits_enabled)
        records = DeliveryRecords(self.db, models, block_key=block_key(secret))
        delivery = Delivery(router, settings, records=records, clock=self.clock)
        bot_check = BotCheck.from_settings(settings)
        guard = (
            PumpingGuard(
                self.db, models, records, settings.pumping_guard, bot_check=bot_check is not None
            )
            if settings.pumping_guard.enabled
            else None
        )
        challenges = ChallengeService(
            db=self.db,
            models=models,
            settings=settings,
            limits=limits,
            codes=Codes(
                derive_keys([secret, *fallbacks]),
                length=settings.code_length,
                generator=self.code_generator,
            ),
            lockout=Lockout(models, settings),
            records=records,
            clock=self.clock,
            guard=guard,
            bot_check=bot_check,
        )
        sender = BackgroundSender(threads=settings.sender_threads, backlog=settings.sender_backlog)
        dispatcher = _dispatcher(settings, challenges, delivery, sender)
        session_records = SessionRecords(self.db, models, self.clock)
        flows = Flows(
            settings=settings,
            challenges=challenges,
            dispatcher=dispatcher,
            users=users,
            limits=limits,
            notices=Notices(delivery, limits),
            session_records=session_records,
        )
        invitations = Invitations(
            db=self.db,
            models=models,
            settings=settings,
            challenges=challenges,
            delivery=delivery,
            limits=limits,
            keys=challenges.codes.keys,
            records=records,
            clock=self.clock,
        )
        app.extensions[EXTENSION_KEY] = SmsOtpState(
            settings=settings,
            connector=connector,
            delivery=delivery,
            challenges=challenges,
            dispatcher=dispatcher,
            models=models,
            db=self.db,
            users=users,
            limiter=limiter,
            limits=limits,
            flows=flows,
            sender=sender,
            session_records=session_records,
            invitations=invitations,
            guard=guard,
            admin_check=self._admin_check if settings.admin else None,
        )
        if settings.secure_cookies:
            _secure_cookie_defaults(app)
        if getattr(app, "login_manager", None) is None:
            login_manager = LoginManager(app)
            login_manager.user_loader(users.load_user)
            login_manager.login_view = "sms_otp.sign_in"
            login_manager.login_message = i18n.gettext_noop("Please sign in to see this page.")
            login_manager.localize_callback = i18n.gettext
        # First, before any of the app's own hooks can load the user from a stale cookie.
        app.before_request_funcs.setdefault(None, []).insert(0, sessions.check_session)
        # Before the app's CSRFProtect hook: providers post receipts with no token.
        app.before_request_funcs[None].insert(0, exempt_receipts_from_csrf)
        sessions.connect_signals(app)
        verified_reports.connect(app)
        _init_i18n(app)
        app.register_blueprint(html_blueprint, url_prefix=settings.url_prefix)
        app.register_blueprint(api_blueprint, url_prefix=settings.url_prefix + "/api")
        _register_admin(app, settings, self._admin_check)
        app.cli.add_command(sms_otp_cli)
        self._initialised = True

    def admin_check(self, check: Callable[[Any], bool]) -> Callable[[Any], bool]:
        """Register ``is_admin(user) -> bool``: who may see the admin pages (with
        ``SMS_OTP_ADMIN = True``; see docs/admin.md). It is asked for signed-in users only;
        everyone else, and anyone it refuses, gets a 404. Decorate it before ``init_app``:
        without one the pages are not registered at all."""
        if self._initialised:
            raise RuntimeError("register the admin check before init_app")
        self._admin_check = check
        return check

    @overload
    def verification_required(self, view: F, *, max_age: int | None = None) -> F: ...

    @overload
    def verification_required(
        self, view: None = None, *, max_age: int | None = None
    ) -> Callable[[F], F]: ...

    def verification_required(
        self, view: F | None = None, *, max_age: int | None = None
    ) -> F | Callable[[F], F]:
        """Decorate a view that needs the signed-in user to have confirmed their identity
        (a code to their current phone, or their password) within ``max_age`` seconds
        (default ``SMS_OTP_REVERIFY_MAX_AGE``). Browsers are sent through
        ``/auth/verify-identity`` and back; JSON clients get a 401 ``verification_required``.
        Someone not signed in meets Flask-Login's ``login_required`` (the app's login view).
        """

        def decorate(func: F) -> F:
            @functools.wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                limit = max_age or get_state().settings.reverify_max_age
                if not sessions.verified_within(limit):
                    return verify_identity_first()
                return func(*args, **kwargs)

            return cast(F, signed_in(wrapper))

        return decorate(view) if view is not None else decorate

    # The code engine for the current app ---------------------------------------------------

    def send_code(
        self,
        phone: str,
        usage: Usage | str,
        *,
        user_id: Any = None,
        deliver: bool = True,
        client_ip: str | None = None,
        locale: str | None = None,
        captcha_token: str | None = None,
    ) -> IssuedChallenge:
        """Send a code to ``phone`` for ``usage``, its text in ``locale`` (a tag such as
        ``zh-CN``; default: the request's language), within the same send limits as the
        pages (per number, per IP, per number block; the IP is the request's, or
        ``client_ip`` outside one). Writes in a transaction of its own: whatever the app has
        pending on ``db.session`` stays pending. With ``deliver=False``, a silent challenge
        that sends nothing and that no code verifies. With ``SMS_OTP_CAPTCHA``, a code to a
        number anyone may name needs the visitor's ``captcha_token`` (see docs/bot-check.md).

        Raises :class:`InvalidPhoneNumber`, ``CaptchaFailed``, ``RateLimited``,
        :class:`TooManyAttempts` while the number is locked, and :class:`DeliveryError` when
        the send fails now (with queued delivery, the worker's failures are signalled
        instead)."""
        state = get_state()
        e164 = state.challenges.admit(phone, usage, client_ip, captcha_token=captcha_token)
        return state.dispatcher.issue(
            e164,
            usage,
            user_id=user_id,
            deliver=deliver,
            client_ip=client_ip,
            locale=locale,
            protect=False,
        )

    def resend_code(
        self, challenge_id: str, *, client_ip: str | None = None, locale: str | None = None
    ) -> IssuedChallenge:
        """Send a new code for a challenge, within the send limits of its number; see
        :meth:`ChallengeService.renew`."""
        return get_state().dispatcher.resend(
            challenge_id, client_ip=client_ip, locale=locale, protect=False
        )

    def verify_code(
        self,
        challenge_id: Any,
        code: Any,
        *,
        usage: Usage | str,
        phone: str | None = None,
        user_id: Any = None,
    ) -> VerifiedChallenge:
        """Verify and consume a code; a wrong one counts toward the number's lockout, in a
        transaction of its own that no rollback of the app's undoes. See
        :meth:`ChallengeService.verify`."""
        return get_state().challenges.verify(
            challenge_id, code, usage=usage, phone=phone, user_id=user_id
        )

    # Invitations ---------------------------------------------------------------------------

    def invite(
        self,
        phone: str,
        *,
        invited_by: Any = None,
        data: Any = None,
        expires_in: int = 7 * 24 * 3600,
        inviter_name: str | None = None,
        client_ip: str | None = None,
        locale: str | None = None,
        captcha_token: str | None = None,
    ) -> Invitation:
        """Invite ``phone`` and text it a link to ``/auth/invitations/<token>``, where the
        person signs up or signs in with that number and accepts; ``invitation_accepted``
        then fires with ``data`` (the app's JSON: a team id, a role) for the app to add the
        membership. Returns the :class:`Invitation` (``id``, ``url``, ``expires_at``).

        ``invited_by``: the inviting user (``None``: the app itself), named in the SMS and
        on the page by ``inviter_name`` (default: the user's ``name`` or ``display_name``).
        ``expires_in``: seconds, 60 to 30 days. ``locale``: the SMS's language (default:
        the request's). Metered like a code to that number (send limits, bot check,
        pumping guard) and per inviter (``SMS_OTP_INVITE_LIMIT_PER_INVITER``). Must run in
        a request, or with ``SERVER_NAME`` set, to build the link. The app's pending
        ``db.session`` work is left alone.

        Raises :class:`InvalidPhoneNumber`, ``RateLimited``, ``CaptchaFailed``,
        ``SendsHeld``, :class:`DeliveryError` (nothing is kept then); ``TypeError`` or
        ``ValueError`` for ``data`` that is not JSON or a lifetime out of range."""
        return get_state().invitations.invite(
            phone,
            invited_by=invited_by,
            data=data,
            expires_in=expires_in,
            inviter_name=inviter_name,
            client_ip=client_ip,
            locale=locale,
            captcha_token=captcha_token,
        )

    def pending_invitations(self, invited_by: Any = None) -> list[Invitation]:
        """``invited_by``'s pending invitations (``None``: the app's own), oldest first."""
        return get_state().invitations.pending(invited_by)

    def resend_invitation(
        self,
        invitation_id: str,
        *,
        invited_by: Any = None,
        client_ip: str | None = None,
        locale: str | None = None,
    ) -> Invitation:
        """Text a pending invitation again with a new link; the old link dies. Metered as
        :meth:`invite`. ``invited_by``: refuse unless it is theirs. Raises
        ``InvitationInvalid`` when it is not pending."""
        return get_state().invitations.resend(
            invitation_id, invited_by=invited_by, client_ip=client_ip, locale=locale
        )

    def revoke_invitation(self, invitation_id: str, *, invited_by: Any = None) -> bool:
        """Close a pending invitation: its link answers like an unknown one. ``False`` when
        none was pending (or, with ``invited_by``, none of theirs)."""
        return get_state().invitations.revoke(invitation_id, invited_by=invited_by)


# The key list comes from the settings table, never written by hand.
SmsOtp.__doc__ = (
    f"{inspect.cleandoc(SmsOtp.__doc__ or '')}\n\n"
    "Config keys read at ``init_app``, with their defaults (docs/configuration.md explains "
    f"each):\n\n{keys_reference()}\n"
)


def _register_admin(app: Flask, settings: Settings, check: Callable[[Any], bool] | None) -> None:
    """The admin pages, when asked for and the app said who may see them."""
    if not settings.admin:
        return
    if check is None:
        logger.warning(
            "SMS_OTP_ADMIN is True but no @sms_otp.admin_check was registered before "
            "init_app: the admin pages are not registered"
        )
        return
    app.register_blueprint(admin_blueprint, url_prefix=settings.url_prefix + "/admin")
    # After the session check, before the app's own hooks: a refusal is a 404 ahead of any
    # CSRF error that would show the page exists.
    hooks = app.before_request_funcs[None]
    hooks.insert(hooks.index(sessions.check_session) + 1, refuse_non_admins)


def _key_prefix(limiter: Limiter) -> str:
    """The app's ``RATELIMIT_KEY_PREFIX``, so apps sharing one Redis keep circuits apart."""
    prefix = getattr(limiter, "_key_prefix", "") or ""
    return f"{prefix}/" if prefix else ""


def _dispatcher(
    settings: Settings,
    challenges: ChallengeService,
    delivery: Delivery,
    sender: BackgroundSender,
) -> Dispatcher:
    """Who sends the codes, decided once: see :mod:`flask_sms_otp.dispatch`."""
    if settings.delivery == "celery":
        try:
            from .tasks import enqueue
        except ImportError:
            raise ConfigurationError(
                "SMS_OTP_DELIVERY", "'celery' needs Celery: pip install 'flask-sms-otp[celery]'"
            ) from None
        return QueuedDispatcher(challenges, delivery, enqueue)
    if delivery.router.instant:
        return InlineDispatcher(challenges, delivery)
    return PooledDispatcher(challenges, delivery, sender)


def _create_limiter(app: Flask) -> Limiter:
    limiter = Limiter(
        get_remote_address,
        storage_uri=app.config.get("RATELIMIT_STORAGE_URI") or "memory://",
        strategy=app.config.get("RATELIMIT_STRATEGY") or "moving-window",
    )
    limiter.init_app(app)
    return limiter


def _limits_enabled(limiter: Limiter) -> bool:
    """Flask-Limiter's own switch, honoured: ``RATELIMIT_ENABLED = False`` (common in test
    configs) turns the send and password limits off too, said once at start-up."""
    enabled = bool(getattr(limiter, "enabled", True))  # read from RATELIMIT_ENABLED
    if not enabled:
        logger.warning(
            "RATELIMIT_ENABLED is False: flask-sms-otp sends codes and checks passwords "
            "with no send or password limits. Never run it so in production."
        )
    return enabled


def _secure_cookie_defaults(app: Flask) -> None:
    """Secure, HttpOnly, SameSite=Lax session and remember cookies (Flask's defaults are
    not secure and have no SameSite). An explicit SameSite value is kept. What changes is
    logged once, with the key that keeps the app's own settings."""
    # What Flask-Login uses for a REMEMBER_COOKIE_* key the app has not set.
    remember_defaults = {
        "REMEMBER_COOKIE_SECURE": login_config.COOKIE_SECURE,
        "REMEMBER_COOKIE_HTTPONLY": login_config.COOKIE_HTTPONLY,
        "REMEMBER_COOKIE_SAMESITE": login_config.COOKIE_SAMESITE,
    }
    changed = []
    for prefix in ("SESSION_COOKIE", "REMEMBER_COOKIE"):
        wanted: dict[str, object] = {f"{prefix}_SECURE": True, f"{prefix}_HTTPONLY": True}
        if not app.config.get(f"{prefix}_SAMESITE"):
            wanted[f"{prefix}_SAMESITE"] = "Lax"
        for key, value in wanted.items():
            was = app.config.get(key, remember_defaults.get(key))
            app.config[key] = value
            if was != value:
                changed.append(f"{key} = {value!r} (was {was!r})")
    if changed:
        logger.warning(
            "flask-sms-otp set %s. Set SMS_OTP_SECURE_COOKIES = False to keep the app's own "
            "cookie settings (a Secure session cookie is not sent over plain HTTP).",
            "; ".join(changed),
        )


def _init_i18n(app: Flask) -> None:
    """Flask-Babel chooses the locale: the app's own set-up when it has one (made before or
    after this), else one made here that reads ``Accept-Language``. It leaves the app's Jinja
    environment alone; the pages call ``_sms`` (this package's catalogs) instead of ``_``."""
    if "babel" not in app.extensions:
        Babel(app, locale_selector=i18n.select_locale, configure_jinja=False)
    app.add_template_global(i18n.gettext, "_sms")
    app.add_template_global(i18n.ngettext, "_sms_n")
    app.add_template_global(i18n.gettext_html, "_sms_html")
    app.add_template_global(i18n.page_language, "sms_otp_language")
    app.add_template_global(i18n.format_moment, "sms_otp_moment")


def _warn_of_test_numbers(settings: Settings, now: datetime) -> None:
    """Test numbers sign in with a fixed code: say so at every start while any is active."""
    active = sorted(
        (number.until, e164)
        for e164, number in settings.test_numbers.items()
        if test_code(settings, e164, now) is not None
    )
    if active:
        logger.warning(
            "flask-sms-otp: SMS_OTP_TEST_NUMBERS is active: %s sign in with a fixed code "
            "and are never sent to",
            ", ".join(f"{mask_phone(e164)} until {until.isoformat()}" for until, e164 in active),
        )
