"""Users: the columns the flows need (:class:`PhoneUserMixin`), a minimal default model,
and the operations on them (find by number, create, passwords, session epoch).

The app's own user model is used when given (``SmsOtp(user_model=User)``); it mixes in
:class:`PhoneUserMixin` beside Flask-Login's ``UserMixin``. Otherwise the extension brings
``SmsOtpUser`` (table ``sms_otp_user``).

Nothing here commits: the changes are made on the app's ``db.session`` and the extension's
views commit them once, at the end of the request (:mod:`.transaction`). A new user or a
new number is flushed inside a savepoint, so that a taken number is told apart from any
other database error without rolling back anything of the app's.
"""

from __future__ import annotations

import functools
import logging
import uuid
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

import sqlalchemy as sa
from flask import current_app
from flask_login import UserMixin
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from . import transaction
from .errors import ConfigurationError, ServerError
from .settings import Settings

logger = logging.getLogger("flask_sms_otp")

#: What Flask-Login needs of a user object (``flask_login.UserMixin`` provides it).
LOGIN_PROTOCOL = ("get_id", "is_active", "is_authenticated", "is_anonymous")


class PhoneUserMixin:
    """Columns for phone authentication, to mix into the app's own user model beside
    Flask-Login's ``UserMixin``, in any order::

        class User(UserMixin, PhoneUserMixin, db.Model): ...

    ``phone`` is E.164, unique through a named unique index; ``password_hash`` is
    Werkzeug's format (``None`` for a code-only account); ``session_epoch`` grows to end
    every session of the user at once. The NOT NULL columns have server defaults, so a
    migration adds them to a table that already has rows.
    """

    #: The columns this mixin brings (the app's model may declare any of them itself).
    PHONE_USER_COLUMNS: ClassVar[tuple[str, ...]] = (
        "phone",
        "password_hash",
        "mfa_enabled",
        "session_epoch",
    )

    phone: Mapped[str | None] = mapped_column(sa.String(20), unique=True, index=True, default=None)
    password_hash: Mapped[str | None] = mapped_column(sa.String(256), default=None)
    mfa_enabled: Mapped[bool] = mapped_column(
        sa.Boolean, default=False, server_default=sa.text("false")
    )
    session_epoch: Mapped[int] = mapped_column(sa.Integer, default=0, server_default=sa.text("0"))

    @classmethod
    def new_for_phone(cls, phone: str) -> Any:
        """An unsaved user for someone signing up with ``phone`` (E.164).

        Override it to fill the model's own required columns; it runs inside the sign-up
        request (so it may read ``request``), before the code is checked, so an
        ``HTTPException`` it raises (a missing field, say) spends nothing. Build the instance
        only: the extension sets the phone and password and saves it; related rows belong in
        a ``user_registered`` handler.
        """
        return cls()

    @property
    def has_password(self) -> bool:
        return bool(self.password_hash)


class DefaultUserColumns(UserMixin, PhoneUserMixin):
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


def check_user_model(model: type[Any], settings: Settings) -> None:
    """Refuse at ``init_app`` a model the flows could not use: Flask-Login's protocol or the
    mixin's columns missing, or a NOT NULL column nothing would fill at sign-up."""
    missing = [name for name in LOGIN_PROTOCOL if not hasattr(model, name)]
    if missing:
        raise ConfigurationError(
            "user_model",
            f"{model.__name__} lacks Flask-Login's {', '.join(missing)}: "
            "mix in flask_login.UserMixin (class User(UserMixin, PhoneUserMixin, db.Model))",
        )
    columns = PhoneUserMixin.PHONE_USER_COLUMNS
    missing = [name for name in columns if not hasattr(model, name)]
    if missing:
        raise ConfigurationError(
            "user_model",
            f"{model.__name__} needs PhoneUserMixin's columns; missing: {', '.join(missing)}",
        )
    if _overrides_new_for_phone(model):
        return
    # Columns the extension fills itself: phone, mfa_enabled, session_epoch always, the
    # password only when one is required.
    filled = {"phone", "mfa_enabled", "session_epoch"}
    if settings.password_required:
        filled.add("password_hash")
    unfilled = [
        column.key
        for column in sa.inspect(model).columns
        if not column.nullable
        and not column.primary_key
        and column.default is None
        and column.server_default is None
        and column.identity is None
        and column.computed is None
        and column.key not in filled
    ]
    if unfilled:
        raise ConfigurationError(
            "user_model",
            f"{model.__name__}.{', '.join(unfilled)} "
            f"{'is' if len(unfilled) == 1 else 'are'} NOT NULL with no default: sign-up "
            f"could not create a user. Override {model.__name__}.new_for_phone(cls, phone) "
            "to fill them (see PhoneUserMixin.new_for_phone)",
        )


def _overrides_new_for_phone(model: type[Any]) -> bool:
    made = getattr(model, "new_for_phone", None)
    return made is not None and getattr(made, "__func__", None) is not (
        PhoneUserMixin.new_for_phone.__func__  # type: ignore[attr-defined]
    )


