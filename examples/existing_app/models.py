"""The app's own user table, as it was before flask-sms-otp, plus the mixin.

What it shows: a UUID primary key, a required (NOT NULL, unique) ``email`` that people who
sign up by phone do not type, an ``active`` column behind ``is_active``, and the app's own
``password_hash`` (Werkzeug format), which the extension shares: an existing user who adds
a phone signs in with the password they already have.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import has_request_context, request
from flask_login import UserMixin
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from werkzeug.exceptions import BadRequest, Conflict

from flask_sms_otp import PhoneUserMixin

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class User(UserMixin, PhoneUserMixin, db.Model):  # type: ignore[name-defined]
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(sa.String(256), default=None)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=lambda: datetime.now(UTC)
    )

    @property
    def is_active(self) -> bool:  # Flask-Login's name for the app's own column
        return self.active

    @classmethod
    def new_for_phone(cls, phone: str) -> User:
        """Someone signs up with a phone: the e-mail they sent with the sign-up (JSON
        ``"email"``), or a placeholder until they add one. Runs before the code is checked,
        so refusing a bad or taken address here spends nothing."""
        given = _submitted_email()
        if given is None:
            return cls(email=f"{uuid.uuid4().hex}@phone.invalid")
        if not EMAIL.fullmatch(given) or len(given) > 254:
            raise BadRequest("Enter a valid e-mail address.")
        if db.session.execute(sa.select(cls.id).where(cls.email == given)).first() is not None:
            raise Conflict("That e-mail address is already used by an account.")
        return cls(email=given)


def _submitted_email() -> str | None:
    if not has_request_context():
        return None
    body = request.get_json(silent=True) if request.is_json else None
    value = body.get("email") if isinstance(body, dict) else request.form.get("email")
    return value.strip().lower() if isinstance(value, str) and value.strip() else None
