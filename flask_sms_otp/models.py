"""Database models, created on the app's own Flask-SQLAlchemy ``db`` so that
``db.create_all()`` and the app's migrations see them.

The code itself is never stored: only an HMAC-SHA256 digest keyed by a server secret.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import Mapped, mapped_column


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime. The columns are plain ``DateTime(timezone=True)``
    (so generated migrations need no import of this package); SQLite gives them back naive,
    in UTC, because every value is written in UTC (:func:`utc`)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def as_utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def utc(value: datetime) -> datetime:
    """An aware datetime in UTC, as it must be written (SQLite keeps the wall time only)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: flask-sms-otp stores aware UTC datetimes only")
    return value.astimezone(UTC)


#: Aware timestamps; SQLite returns them naive (see :func:`as_utc`).
Timestamp = sa.DateTime(timezone=True)


class ChallengeColumns:
    """A code sent to a number for one purpose. The client holds only :attr:`id`."""

    __tablename__ = "sms_otp_challenge"

    #: Opaque random id, 192 bits, URL-safe: the ``verification_id`` of the API.
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    usage: Mapped[str] = mapped_column(sa.String(40))
    phone: Mapped[str] = mapped_column(sa.String(20))
    #: The app user the code is for, when known (MFA, re-verification); any id type as text.
    user_id: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    #: HMAC-SHA256(server key, id | usage | phone | code), hex.
    digest: Mapped[str] = mapped_column(sa.String(64))
    #: False for a challenge that must look real but sends nothing (no account to send to).
    delivered: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    last_sent_at: Mapped[datetime] = mapped_column(Timestamp)
    expires_at: Mapped[datetime] = mapped_column(Timestamp, index=True)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    resends: Mapped[int] = mapped_column(sa.Integer, default=0)
    consumed_at: Mapped[datetime | None] = mapped_column(Timestamp, default=None)
    #: Set when the challenge died without success (delivery failed); it never verifies again.
    closed_at: Mapped[datetime | None] = mapped_column(Timestamp, default=None)
    #: How the person asked to get the code ("sms" or "whatsapp"), kept for the resends;
    #: None: the route's own order.
    channel: Mapped[str | None] = mapped_column(sa.String(10), default=None)


