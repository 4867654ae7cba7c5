"""An app that existed before flask-sms-otp, at two stages, for tests/test_migrations.py.

``MIGRATION_APP_STAGE=before``: Flask-SQLAlchemy, Flask-Migrate, Flask-Login and a ``users``
table of its own (UUID key, required unique email, its own password hashes). ``after``: the
same app once it has followed docs/deployment.md: the model mixes in ``PhoneUserMixin`` and
``SmsOtp`` is initialised. The schema comes from ``flask db`` only, never ``create_all()``.
The database is ``MIGRATION_APP_DATABASE_URI``. Each call builds its own ``db`` and models,
so one process can make several apps (one per database) without sharing a metadata.
"""

from __future__ import annotations

import os
import uuid
from typing import Any, Self

import sqlalchemy as sa
from flask import Flask
from flask_login import LoginManager, UserMixin
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flask_sms_otp import PhoneUserMixin, SmsOtp

STAGE = "MIGRATION_APP_STAGE"
DATABASE_URI = "MIGRATION_APP_DATABASE_URI"


def create_app() -> Flask:
    stage = os.environ.get(STAGE)
    if stage not in ("before", "after"):
        raise RuntimeError(f"set {STAGE} to 'before' or 'after' (got {stage!r})")
    app = Flask(__name__)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=os.environ[DATABASE_URI],
        SECRET_KEY="migration-test",
        TESTING=True,
        SMS_OTP_CONNECTOR="memory",
        SMS_OTP_PASSWORD_HASH_METHOD="pbkdf2:sha256:1000",
    )

    class Base(DeclarativeBase):
        pass

    db = SQLAlchemy(app, model_class=Base)
    # Nothing but the defaults, as the docs say; in Flask-Migrate 4 they include
    # render_as_batch=True (what SQLite needs to alter a table) and compare_type=True.
    Migrate(app, db)
    user_model = _user_before(db) if stage == "before" else _user_after(db)

    # The app had its own login manager: the extension keeps it and its loader.
    login_manager = LoginManager(app)

    def load_user(user_id: str) -> Any:
        try:
            key = uuid.UUID(user_id)
        except ValueError:
            return None
        return db.session.get(user_model, key)

    login_manager.user_loader(load_user)

    if stage == "after":
        SmsOtp(app, db=db, user_model=user_model)
    return app


def _user_before(db: SQLAlchemy) -> type[Any]:
    model: Any = db.Model

    class User(UserMixin, model):  # type: ignore[misc]
        __tablename__ = "users"

        id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
        email: Mapped[str] = mapped_column(sa.String(254), unique=True)
        password_hash: Mapped[str | None] = mapped_column(sa.String(256))
        active: Mapped[bool] = mapped_column(sa.Boolean, default=True)

        @property
        def is_active(self) -> bool:
            return self.active

    return User


def _user_after(db: SQLAlchemy) -> type[Any]:
    """The same model after the docs: ``PhoneUserMixin`` mixed in, ``new_for_phone`` filling
    the required ``email``."""
    model: Any = db.Model

    class User(UserMixin, PhoneUserMixin, model):  # type: ignore[misc]
        __tablename__ = "users"

        id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
        email: Mapped[str] = mapped_column(sa.String(254), unique=True)
        # The mixin declares it too; the app's own declaration wins, so the column (and the
        # hashes in it) stay as they were.
        password_hash: Mapped[str | None] = mapped_column(sa.String(256))
        active: Mapped[bool] = mapped_column(sa.Boolean, default=True)

        @property
        def is_active(self) -> bool:
            return self.active

        @classmethod
        def new_for_phone(cls, phone: str) -> Self:
            """A phone sign-up has no email: a placeholder nobody receives mail at."""
            return cls(email=f"{uuid.uuid4().hex}@phone.invalid")

    return User
