"""The end-user flows as services, shared by the HTML views and the JSON API.

Each method takes plain values and the signed-in user (or ``None``), changes the session
through :mod:`.sessions`, and raises the HTTP-facing errors of :mod:`.errors`. No method
reveals whether a number has an account: for the anonymous usages the answer is the same,
and a number without an account gets a silent challenge that sends nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import sqlalchemy as sa
from flask import Flask, current_app

from . import sessions, signals, transaction
from .challenges import ChallengeService, IssuedChallenge, VerifiedChallenge
from .dispatch import Dispatcher
from .errors import (
    AccountDisabled,
    ActionNotAllowed,
    DeliveryError,
    DeliveryFailed,
    InvalidCode,
    InvalidCredentials,
    InvalidRequest,
    MethodDisabled,
    SessionNotFound,
    SignInRequired,
    TooManyAttempts,
    VerificationRequired,
)
from .limits import RateLimits
from .notices import Notice, Notices
from .phone import normalize_with, test_code
from .session_records import SessionRecord, SessionRecords
from .settings import Settings
from .usage import ANONYMOUS_USAGES, SIGNED_IN_USAGES, Usage
from .users import UserStore

logger = logging.getLogger("flask_sms_otp")

PASSWORD_MAX_LENGTH = 128
_USAGE_NAMES = frozenset(usage.value for usage in Usage)
#: The channels a person may ask a code by (``"channel"``).
CHANNELS = ("sms", "whatsapp")


class PhoneUser(Protocol):
    """What the flows read of a user: Flask-Login's ``UserMixin`` and
    :class:`~flask_sms_otp.users.PhoneUserMixin` give it. Changes go through the
    :class:`~flask_sms_otp.users.UserStore`."""

    @property
    def phone(self) -> str | None: ...
    @property
    def mfa_enabled(self) -> bool: ...
    @property
    def session_epoch(self) -> int: ...
    @property
    def has_password(self) -> bool: ...
    @property
    def is_active(self) -> bool: ...
    def get_id(self) -> str: ...


@dataclass(frozen=True, slots=True)
class MfaRequired:
    """The password was right; a code went to the user's phone; not signed in yet."""

    challenge: IssuedChallenge


@dataclass(frozen=True, slots=True)
class ResendState:
    """A pending challenge as its code page shows it, by the engine's own rule
    (:meth:`.ChallengeService.resend_refusal`): the same for a silent challenge and for a
    real one, whether or not its delivery failed."""

    #: The number the codes go to (E.164).
    phone: str
    #: Seconds until a new code may be asked for; 0 when it may be now.
    resend_in: int
    #: ``False`` once ``SMS_OTP_MAX_RESENDS`` new codes were sent.
    resends_left: bool
    #: The code was used: nothing more can be sent or entered.
    used: bool
    #: The channel chosen for the codes ("sms", "whatsapp"), or None: the route's order.
    channel: str | None = None

    @property
    def can_resend(self) -> bool:
        """A new code may be asked for, now or after :attr:`resend_in` seconds."""
        return self.resends_left and not self.used