class FailureCounterColumns:
    """Consecutive failed verifications per number. Survives resends and new challenges;
    reset by a success; locks the number for a while when it reaches the threshold.

    Failures on silent challenges (which sent nothing, because of who has an account) are
    counted apart: they lock the number's silent challenges exactly as real failures lock
    real ones, so the answers stay alike, but they never lock out the real holder."""

    __tablename__ = "sms_otp_failure_counter"

    phone: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    silent: Mapped[bool] = mapped_column(sa.Boolean, primary_key=True, default=False)
    failures: Mapped[int] = mapped_column(sa.Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(Timestamp, default=None)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class DeliveryRecordColumns:
    """One attempt to send an SMS: the basis of delivery monitoring and of the per-country
    sent/verified conversion figure (a collapsing conversion is the signature of SMS-pumping
    fraud). Holds the masked number only."""

    __tablename__ = "sms_otp_delivery"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    challenge_id: Mapped[str | None] = mapped_column(sa.String(64), default=None, index=True)
    connector: Mapped[str] = mapped_column(sa.String(40))
    usage: Mapped[str] = mapped_column(sa.String(40))
    phone_masked: Mapped[str] = mapped_column(sa.String(20))
    #: ISO region of the number ("CN", "US"), or "ZZ" when unknown.
    country: Mapped[str] = mapped_column(sa.String(2))
    #: The number's block of 10,000 (the number without its last four digits), as a keyed
    #: digest: the pumping guard counts per block, and with the masked number's last four
    #: digits the block in clear would be the number.
    block: Mapped[str | None] = mapped_column(sa.String(16), default=None)
    #: "sent" (the provider accepted it), "failed", "unsure" (its answer was lost: it may
    #: have been sent) or "queued" (handed to a task queue).
    status: Mapped[str] = mapped_column(sa.String(10))
    provider_message_id: Mapped[str | None] = mapped_column(sa.String(128), default=None)
    error: Mapped[str | None] = mapped_column(sa.String(500), default=None)
    latency_ms: Mapped[int | None] = mapped_column(sa.Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(Timestamp, index=True)
    #: When the code this message carried was verified.
    verified_at: Mapped[datetime | None] = mapped_column(Timestamp, default=None)
    # What the provider's delivery receipts said (``flask_sms_otp.connectors.receipts``):
    #: The latest status, normalised: "delivered", "undelivered", "failed", "expired",
    #: "rejected" (final), or "accepted", "sent", "buffered" (on the way). Only moves forward.
    delivery_status: Mapped[str | None] = mapped_column(sa.String(12), default=None)
    #: The provider's error code, as it gave it.
    delivery_error: Mapped[str | None] = mapped_column(sa.String(32), default=None)
    #: When the message reached the phone (the provider's time when it gives one): time to
    #: delivery is ``delivered_at - created_at``.
    delivered_at: Mapped[datetime | None] = mapped_column(Timestamp, default=None)
    #: When the last receipt was applied, and what identifies it (to refuse its replay).
    receipt_at: Mapped[datetime | None] = mapped_column(Timestamp, default=None)
    receipt_key: Mapped[str | None] = mapped_column(sa.String(32), default=None)


class GuardHoldColumns:
    """A country or number block the pumping guard holds, or held (:mod:`.guard`): one row
    per country or block, reused by its next hold."""

    __tablename__ = "sms_otp_guard_hold"

    #: "country" or "block".
    scope: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    #: The ISO region, or the block's digest (as in the delivery records).
    key: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    country: Mapped[str] = mapped_column(sa.String(2))
    #: What an operator reads: the region, or the block's first digits ("+44740****").
    label: Mapped[str] = mapped_column(sa.String(20))
    #: The evidence: codes sent and used in the window, and the share expected.
    sent: Mapped[int] = mapped_column(sa.Integer)
    verified: Mapped[int] = mapped_column(sa.Integer)
    baseline: Mapped[float] = mapped_column(sa.Float)
    held_at: Mapped[datetime] = mapped_column(Timestamp)
    until: Mapped[datetime] = mapped_column(Timestamp)
    released_at: Mapped[datetime | None] = mapped_column(Timestamp, default=None)
    #: "operator" (released by hand) or "recovered" (codes are used again).
    released_by: Mapped[str | None] = mapped_column(sa.String(20), default=None)


class SessionRecordColumns:
    """One signed-in session, server-side: the browser's cookie holds only a random token,
    and the session authenticates only while this row has not ended. Lets sign-out, a
    password reset and the user's own "sign out other sessions" end a captured cookie."""

    __tablename__ = "sms_otp_session"

    #: Random, shown to the user and used in URLs to end the session; never the secret.
    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    #: SHA-256 of the secret token the session cookie carries, hex.
    token_hash: Mapped[str] = mapped_column(sa.String(64))
    #: The app user, any id type as text (``get_id()``).
    user_id: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    #: Updated at most once a minute (:data:`flask_sms_otp.session_records.TOUCH_INTERVAL`).
    last_seen_at: Mapped[datetime] = mapped_column(Timestamp)
    ended_at: Mapped[datetime | None] = mapped_column(Timestamp, default=None)
    #: The client address and user agent it was last seen with (truncated).
    ip: Mapped[str] = mapped_column(sa.String(45), default="")
    user_agent: Mapped[str] = mapped_column(sa.String(512), default="")


class AdminActionColumns:
    """One action an operator took on the admin pages (:mod:`.admin`): who, what, when."""

    __tablename__ = "sms_otp_admin_action"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(Timestamp, index=True)
    #: The operator: the app user's id as text (``get_id()``).
    user_id: Mapped[str] = mapped_column(sa.String(64))
    #: "test_send", "release_hold", "unlock" or "clear_limits".
    action: Mapped[str] = mapped_column(sa.String(40))
    #: What it acted on, as the page showed it: a connector, a hold, a masked number.
    target: Mapped[str] = mapped_column(sa.String(64))
    #: Its outcome in a few words (the provider's message id, a redacted error).
    detail: Mapped[str] = mapped_column(sa.String(500), default="")


class InvitationColumns:
    """An invitation texted to a number (:mod:`.invitations`): who asked, the app's data,
    and its state. The link's token is kept only as a keyed digest, like a code."""

    __tablename__ = "sms_otp_invitation"

    #: Random and public (the inviter's list, the CLI): it opens nothing.
    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    #: HMAC-SHA256(server key, token), hex: a new one at every resend.
    token_digest: Mapped[str] = mapped_column(sa.String(64))
    #: The invited number, E.164.
    phone: Mapped[str] = mapped_column(sa.String(20))
    #: The app user who invited, any id type as text; ``None`` for the app itself.
    inviter_id: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    #: How the invitation names the inviter (the SMS and the page).
    inviter_name: Mapped[str | None] = mapped_column(sa.String(120), default=None)
    #: The app's own JSON (a team id, a role...), handed back when it is accepted.
    data: Mapped[Any] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    #: When the link was last texted (a resend moves it, and the expiry with it).
    sent_at: Mapped[datetime] = mapped_column(Timestamp)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    resends: Mapped[int] = mapped_column(sa.Integer, default=0)
    accepted_at: Mapped[datetime | None] = mapped_column(Timestamp, default=None)
    #: The user who accepted it, any id type as text.
    accepted_by: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp, default=None)


@dataclass(frozen=True, slots=True)
class Models:
    """The model classes bound to one ``db``."""

    Challenge: type[ChallengeColumns]
    FailureCounter: type[FailureCounterColumns]
    DeliveryRecord: type[DeliveryRecordColumns]
    SessionRecord: type[SessionRecordColumns]
    GuardHold: type[GuardHoldColumns]
    AdminAction: type[AdminActionColumns]
    Invitation: type[InvitationColumns]


_models_by_db: weakref.WeakKeyDictionary[SQLAlchemy, Models] = weakref.WeakKeyDictionary()


def models_for(db: SQLAlchemy) -> Models:
    """The models on ``db.Model``, created on first use and shared by every app using ``db``."""
    models = _models_by_db.get(db)
    if models is None:
        base: Any = db.Model

        class SmsOtpChallenge(ChallengeColumns, base):  # type: ignore[misc]
            __table_args__ = (sa.Index("ix_sms_otp_challenge_phone_usage", "phone", "usage"),)

        class SmsOtpFailureCounter(FailureCounterColumns, base):  # type: ignore[misc]
            pass

        class SmsOtpDelivery(DeliveryRecordColumns, base):  # type: ignore[misc]
            # What the pumping guard counts: recent sends per country and per block.
            __table_args__ = (
                sa.Index("ix_sms_otp_delivery_country_created_at", "country", "created_at"),
                sa.Index("ix_sms_otp_delivery_block_created_at", "block", "created_at"),
                # What a delivery receipt looks up: its message, by the provider's id.
                sa.Index(
                    "ix_sms_otp_delivery_connector_message", "connector", "provider_message_id"
                ),
            )

        class SmsOtpGuardHold(GuardHoldColumns, base):  # type: ignore[misc]
            pass

        class SmsOtpAdminAction(AdminActionColumns, base):  # type: ignore[misc]
            pass

        class SmsOtpSession(SessionRecordColumns, base):  # type: ignore[misc]
            __table_args__ = (
                sa.Index("ix_sms_otp_session_token_hash", "token_hash", unique=True),
                sa.Index("ix_sms_otp_session_user_id", "user_id"),
                sa.Index("ix_sms_otp_session_last_seen_at", "last_seen_at"),
            )

        class SmsOtpInvitation(InvitationColumns, base):  # type: ignore[misc]
            __table_args__ = (
                sa.Index("ix_sms_otp_invitation_token_digest", "token_digest", unique=True),
                sa.Index("ix_sms_otp_invitation_inviter_id", "inviter_id"),
                sa.Index("ix_sms_otp_invitation_expires_at", "expires_at"),
            )

        models = Models(
            Challenge=SmsOtpChallenge,
            FailureCounter=SmsOtpFailureCounter,
            DeliveryRecord=SmsOtpDelivery,
            SessionRecord=SmsOtpSession,
            GuardHold=SmsOtpGuardHold,
            AdminAction=SmsOtpAdminAction,
            Invitation=SmsOtpInvitation,
        )
        for model in (
            SmsOtpChallenge,
            SmsOtpFailureCounter,
            SmsOtpDelivery,
            SmsOtpSession,
            SmsOtpGuardHold,
            SmsOtpAdminAction,
            SmsOtpInvitation,
        ):
            sa.event.listen(model, "load", _aware_on_load)
            sa.event.listen(model, "refresh", _aware_on_load)
        _models_by_db[db] = models
    return models


def _aware_on_load(target: Any, *_args: Any) -> None:
    """Loaded rows hold aware UTC datetimes on SQLite too (set without history: no change
    to flush)."""
    for name, value in list(vars(target).items()):
        if isinstance(value, datetime) and value.tzinfo is None:
            vars(target)[name] = value.replace(tzinfo=UTC)