class UserStore:
    """What the flows do with users. One per app, in the extension state."""

    def __init__(self, db: SQLAlchemy, model: type[Any], settings: Settings) -> None:
        check_user_model(model, settings)
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

    # Loading -------------------------------------------------------------------------------

    def get(self, user_id: Any) -> Any:
        """The user with this id, through the app's Flask-Login ``user_loader`` when it has
        one (so its own key type and rules apply), else by primary key."""
        if user_id is None:
            return None
        loader = getattr(getattr(current_app, "login_manager", None), "_user_callback", None)
        if loader is not None and loader != self.load_user:
            return loader(str(user_id))
        return self.load_user(str(user_id))

    def load_user(self, user_id: str) -> Any:
        """The ``user_loader`` of the login manager the extension makes for an app without
        one: the user by primary key, converted to the key's Python type (int, UUID...)."""
        key = _primary_key_value(self.model, user_id)
        return None if key is None else self.db.session.get(self.model, key)

    def by_phone(self, e164: str) -> Any:
        return self.db.session.execute(self._by_phone, {"phone": e164}).scalar_one_or_none()

    def owner_id(self, e164: str) -> str | None:
        """The ``get_id()`` of the user holding ``e164``, or ``None``. One column read when
        the model keeps Flask-Login's own ``get_id`` (``str(self.id)``); else the user is
        loaded and asked."""
        if self._id_read is not None:
            found = self.db.session.execute(self._id_read, {"phone": e164}).scalar_one_or_none()
            return None if found is None else str(found)
        owner = self.by_phone(e164)
        return None if owner is None else str(owner.get_id())

    @functools.cached_property
    def _id_read(self) -> sa.Select[Any] | None:
        """Built once, when the model's ``get_id`` is ``UserMixin``'s on an ``id`` column."""
        column = getattr(self.model, "id", None)
        if getattr(self.model, "get_id", None) is not UserMixin.get_id or not isinstance(
            column, InstrumentedAttribute
        ):
            return None
        return sa.select(column).where(self.model.phone == sa.bindparam("phone"))

    @functools.cached_property
    def _by_phone(self) -> sa.Select[Any]:
        """Built once: building a statement costs more than running it."""
        return sa.select(self.model).where(self.model.phone == sa.bindparam("phone"))

    # Changes (made on the session, committed by the view) ------------------------------

    def new_for_phone(self, e164: str) -> Any:
        """An unsaved user from the model's ``new_for_phone`` (or ``cls()``)."""
        make = getattr(self.model, "new_for_phone", None)
        return make(e164) if make is not None else self.model()

    def discard(self, user: Any) -> None:
        """Forget a user made by :meth:`new_for_phone` that will not be saved."""
        if user is not None and user in self.db.session:
            self.db.session.expunge(user)

    def add(self, user: Any, e164: str, password: str | None) -> Any:
        """Save ``user`` with this number; ``None`` if the number was taken meanwhile.
        Any other database error is logged with its cause and raised as a server error."""
        user.phone = e164
        user.mfa_enabled = False
        user.session_epoch = 0
        if password:
            user.password_hash = self.hash_password(password)
        if self._flush_or_taken(lambda: self.db.session.add(user), e164, "sign-up"):
            transaction.changed()
            return user
        self.discard(user)
        return None

    def create(self, e164: str, password: str | None) -> Any:
        """A new user with this number, as sign-up makes it (not committed)."""
        return self.add(self.new_for_phone(e164), e164, password)

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
            transaction.changed()
        return True

    def set_password(self, user: Any, password: str) -> None:
        user.password_hash = self.hash_password(password)
        transaction.changed()

    def end_all_sessions(self, user: Any) -> None:
        """Every session opened before now stops authenticating (checked per request)."""
        user.session_epoch = (user.session_epoch or 0) + 1
        transaction.changed()

    def set_phone(self, user: Any, e164: str | None) -> bool:
        """Give ``user`` this number; ``False`` if another account holds it."""
        old = user.phone

        def change() -> None:
            user.phone = e164

        if e164 is None or self._flush_or_taken(change, e164, "phone change"):
            user.phone = e164
            transaction.changed()
            return True
        user.phone = old
        return False

    def set_mfa(self, user: Any, enabled: bool) -> None:
        user.mfa_enabled = enabled
        transaction.changed()

    def _flush_or_taken(self, change: Callable[[], object], e164: str, action: str) -> bool:
        """Make ``change`` and flush it in a savepoint. ``False`` when the number turns out
        to be another account's (the unique index refused it); any other integrity error is
        the app's model refusing the row: logged with its cause, raised as a server error."""
        session = self.db.session
        try:
            with session.begin_nested():
                change()
        except IntegrityError as error:
            holder = self.by_phone(e164)
            if holder is not None:
                return False
            logger.error(
                "%s failed: the database refused the user row (%s). If the model has "
                "required columns, fill them in new_for_phone.",
                action,
                error.orig,
                exc_info=error,
            )
            raise ServerError() from error
        return True


def _primary_key_value(model: type[Any], user_id: str) -> Any:
    """``user_id`` (text, as Flask-Login keeps it) as the model's primary key value."""
    columns = sa.inspect(model).primary_key
    if len(columns) != 1:
        return user_id
    try:
        python_type = columns[0].type.python_type
    except NotImplementedError:
        return user_id
    try:
        if python_type is uuid.UUID:
            return uuid.UUID(user_id)
        return python_type(user_id)
    except (TypeError, ValueError):
        return None