class Flows:
    def __init__(
        self,
        *,
        settings: Settings,
        challenges: ChallengeService,
        dispatcher: Dispatcher,
        users: UserStore,
        limits: RateLimits,
        notices: Notices,
        session_records: SessionRecords,
    ) -> None:
        self.settings = settings
        self.challenges = challenges
        self.dispatcher = dispatcher
        self.users = users
        self.limits = limits
        self.notices = notices
        self.session_records = session_records

    # Codes -------------------------------------------------------------------------------

    def request_code(
        self,
        phone: object,
        usage: object,
        *,
        user: PhoneUser | None,
        client_ip: str,
        region: object = None,
        captcha_token: str | None = None,
        channel: object = None,
    ) -> IssuedChallenge:
        """Send a code for ``usage``. Anonymous usages answer alike for every number.
        ``region`` reads a national number as that region's; ``captcha_token`` is the bot
        check's answer, when one is asked (see :meth:`.ChallengeService.admit`);
        ``channel`` how the person wants the code (``"sms"``, ``"whatsapp"``), where the
        number's route offers both. The send limits count every channel together."""
        usage = self._usage(usage)
        chosen = self._channel(channel)
        if usage == Usage.SIGN_IN and "code" not in self.settings.sign_in_methods:
            raise MethodDisabled()
        if usage in SIGNED_IN_USAGES:
            return self._request_own_code(
                phone, usage, _signed_in(user), client_ip, region, captcha_token, chosen
            )
        # Counted against the send limits before the input is judged (see admit).
        e164 = self.challenges.admit(
            phone, usage, client_ip, region=region, captcha_token=captcha_token
        )
        owner_id = self.users.owner_id(e164)
        # Nothing observable may depend on who holds the number: a number in the wrong
        # state gets a silent challenge, and the send's outcome never shows (see dispatch).
        if usage == Usage.REGISTER:
            return self._send(
                e164, usage, None, client_ip, deliver=owner_id is None, channel=chosen
            )
        return self._send(
            e164, usage, owner_id, client_ip, deliver=owner_id is not None, channel=chosen
        )

    def _request_own_code(
        self,
        phone: object,
        usage: Usage,
        user: PhoneUser,
        client_ip: str,
        region: object,
        captcha_token: str | None,
        channel: str | None,
    ) -> IssuedChallenge:
        """A signed-in user's code: to their own number, or (BindNewIdentifier) to the
        number they want, after they confirmed it is them."""
        if usage == Usage.BIND_NEW_IDENTIFIER:
            # Otherwise any signed-in session could text any number through the app.
            self.require_recent_verification(user)
            e164 = self.challenges.admit(
                phone, usage, client_ip, region=region, captcha_token=captcha_token
            )
            # A number held by any account (this one included) gets no usable code, and
            # nothing observable depends on that (see dispatch).
            held = self.users.owner_id(e164) is not None
            return self._send(
                e164, usage, user.get_id(), client_ip, deliver=not held, channel=channel
            )
        if not user.phone:
            raise ActionNotAllowed("no_phone")
        e164 = self.challenges.admit(user.phone, usage, client_ip)
        return self._send(e164, usage, user.get_id(), client_ip, channel=channel)

    def resend_code(
        self, verification_id: object, *, client_ip: str, channel: object = None
    ) -> IssuedChallenge:
        """A new code, by the channel chosen for the first one unless ``channel`` says
        otherwise (the new choice is then kept)."""
        chosen = self._channel(channel)
        try:
            issued = self.dispatcher.resend(verification_id, client_ip=client_ip, channel=chosen)
        except DeliveryError:
            raise DeliveryFailed() from None
        if issued.usage == Usage.MFA_VERIFICATION:
            # A new code gives the pending second step the new code's lifetime.
            sessions.extend_mfa(issued.id, self.settings.code_ttl)
        return issued

    def resend_state(self, verification_id: object) -> ResendState | None:
        """Whether and when the challenge's code may be sent again, as :meth:`resend_code`
        would answer now; ``None`` for an unknown challenge."""
        row = self.challenges.find(verification_id)
        if row is None:
            return None
        refusal = self.challenges.resend_refusal(row)
        # A refusal with no time to try again is final: the resend cap.
        wait = refusal.retry_after_seconds if refusal is not None else None
        return ResendState(
            phone=row.phone,
            resend_in=wait or 0,
            resends_left=refusal is None or wait is not None,
            used=row.consumed_at is not None,
            channel=row.channel,
        )

    # Sign-up and sign-in -----------------------------------------------------------------

    def sign_up(self, verification_id: object, code: object, password: object) -> PhoneUser:
        """Create the account and sign it in. The model's ``new_for_phone`` makes the user
        before the code is checked, so that its refusal (an ``HTTPException``) spends
        nothing; the user is discarded if the code is wrong. An account the model makes
        inactive is created but not signed in (:class:`AccountDisabled`)."""
        password = self._new_password(password, required=self.settings.password_required)
        pending = self.challenges.find(verification_id)
        candidate: PhoneUser | None = None
        if pending is not None and pending.usage == Usage.REGISTER:
            candidate = self.users.new_for_phone(pending.phone)
        try:
            verified = self.challenges.verify(verification_id, code, usage=Usage.REGISTER)
        except Exception:
            self.users.discard(candidate)
            raise
        if candidate is None:  # pragma: no cover - verify succeeds only for a found challenge
            candidate = self.users.new_for_phone(verified.phone)
        user: PhoneUser | None = self.users.add(candidate, verified.phone, password)
        if user is None:  # the number was registered since the code was sent
            raise InvalidCode()
        signals.user_registered.send(_app(), user=user)
        self._require_active(user)
        sessions.sign_in(user)
        signals.user_signed_in.send(_app(), user=user, method="register")
        return user

    def sign_in_password(
        self, phone: object, password: object, *, client_ip: str, region: object = None
    ) -> PhoneUser | MfaRequired:
        """The signed-in user, or :class:`MfaRequired` when a second step is needed.
        ``region`` reads a national number as that region's (see :meth:`request_code`)."""
        if "password" not in self.settings.sign_in_methods:
            raise MethodDisabled()
        e164 = normalize_with(self.settings, phone, now=self.challenges.clock(), region=region)
        if not isinstance(password, str) or not password or len(password) > PASSWORD_MAX_LENGTH:
            raise InvalidRequest("password_missing", field="password")
        self.limits.hit_password_attempt(e164, client_ip)
        user: PhoneUser | None = self.users.by_phone(e164)
        # Checked for an unknown number too: both answers cost one hash.
        if not self.users.check_password(user, password) or user is None:
            self.limits.password_failed(e164)
            signals.sign_in_failed.send(_app(), phone=e164, method="password")
            raise InvalidCredentials()
        self._require_active(user)
        if user.mfa_enabled and user.phone:
            # The second step sends an SMS: it counts toward the send limits like any other
            # (the answer already tells the password was right, so a 429 reveals nothing more).
            usage = Usage.MFA_VERIFICATION
            e164 = self.challenges.admit(user.phone, usage, client_ip)
            issued = self._send(e164, usage, user.get_id(), client_ip)
            sessions.start_mfa(user, issued.id, self.settings.code_ttl)
            return MfaRequired(issued)
        sessions.sign_in(user)
        signals.user_signed_in.send(_app(), user=user, method="password")
        return user

    def sign_in_code(self, verification_id: object, code: object) -> PhoneUser:
        if "code" not in self.settings.sign_in_methods:
            raise MethodDisabled()
        user = self._verify_and_sign_in(verification_id, code, Usage.SIGN_IN)
        signals.user_signed_in.send(_app(), user=user, method="code")
        return user

    def complete_mfa(self, verification_id: object, code: object) -> PhoneUser:
        pending = sessions.pending_mfa()
        if pending is None or pending.get("vid") != verification_id:
            raise InvalidCode()
        holder: PhoneUser | None = self.users.get(pending["uid"])
        if holder is None or int(holder.session_epoch or 0) != pending.get("epoch"):
            # The password was reset or changed since this step began: it ends, unspent.
            sessions.clear_mfa()
            raise InvalidCode()
        try:
            user = self._verify_and_sign_in(
                verification_id, code, Usage.MFA_VERIFICATION, user_id=pending["uid"]
            )
        except TooManyAttempts as error:
            # The pending sign-in ends: the password must be entered again.
            sessions.clear_mfa()
            signals.mfa_failed.send(_app(), user=holder)
            self._notify(Notice.MFA_FAILED, holder.phone)
            raise TooManyAttempts(error.retry_after_seconds, sign_in_again=True) from None
        signals.user_signed_in.send(_app(), user=user, method="password+sms")
        return user

    def reset_password(self, verification_id: object, code: object, password: object) -> None:
        """Set a new password. Never signs in; ends every session of the user."""
        new_password = self._required_password(password)
        verified = self.challenges.verify(verification_id, code, usage=Usage.FORGOT_PASSWORD)
        user = self._owner(verified.user_id, verified.phone)
        self.users.set_password(user, new_password)
        self.users.end_all_sessions(user)
        sessions.end_every_record(user)
        sessions.sign_out()
        signals.password_reset.send(_app(), user=user)
        self._notify(Notice.PASSWORD_CHANGED, user.phone)

    # Signed-in actions ---------------------------------------------------------------------

    def verify_identity(
        self,
        user: PhoneUser | None,
        verification_id: object = None,
        code: object = None,
        password: object = None,
        *,
        client_ip: str = "",
    ) -> datetime:
        """Confirm it is the user: a code sent to their phone, or their password.
        Returns until when sensitive actions are allowed."""
        user = _signed_in(user)
        if password is not None:
            if not isinstance(password, str) or not password:
                raise InvalidRequest("password_missing", field="password")
            key = user.phone or f"user:{user.get_id()}"
            self.limits.hit_password_attempt(key, client_ip)
            if not self.users.check_password(user, password):
                self.limits.password_failed(key)
                raise InvalidCredentials()
        else:
            self.challenges.verify(
                verification_id,
                code,
                usage=Usage.USER_PERMISSION_VALIDATION,
                user_id=user.get_id(),
                phone=user.phone,
            )
        at = sessions.mark_verified()
        return datetime.fromtimestamp(at + self.settings.reverify_max_age, UTC)

    def change_phone(
        self, user: PhoneUser | None, verification_id: object, code: object
    ) -> PhoneUser:
        user = _signed_in(user)
        self.require_recent_verification(user)
        verified = self.challenges.verify(
            verification_id, code, usage=Usage.BIND_NEW_IDENTIFIER, user_id=user.get_id()
        )
        old = user.phone
        if not self.users.set_phone(user, verified.phone):
            raise InvalidCode()  # taken by another account meanwhile: say nothing more
        signals.phone_changed.send(_app(), user=user, old_phone=old, new_phone=verified.phone)
        self._notify(Notice.PHONE_CHANGED, old)
        return user

    def remove_phone(self, user: PhoneUser | None) -> None:
        user = _signed_in(user)
        self.require_recent_verification(user)
        if not user.phone:
            return
        if not user.has_password:
            raise ActionNotAllowed("last_sign_in_method")
        if user.mfa_enabled:
            raise ActionNotAllowed("mfa_enabled")
        old = user.phone
        self.users.set_phone(user, None)
        signals.phone_changed.send(_app(), user=user, old_phone=old, new_phone=None)
        self._notify(Notice.PHONE_CHANGED, old)

    def set_mfa(
        self,
        user: PhoneUser | None,
        enabled: object,
        verification_id: object = None,
        code: object = None,
    ) -> None:
        user = _signed_in(user)
        if not isinstance(enabled, bool):
            raise InvalidRequest("enabled_not_boolean", field="enabled")
        if enabled and not user.phone:
            raise ActionNotAllowed("no_phone")
        if enabled and verification_id is not None:
            # Enrolment: the phone proves it receives codes (BindMfa).
            self.challenges.verify(
                verification_id,
                code,
                usage=Usage.BIND_MFA,
                user_id=user.get_id(),
                phone=user.phone,
            )
        else:
            self.require_recent_verification(user)
        if bool(user.mfa_enabled) != enabled:
            self.users.set_mfa(user, enabled)
            signals.mfa_changed.send(_app(), user=user, enabled=enabled)

    def change_password(self, user: PhoneUser | None, new_password: object) -> None:
        user = _signed_in(user)
        self.require_recent_verification(user)
        self.users.set_password(user, self._required_password(new_password))
        self.users.end_all_sessions(user)
        # This session carries on under the new epoch and a new token; no other does.
        sessions.sign_in(user, keep_record=True)
        sessions.end_other_records(user)
        signals.password_changed.send(_app(), user=user)
        self._notify(Notice.PASSWORD_CHANGED, user.phone)

    def list_sessions(self, user: PhoneUser | None) -> list[SessionRecord]:
        """The user's live sessions, this one first (``current``)."""
        user = _signed_in(user)
        return self.session_records.active_for(str(user.get_id()), sessions.current_token())

    def end_session(self, user: PhoneUser | None, session_id: object) -> None:
        """End one of the user's sessions; ending this one signs out. Another user's
        session id is answered like an unknown one."""
        user = _signed_in(user)
        token = sessions.current_token()
        current = self.session_records.find(token) if token else None
        if not isinstance(session_id, str) or not self.session_records.end_one(
            str(user.get_id()), session_id
        ):
            raise SessionNotFound()
        if current is not None and current.id == session_id:
            sessions.sign_out()

    def end_other_sessions(self, user: PhoneUser | None) -> None:
        user = _signed_in(user)
        sessions.end_other_records(user)

    def require_recent_verification(
        self, user: PhoneUser | None, max_age: int | None = None
    ) -> None:
        """Refuse unless ``user`` confirmed their identity within ``max_age`` seconds
        (default ``SMS_OTP_REVERIFY_MAX_AGE``)."""
        if user is None:
            raise SignInRequired()
        if not sessions.verified_within(max_age or self.settings.reverify_max_age):
            raise VerificationRequired()

    # Internals ----------------------------------------------------------------------------

    def _usage(self, value: object) -> Usage:
        if not isinstance(value, str) or value not in _USAGE_NAMES:
            raise InvalidRequest("usage_unknown", field="usage")
        usage = Usage(value)
        if usage not in ANONYMOUS_USAGES | SIGNED_IN_USAGES:
            raise InvalidRequest("usage_not_requestable", field="usage")
        return usage

    @staticmethod
    def _channel(value: object) -> str | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str) or value not in CHANNELS:
            raise InvalidRequest("channel_unknown", field="channel")
        return value

    def _notify(self, notice: Notice, phone: str | None) -> None:
        """Send ``notice`` once the change it tells of is committed; never to a test
        number (nothing is ever sent to one)."""
        if phone and test_code(self.settings, phone, self.challenges.clock()) is not None:
            return
        app = _app()
        transaction.after_commit(lambda: self.notices.send(app, notice, phone))

    def _require_active(self, user: PhoneUser) -> None:
        """Called only once the password or code was right: a disabled account is told so,
        and gets no session."""
        if not user.is_active:
            raise AccountDisabled()

    def _owner(self, user_id: str | None, phone: str) -> PhoneUser:
        user: PhoneUser | None = self.users.get(user_id) if user_id is not None else None
        if user is None or user.phone != phone:
            raise InvalidCode()
        return user

    def _verify_and_sign_in(
        self, verification_id: object, code: object, usage: Usage, *, user_id: str | None = None
    ) -> PhoneUser:
        """Verify the code and sign its owner in. The session's record is written in the
        verification's own transaction (one commit for the whole sign-in); Flask-Login, and
        the app's receivers of its signals, run after that commit."""
        prepared: list[tuple[PhoneUser, str]] = []

        def record(conn: sa.Connection, verified: VerifiedChallenge) -> None:
            user = self._owner(verified.user_id, verified.phone)
            self._require_active(user)
            prepared.append((user, sessions.record_sign_in(user, conn)))

        self.challenges.verify(verification_id, code, usage=usage, user_id=user_id, then=record)
        user, token = prepared[0]
        sessions.sign_in(user, token=token)
        return user

    def _new_password(self, password: object, *, required: bool) -> str | None:
        if password is None or password == "":
            if required:
                raise InvalidRequest("new_password_missing", field="password")
            return None
        if not isinstance(password, str):
            raise InvalidRequest("password_not_text", field="password")
        if len(password) < self.settings.password_min_length:
            raise InvalidRequest(
                "password_too_short", field="password", minimum=self.settings.password_min_length
            )
        if len(password) > PASSWORD_MAX_LENGTH:
            raise InvalidRequest("password_too_long", field="password", maximum=PASSWORD_MAX_LENGTH)
        return password

    def _required_password(self, password: object) -> str:
        checked = self._new_password(password, required=True)
        if checked is None:  # pragma: no cover - required=True raises instead
            raise InvalidRequest("new_password_missing", field="password")
        return checked

    def _send(
        self,
        e164: str,
        usage: Usage,
        user_id: str | None,
        ip: str,
        *,
        deliver: bool = True,
        channel: str | None = None,
    ) -> IssuedChallenge:
        """Issue a challenge to a number already admitted and have its code sent. A failed
        send is a 503, except for a protected usage, whose outcome never shows."""
        try:
            return self.dispatcher.issue(
                e164, usage, user_id=user_id, deliver=deliver, client_ip=ip, channel=channel
            )
        except DeliveryError:
            raise DeliveryFailed() from None


def _signed_in(user: PhoneUser | None) -> PhoneUser:
    if user is None:
        raise SignInRequired()
    return user


def _app() -> Flask:
    return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]
