"""Users: the columns the flows need (:class:`PhoneUserMixin`), a minimal default model,
and the operations on them (find by number, create, passwords, session epoch).

The app's own user model is used when given (``SmsOtp(user_model=User)``); it must have the
mixin's columns. Otherwise the extension brings ``SmsOtpUser`` (table ``sms_otp_user``).
"""

from __future__ import annotations

import functools
import logging
import weakref
from typing import Any

import sqlalchemy as sa
from flask_login import UserMixin
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from .settings import Settings

logger = logging.getLogger("flask_sms_otp")


class PhoneUserMixin(UserMixin):
    """Columns for phone authentication, to mix into the app's own user model.

    ``phone`` is E.164 and unique; ``password_hash`` is Werkzeug's format (``None`` for a
    code-only account); ``session_epoch`` grows to end every session of the user at once.
    """

    phone: Mapped[str | None] = mapped_column(sa.String(20), unique=True, default=None)
    password_hash: Mapped[str | None] = mapped_column(sa.String(256), default=None)
    mfa_enabled: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    session_epoch: Mapped[int] = mapped_column(sa.Integer, default=0)

    @property
    def has_password(self) -> bool:
        return bool(self.password_hash)


class DefaultUserColumns(PhoneUserMixin):
    __tablename__ = "sms_otp_user"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)


_default_models: weakref.WeakKeyDictionary[SQLAlchemy, type[Any]] = weakref.WeakKeyDictionary()


def default_user_model(db: SQLAlchemy) -> type[Any]:
    """The extension's own user model on ``db`` (created once per ``db``)."""
    model = _default_models.get(db)
    if model is None:
        base: Any = db.Model

        class SmsOtpUser(DefaultUserColumns, base):
            pass

        model = _default_models[db] = SmsOtpUser
    return model


class UserStore:
    """What the flows do with users. One per app, in the extension state."""

    def __init__(self, db: SQLAlchemy, model: type[Any], settings: Settings) -> None:
        missing = [
            c
            for c in ("phone", "password_hash", "mfa_enabled", "session_epoch")
            if not hasattr(model, c)
        ]
        if missing:
            raise TypeError(
                f"{model.__name__} needs PhoneUserMixin's columns; missing: {', '.join(missing)}"
            )
        self.db = db
        self.model = model
        self.settings = settings

    @functools.cached_property
    def _dummy_hash(self) -> str:
        """Checked against when a number has no account, so both paths cost one hash.
        Made on first use: a strong hash takes most of a second."""
        return generate_password_hash(
            "flask-sms-otp dummy password", method=self.settings.password_hash_method
        )

    @property
    def _hash_prefix(self) -> str:
        # "scrypt" is stored as "scrypt:32768:8:1": compare with what the method produces.
        return self._dummy_hash.split("$", 1)[0] + "$"

    def get(self, user_id: Any) -> Any:
        try:
            return self.db.session.get(self.model, int(user_id))
        except (TypeError, ValueError):
            return self.db.session.get(self.model, user_id)

    def by_phone(self, e164: str) -> Any:
        return self.db.session.execute(
            sa.select(self.model).where(self.model.phone == e164)
        ).scalar_one_or_none()

    def create(self, e164: str, password: str | None) -> Any:
        """A new user with this number; ``None`` if the number was taken meanwhile."""
        user = self.model(phone=e164, mfa_enabled=False, session_epoch=0)
        if password:
            user.password_hash = self.hash_password(password)
        self.db.session.add(user)
        try:
            self.db.session.commit()
        except IntegrityError:
            self.db.session.rollback()
            return None
        return user

    def hash_password(self, password: str) -> str:
        return generate_password_hash(password, method=self.settings.password_hash_method)

    def check_password(self, user: Any, password: str) -> bool:
        """Constant work whether or not ``user`` exists or has a password; rehashes
        on success when the stored hash uses other parameters than the configured ones."""
        stored = getattr(user, "password_hash", None) if user is not None else None
        try:
            ok = check_password_hash(stored or self._dummy_hash, password)
        except ValueError:  # a format Werkzeug cannot read (an imported bcrypt or Argon2 hash)
            logger.warning("user %s has a password hash in an unknown format", user.get_id())
            check_password_hash(self._dummy_hash, password)  # the same work as a real check
            return False
        if not (ok and stored):
            return False
        if not stored.startswith(self._hash_prefix):
            user.password_hash = self.hash_password(password)
            self.db.session.commit()
        return True

    def set_password(self, user: Any, password: str) -> None:
        user.password_hash = self.hash_password(password)
        self.db.session.commit()

    def end_all_sessions(self, user: Any) -> None:
        """Every session opened before now stops authenticating (checked per request)."""
        user.session_epoch = (user.session_epoch or 0) + 1
        self.db.session.commit()

    def set_phone(self, user: Any, e164: str | None) -> bool:
        """Give ``user`` this number; ``False`` if another account holds it."""
        user.phone = e164
        try:
            self.db.session.commit()
        except IntegrityError:
            self.db.session.rollback()
            return False
        return True

    def set_mfa(self, user: Any, enabled: bool) -> None:
        user.mfa_enabled = enabled
        self.db.session.commit()
