"""Invitations by SMS: the app invites a number (to a team, a family plan, a workspace), the
number gets a link, and whoever opens it signs up or signs in *with that number* before the
invitation is theirs.

The link carries a random token of 256 bits; the table keeps only its HMAC-SHA256 digest
(keyed like the codes', :mod:`.codes`), so a database dump opens nothing. An open invitation
is one not accepted, not revoked, not expired, and whose token is the latest one sent (a
resend kills the old link): every other token answers :class:`InvitationInvalid`, the same
way. The link alone proves nothing: accepting needs a signed-in user whose phone is the
invited number, which a code to that number proved.

An invitation is an SMS to a number someone else names, so it is metered like a code (the
number's send budget, the per-IP and per-block limits, the bot check and the pumping guard,
through :meth:`.ChallengeService.admit`) and, on top, per inviter
(``SMS_OTP_INVITE_LIMIT_PER_INVITER``), so that an account cannot become a pumping tool.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, url_for
from flask_sqlalchemy import SQLAlchemy

from . import signals, transaction
from .challenges import ChallengeService
from .clock import Clock, utcnow
from .connectors.base import SmsMessage
from .connectors.templates import render
from .delivery import Delivery
from .errors import (
    DeliveryError,
    InvitationForAnotherNumber,
    InvitationInvalid,
    SignInRequired,
)
from .i18n import message_locale, translate
from .limits import RateLimits
from .models import Models, as_utc, as_utc_or_none, utc
from .phone import mask_phone, test_code
from .records import DeliveryRecords
from .settings import Settings
from .sms_texts import INVITATION_TEXT, INVITATION_TEXT_UNNAMED
from .usage import Usage

logger = logging.getLogger("flask_sms_otp")

#: The endpoint of the page a link opens (``/auth/invitations/<token>``).
PAGE_ENDPOINT = "sms_otp.invitation"
#: The shortest and longest lifetime an invitation may be given.
MIN_LIFETIME = 60
MAX_LIFETIME = 30 * 24 * 3600
#: The longest inviter name kept (the column's size).
MAX_NAME = 120

_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
_ID = re.compile(r"[A-Za-z0-9_-]{22}")
_DIGEST_CONTEXT = b"flask-sms-otp:invitation-token:v1\x1f"


@dataclass(frozen=True, slots=True)
class Invitation:
    """An invitation as the app sees it: never its token, except in :attr:`url` on what
    :meth:`~flask_sms_otp.SmsOtp.invite` and ``resend_invitation`` return."""

    id: str
    #: The invited number, E.164.
    phone: str
    #: The inviting user's id (``get_id()``), or ``None`` when the app itself invited.
    inviter_id: str | None
    inviter_name: str | None
    #: The app's JSON, as given to ``invite``.
    data: Any
    created_at: datetime
    sent_at: datetime
    expires_at: datetime
    resends: int
    accepted_at: datetime | None = None
    #: The id of the user who accepted it.
    accepted_by: str | None = None
    revoked_at: datetime | None = None
    #: The link texted to the number; only right after it was sent.
    url: str | None = None

    def status(self, now: datetime) -> str:
        """``pending``, ``accepted``, ``revoked`` or ``expired`` at ``now``."""
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        return "pending" if now < self.expires_at else "expired"

    @classmethod
    def from_row(cls, row: Any) -> Invitation:
        return cls(
            id=row.id,
            phone=row.phone,
            inviter_id=row.inviter_id,
            inviter_name=row.inviter_name,
            data=row.data,
            created_at=as_utc(row.created_at),
            sent_at=as_utc(row.sent_at),
            expires_at=as_utc(row.expires_at),
            resends=int(row.resends),
            accepted_at=as_utc_or_none(row.accepted_at),
            accepted_by=row.accepted_by,
            revoked_at=as_utc_or_none(row.revoked_at),
        )


class Invitations:
    """Invites, resends, revokes and accepts invitations for one app."""

    def __init__(
        self,
        *,
        db: SQLAlchemy,
        models: Models,
        settings: Settings,
        challenges: ChallengeService,
        delivery: Delivery,
        limits: RateLimits,
        keys: Sequence[bytes],
        records: DeliveryRecords | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.model = models.Invitation
        self.settings = settings
        self.challenges = challenges
        self.delivery = delivery
        self.limits = limits
        self.keys = tuple(keys)
        self.records = records
        self.clock = clock
        self._table: sa.Table = self.model.__table__  # type: ignore[attr-defined]

    # The inviter's side ------------------------------------------------------------------

    def invite(
        self,
        phone: Any,
        *,
        invited_by: Any = None,
        data: Any = None,
        expires_in: int = 7 * 24 * 3600,
        inviter_name: str | None = None,
        client_ip: str | None = None,
        locale: str | None = None,
        captcha_token: str | None = None,
    ) -> Invitation:
        """Store an invitation for ``phone`` and text it the link; see
        :meth:`flask_sms_otp.SmsOtp.invite`."""
        if isinstance(expires_in, bool) or not isinstance(expires_in, int):
            raise TypeError("expires_in must be a number of seconds (int)")
        if not MIN_LIFETIME <= expires_in <= MAX_LIFETIME:
            raise ValueError(f"expires_in must be {MIN_LIFETIME} to {MAX_LIFETIME} seconds")
        data = {} if data is None else data
        json.dumps(data, allow_nan=False)  # raises for what a JSON column cannot hold
        inviter_id = _user_id(invited_by)
        name = _name(invited_by, inviter_name)
        token = secrets.token_urlsafe(32)
        url = _link(token)  # before anything is spent: it needs a request or SERVER_NAME
        # The inviter's budget first: an account past it costs no number anything.
        self.limits.hit_invite(inviter_id or "app")
        e164 = self.challenges.admit(
            phone, Usage.ORGANIZATION_INVITATION, client_ip, captcha_token=captcha_token
        )
        now = self._now()
        invitation = Invitation(
            id=secrets.token_urlsafe(16),
            phone=e164,
            inviter_id=inviter_id,
            inviter_name=name,
            data=data,
            created_at=now,
            sent_at=now,
            expires_at=now + timedelta(seconds=expires_in),
            resends=0,
        )
        with self.db.engine.begin() as conn:
            conn.execute(
                sa.insert(self._table).values(
                    id=invitation.id,
                    token_digest=self._digest(token, self.keys[0]),
                    phone=e164,
                    inviter_id=inviter_id,
                    inviter_name=name,
                    data=data,
                    created_at=now,
                    sent_at=now,
                    expires_at=invitation.expires_at,
                    resends=0,
                )
            )
        invitation = replace(invitation, url=url)
        try:
            self._send(invitation, locale)
        except DeliveryError as error:
            # Nobody got it: it must not sit in the inviter's list as if it had gone out.
            # (When the provider's answer was lost, the text may have left: it stays, to be
            # resent or revoked.)
            if not error.maybe_sent:
                with self.db.engine.begin() as conn:
                    conn.execute(sa.delete(self._table).where(self._table.c.id == invitation.id))
            raise
        return invitation

    def resend(
        self,
        invitation_id: Any,
        *,
        invited_by: Any = None,
        client_ip: str | None = None,
        locale: str | None = None,
        captcha_token: str | None = None,
    ) -> Invitation:
        """Text a pending invitation again with a new link (the old one dies) and the
        lifetime it was given, counted from now; metered like :meth:`invite`. Raises
        :class:`InvitationInvalid` unless it is pending (and ``invited_by``'s, when given)."""
        found = self._pending(invitation_id, invited_by)
        token = secrets.token_urlsafe(32)
        url = _link(token)
        self.limits.hit_invite(found.inviter_id or "app")
        self.challenges.admit(
            found.phone, Usage.ORGANIZATION_INVITATION, client_ip, captcha_token=captcha_token
        )
        now = self._now()
        lifetime = found.expires_at - found.sent_at
        c = self._table.c
        with self.db.engine.begin() as conn:
            result = conn.execute(
                sa.update(self._table)
                .where(c.id == found.id, *self._open(now))
                .values(
                    token_digest=self._digest(token, self.keys[0]),
                    sent_at=now,
                    expires_at=now + lifetime,
                    resends=c.resends + 1,
                )
            )
        if result.rowcount != 1:  # accepted or revoked meanwhile
            raise InvitationInvalid()
        invitation = replace(
            found,
            sent_at=now,
            expires_at=now + lifetime,
            resends=found.resends + 1,
            url=url,
        )
        self._send(invitation, locale)
        return invitation

    def revoke(self, invitation_id: Any, *, invited_by: Any = None) -> bool:
        """Close a pending invitation (its link then answers like an unknown one). ``False``
        when there was none to revoke (or it is not ``invited_by``'s, when given)."""
        if not isinstance(invitation_id, str) or not _ID.fullmatch(invitation_id):
            return False
        c = self._table.c
        now = self._now()
        where = [c.id == invitation_id, *self._open(now)]
        if invited_by is not None:
            where.append(c.inviter_id == _user_id(invited_by))
        with self.db.engine.begin() as conn:
            result = conn.execute(sa.update(self._table).where(*where).values(revoked_at=now))
        return bool(result.rowcount == 1)

    def pending(self, invited_by: Any = None) -> list[Invitation]:
        """The pending invitations of ``invited_by`` (``None``: those the app made itself),
        oldest first."""
        c = self._table.c
        inviter = _user_id(invited_by)
        owner = c.inviter_id.is_(None) if inviter is None else c.inviter_id == inviter
        query = sa.select(self._table).where(owner, *self._open(self._now()))
        with self.db.engine.connect() as conn:
            rows = conn.execute(query.order_by(c.created_at, c.id)).all()
        return [Invitation.from_row(row) for row in rows]

    def every(self, *, closed: bool = False) -> list[Invitation]:
        """Every pending invitation (with ``closed``, every one), newest first: the CLI's."""
        c = self._table.c
        query = sa.select(self._table)
        if not closed:
            query = query.where(*self._open(self._now()))
        with self.db.engine.connect() as conn:
            rows = conn.execute(query.order_by(c.created_at.desc(), c.id)).all()
        return [Invitation.from_row(row) for row in rows]

    def purge(self, before: datetime) -> int:
        """Delete invitations expired, accepted or revoked before ``before``."""
        c = self._table.c
        edge = utc(before)
        with self.db.engine.begin() as conn:
            result = conn.execute(
                sa.delete(self._table).where(
                    sa.or_(c.expires_at < edge, c.accepted_at < edge, c.revoked_at < edge)
                )
            )
        return int(result.rowcount)

    # The invited person's side ------------------------------------------------------------

    def find(self, token: Any) -> Invitation:
        """The open invitation this link's token opens; :class:`InvitationInvalid` for
        every other token (unknown, expired, revoked, accepted, replaced, malformed)."""
        if not isinstance(token, str) or not _TOKEN.fullmatch(token):
            raise InvitationInvalid()
        c = self._table.c
        digests = [self._digest(token, key) for key in self.keys]
        query = sa.select(self._table).where(c.token_digest.in_(digests), *self._open(self._now()))
        with self.db.engine.connect() as conn:
            row = conn.execute(query).one_or_none()
        if row is None:
            raise InvitationInvalid()
        return Invitation.from_row(row)

    def accept(self, token: Any, user: Any) -> Invitation:
        """Accept the invitation for ``user``, signed in with the invited number; send
        ``invitation_accepted``. Succeeds once, also under concurrency.

        Written on the app's ``db.session``, with what the signal's receivers add there (the
        membership), and committed with it by the view: if a receiver fails, the
        invitation stays open. Raises :class:`InvitationInvalid` or
        :class:`InvitationForAnotherNumber` (the invitation then stays open)."""
        if user is None:
            raise SignInRequired()
        found = self.find(token)
        if getattr(user, "phone", None) != found.phone:
            raise InvitationForAnotherNumber()
        now = self._now()
        user_id = str(user.get_id())
        c = self._table.c
        digests = [self._digest(token, key) for key in self.keys]
        result = self.db.session.execute(
            sa.update(self._table)
            .where(c.id == found.id, c.token_digest.in_(digests), *self._open(now))
            .values(accepted_at=now, accepted_by=user_id)
        )
        if getattr(result, "rowcount", 0) != 1:  # another request accepted it first
            raise InvitationInvalid()
        transaction.changed()
        transaction.after_commit(lambda: self._mark_verified(found.id, now))
        accepted = replace(found, accepted_at=now, accepted_by=user_id)
        signals.invitation_accepted.send(_app(), invitation=accepted, data=accepted.data, user=user)
        logger.info("invitation %s accepted by user %s", found.id, user_id)
        return accepted

    # Internals ------------------------------------------------------------------------------

    def _pending(self, invitation_id: Any, invited_by: Any) -> Invitation:
        if not isinstance(invitation_id, str) or not _ID.fullmatch(invitation_id):
            raise InvitationInvalid()
        c = self._table.c
        where = [c.id == invitation_id, *self._open(self._now())]
        if invited_by is not None:
            where.append(c.inviter_id == _user_id(invited_by))
        with self.db.engine.connect() as conn:
            row = conn.execute(sa.select(self._table).where(*where)).one_or_none()
        if row is None:
            raise InvitationInvalid()
        return Invitation.from_row(row)

    def _mark_verified(self, invitation_id: str, now: datetime) -> None:
        """Its SMS led somewhere: the conversion figures (``flask sms-otp stats``) count it."""
        if self.records is not None:
            with self.db.engine.begin() as conn:
                self.records.mark_verified(conn, invitation_id, now)

    def _open(self, now: datetime) -> tuple[sa.ColumnElement[bool], ...]:
        c = self._table.c
        return (c.accepted_at.is_(None), c.revoked_at.is_(None), c.expires_at > now)

    def _send(self, invitation: Invitation, locale: str | None) -> None:
        """Text the link, through the connector's ``OrganizationInvitation`` template (or
        ``Generic``): ``{{link}}``, ``{{inviter}}``, ``{{days}}`` and ``{{data.<key>}}``, and
        ``{{code}}`` holds the link too (so a ``Generic`` template carries it, and the
        delivery's redaction keeps it out of logged provider texts). Never to a test number.
        Raises :class:`.DeliveryError`."""
        if test_code(self.settings, invitation.phone, self._now()) is not None:
            logger.info("invitation %s: a test number, nothing sent", invitation.id)
            return
        link = invitation.url or ""
        language = locale or message_locale()
        lifetime = (invitation.expires_at - invitation.sent_at).total_seconds()
        variables = {
            "link": link,
            "inviter": invitation.inviter_name or "",
            "days": max(1, math.ceil(lifetime / 86400)),
            "data": invitation.data,
        }
        text = INVITATION_TEXT if invitation.inviter_name else INVITATION_TEXT_UNNAMED
        message = SmsMessage(
            to=invitation.phone,
            usage=Usage.ORGANIZATION_INVITATION.value,
            code=link,
            variables=variables,
            client_ip=None,
            locale=language,
            text=_builtin_text(text, {**variables, "code": link}, language),
        )
        self.delivery.send(
            _app(), message, challenge_id=invitation.id, resend=invitation.resends > 0
        )
        logger.info("invitation %s texted to %s", invitation.id, mask_phone(invitation.phone))

    def _digest(self, token: str, key: bytes) -> str:
        return hmac.new(key, _DIGEST_CONTEXT + token.encode(), hashlib.sha256).hexdigest()

    def _now(self) -> datetime:
        return utc(self.clock())


def _builtin_text(text: str, payload: dict[str, Any], locale: str | None) -> str:
    """The built-in invitation ``text`` translated into ``locale``, placeholders filled."""
    return render(translate(locale, text), payload)


def _link(token: str) -> str:
    return url_for(PAGE_ENDPOINT, token=token, _external=True)


def _user_id(user: Any) -> str | None:
    return None if user is None else str(user.get_id())


def _name(user: Any, given: str | None) -> str | None:
    """The inviter as the invitation names them: ``given``, else the user's ``name`` or
    ``display_name`` attribute when it has one."""
    name = given
    if name is None and user is not None:
        name = getattr(user, "name", None) or getattr(user, "display_name", None)
    if name is None:
        return None
    if not isinstance(name, str):
        raise TypeError("inviter_name must be text")
    return " ".join(name.split())[:MAX_NAME] or None


def _app() -> Flask:
    return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]
