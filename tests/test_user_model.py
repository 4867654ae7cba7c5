"""The app's own user model: how the mixin combines, what ``init_app`` refuses, how users
are made (``new_for_phone``) and loaded (the app's ``user_loader``), and that only a taken
number means "taken"."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_login import LoginManager, UserMixin
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flask_sms_otp import ConfigurationError, PhoneUserMixin, SmsOtp
from flask_sms_otp.connectors.memory import SentSms
from flask_sms_otp.state import get_state

from .helpers import (
    PASSWORD,
    PHONE,
    ApiClient,
    error_code,
    last_code,
)

ModelFactory = Callable[[SQLAlchemy], type[Any]]


class Made:
    """An app made around a user model the test defines on its own ``db``."""

    def __init__(self, app: Flask, db: SQLAlchemy, model: type[Any]) -> None:
        self.app, self.db, self.model = app, db, model

    def count(self) -> int:
        with self.app.app_context():
            return int(
                self.db.session.execute(
                    sa.select(sa.func.count()).select_from(self.model)
                ).scalar_one()
            )


@pytest.fixture
def build(database_uri: str, app_limits: dict[str, Any]) -> Iterator[Callable[..., Made]]:
    """``build(define, **config)``: ``define(db)`` returns the user model; the app gets
    Flask-SQLAlchemy, the extension with that model, and fresh tables."""
    made: list[Made] = []

    def factory(
        define: ModelFactory,
        *,
        metadata: sa.MetaData | None = None,
        login_manager: LoginManager | None = None,
        **config: Any,
    ) -> Made:
        class Base(DeclarativeBase):
            pass

        if metadata is not None:
            Base.metadata = metadata
        db = SQLAlchemy(model_class=Base)
        model = define(db)
        app = Flask("user_model_test")
        app.config.update(
            TESTING=True,
            SECRET_KEY="user-model-test",
            SQLALCHEMY_DATABASE_URI=database_uri,
            SMS_OTP_CONNECTOR="memory",
            SMS_OTP_PASSWORD_HASH_METHOD="pbkdf2:sha256:1000",
        )
        app.config.update(app_limits)
        app.config.update(config)
        db.init_app(app)
        if login_manager is not None:
            login_manager.init_app(app)
        SmsOtp(app, db=db, user_model=model)
        with app.app_context():
            db.drop_all()
            db.create_all()
        result = Made(app, db, model)
        made.append(result)
        return result

    yield factory
    for result in made:
        with result.app.app_context():
            result.db.session.remove()
            result.db.drop_all()
            result.db.engine.dispose()


def sign_up(made: Made, outbox: list[SentSms], **extra: Any) -> Any:
    client = ApiClient(made.app)
    vid = client.request_code(PHONE, "Register")
    return client, client.post(
        "/sign-up",
        {"verification_id": vid, "code": last_code(outbox=outbox), "password": PASSWORD, **extra},
    )


# The mixin combines with Flask-Login's and the model in any order ---------------------------


@pytest.mark.parametrize(
    "order",
    [
        ("login", "phone", "model"),
        ("phone", "login", "model"),
        ("model", "login", "phone"),
    ],
)
def test_the_mixin_fits_any_order_of_bases(
    build: Callable[..., Made], order: tuple[str, ...], sms_outbox: list[SentSms]
) -> None:
    def define(db: SQLAlchemy) -> type[Any]:
        parts = {"login": UserMixin, "phone": PhoneUserMixin, "model": db.Model}
        bases = tuple(parts[name] for name in order)
        namespace = {
            "__tablename__": "people",
            "__annotations__": {"id": Mapped[int]},
            "id": mapped_column(sa.Integer, primary_key=True),
        }
        return type("Person", bases, namespace)

    made = build(define)
    _, created = sign_up(made, sms_outbox)
    assert created.status_code == 201, created.get_json()
    assert made.count() == 1


def test_a_model_without_flask_logins_protocol_is_refused(build: Callable[..., Made]) -> None:
    def define(db: SQLAlchemy) -> type[Any]:
        class Person(PhoneUserMixin, db.Model):  # type: ignore[name-defined,misc]
            __tablename__ = "people"
            id: Mapped[int] = mapped_column(primary_key=True)

        return Person

    with pytest.raises(ConfigurationError, match=r"UserMixin"):
        build(define)


# Required columns ---------------------------------------------------------------------------


def test_a_not_null_column_nothing_fills_fails_at_init_app(build: Callable[..., Made]) -> None:
    def define(db: SQLAlchemy) -> type[Any]:
        class Person(UserMixin, PhoneUserMixin, db.Model):  # type: ignore[name-defined,misc]
            __tablename__ = "people"
            id: Mapped[int] = mapped_column(primary_key=True)
            email: Mapped[str] = mapped_column(sa.String(200))
            nickname: Mapped[str] = mapped_column(sa.String(50))
            plan: Mapped[str] = mapped_column(sa.String(20), server_default="free")
            karma: Mapped[int] = mapped_column(default=0)
            bio: Mapped[str | None] = mapped_column(sa.Text)

        return Person

    with pytest.raises(ConfigurationError) as raised:
        build(define)
    message = str(raised.value)
    assert "email" in message
    assert "nickname" in message
    assert "new_for_phone" in message
    # Columns with a default, a server default or NULL allowed are fine.
    for fine in ("plan", "karma", "bio"):
        assert fine not in message


def test_an_app_password_column_that_is_not_null_needs_passwords_required(
    build: Callable[..., Made],
) -> None:
    def define(db: SQLAlchemy) -> type[Any]:
        class Person(UserMixin, PhoneUserMixin, db.Model):  # type: ignore[name-defined,misc]
            __tablename__ = "people"
            id: Mapped[int] = mapped_column(primary_key=True)
            password_hash: Mapped[str] = mapped_column(sa.String(256))

        return Person

    with pytest.raises(ConfigurationError, match="password_hash"):
        build(define)
    build(define, SMS_OTP_PASSWORD_REQUIRED=True)  # every sign-up then sets one


def email_model(*, forget: bool = False) -> ModelFactory:
    """A model with a NOT NULL e-mail that ``new_for_phone`` fills (or, a bug, forgets)."""

    def define(db: SQLAlchemy) -> type[Any]:
        class Person(UserMixin, PhoneUserMixin, db.Model):  # type: ignore[name-defined,misc]
            __tablename__ = "people"
            id: Mapped[int] = mapped_column(primary_key=True)
            email: Mapped[str] = mapped_column(sa.String(200))

            @classmethod
            def new_for_phone(cls, phone: str) -> Any:
                return cls() if forget else cls(email=f"{phone[1:]}@phone.invalid")

        return Person

    return define


def test_new_for_phone_fills_the_models_own_columns(
    build: Callable[..., Made], sms_outbox: list[SentSms]
) -> None:
    made = build(email_model())
    _, created = sign_up(made, sms_outbox)
    assert created.status_code == 201
    with made.app.app_context():
        person = made.db.session.execute(sa.select(made.model)).scalar_one()
        assert person.email == "8613800138000@phone.invalid"


def test_any_other_database_error_is_a_logged_500_never_invalid_code(
    build: Callable[..., Made], sms_outbox: list[SentSms], caplog: pytest.LogCaptureFixture
) -> None:
    """A ``new_for_phone`` that leaves a NOT NULL column empty: the database refuses the
    row. That is a server error, logged with its cause; not "the code is invalid"."""
    made = build(email_model(forget=True))
    with caplog.at_level(logging.ERROR, logger="flask_sms_otp"):
        client, response = sign_up(made, sms_outbox)
    assert (response.status_code, error_code(response)) == (500, "server_error")
    assert "Traceback" not in response.get_data(as_text=True)
    assert "refused the user row" in caplog.text
    assert "email" in caplog.text.lower()  # the database's own reason, naming the column
    assert made.count() == 0
    assert client.account().status_code == 401


def test_a_number_taken_meanwhile_is_the_only_taken(
    build: Callable[..., Made], sms_outbox: list[SentSms]
) -> None:
    """Two sign-ups for one number with two codes: the second finds the number taken by the
    unique index, and answers like any wrong code."""
    made = build(email_model())
    first, second = ApiClient(made.app), ApiClient(made.app, ip="10.0.0.2")
    vid_one = first.request_code(PHONE, "Register")
    code_one = last_code()
    vid_two = second.request_code(PHONE, "Register")
    code_two = last_code()
    body = {"verification_id": vid_one, "code": code_one}
    assert first.post("/sign-up", body).status_code == 201
    late = second.post("/sign-up", {"verification_id": vid_two, "code": code_two})
    assert (late.status_code, error_code(late)) == (400, "invalid_code")
    assert made.count() == 1


# Names of the mixin's index --------------------------------------------------------------------


def plain_model(db: SQLAlchemy) -> type[Any]:
    class Person(UserMixin, PhoneUserMixin, db.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "people"
        id: Mapped[int] = mapped_column(primary_key=True)

    return Person


def phone_indexes(made: Made) -> dict[str, bool]:
    table = made.model.__table__
    return {str(index.name): bool(index.unique) for index in table.indexes}


def test_the_phone_index_is_named_and_unique(build: Callable[..., Made]) -> None:
    made = build(plain_model)
    assert phone_indexes(made) == {"ix_people_phone": True}
    assert not [c for c in made.model.__table__.constraints if isinstance(c, sa.UniqueConstraint)]
    mfa = made.model.__table__.c.mfa_enabled
    epoch = made.model.__table__.c.session_epoch
    assert not mfa.nullable
    assert mfa.server_default is not None
    assert not epoch.nullable
    assert epoch.server_default is not None


def test_the_phone_index_follows_the_apps_naming_convention(build: Callable[..., Made]) -> None:
    convention = {"ix": "idx_%(table_name)s_%(column_0_name)s", "pk": "pk_%(table_name)s"}
    made = build(plain_model, metadata=sa.MetaData(naming_convention=convention))
    assert phone_indexes(made) == {"idx_people_phone": True}


# Users are loaded the app's way ---------------------------------------------------------------


def string_key_model(db: SQLAlchemy) -> type[Any]:
    class Person(UserMixin, PhoneUserMixin, db.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "people"
        id: Mapped[str] = mapped_column(
            sa.String(32), primary_key=True, default=lambda: uuid.uuid4().hex
        )

    return Person


def uuid_key_model(db: SQLAlchemy) -> type[Any]:
    class Person(UserMixin, PhoneUserMixin, db.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "people"
        id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)

    return Person


@pytest.mark.parametrize("define", [plain_model, string_key_model, uuid_key_model])
def test_integer_string_and_uuid_keys_through_every_flow(
    build: Callable[..., Made], define: ModelFactory, sms_outbox: list[SentSms]
) -> None:
    """Without a login manager of the app's own: the extension's loads by primary key,
    converted to the key's type. Sign-in by code, the second step and the reset each load
    the user by id."""
    made = build(define)
    client, created = sign_up(made, sms_outbox)
    user_id = created.get_json()["user"]["id"]
    assert client.post("/sign-out").status_code == 204
    assert client.sign_in_by_code(PHONE, sms_outbox).get_json()["user"]["id"] == user_id
    assert client.verify_identity(sms_outbox).status_code == 200
    assert client.put("/account/mfa", {"enabled": True}).status_code == 200
    assert client.post("/sign-out").status_code == 204
    pending = client.sign_in_password(PHONE, PASSWORD).get_json()
    second = client.post(
        "/mfa", {"verification_id": pending["verification_id"], "code": last_code()}
    )
    assert second.get_json()["user"]["id"] == user_id
    assert client.post("/sign-out").status_code == 204
    vid = client.request_code(PHONE, "ForgotPassword")
    body = {"verification_id": vid, "code": last_code(), "password": "x" * 12}
    assert client.post("/reset-password", body).status_code == 204


def test_the_apps_user_loader_decides(
    build: Callable[..., Made], sms_outbox: list[SentSms]
) -> None:
    """The app's ``user_loader`` is the one way users are loaded by id: a user it refuses
    (here: banned in the app's own terms) cannot sign in by code."""
    login_manager = LoginManager()
    refused: set[str] = set()
    loaded: list[str] = []
    holder: dict[str, Made] = {}

    @login_manager.user_loader  # type: ignore[untyped-decorator]
    def load(user_id: str) -> Any:
        loaded.append(user_id)
        if user_id in refused:
            return None
        made = holder["made"]
        return made.db.session.get(made.model, int(user_id))

    made = holder["made"] = build(plain_model, login_manager=login_manager)
    client, created = sign_up(made, sms_outbox)
    user_id = created.get_json()["user"]["id"]
    assert client.post("/sign-out").status_code == 204
    assert client.sign_in_by_code(PHONE, sms_outbox).status_code == 200
    assert user_id in loaded
    assert client.post("/sign-out").status_code == 204
    refused.add(user_id)
    response = client.sign_in_by_code(PHONE, sms_outbox)
    assert (response.status_code, error_code(response)) == (400, "invalid_code")


def test_a_model_with_its_own_get_id_signs_in_by_it(
    build: Callable[..., Made], sms_outbox: list[SentSms]
) -> None:
    """A model whose ``get_id`` is not Flask-Login's ``str(self.id)`` (here: an opaque
    ``member-<id>``) is asked for it: a code sent to its number is bound to that id, and the
    app's loader, which knows only that form, signs the holder in."""
    login_manager = LoginManager()
    holder: dict[str, Made] = {}

    def define(db: SQLAlchemy) -> type[Any]:
        class Member(UserMixin, PhoneUserMixin, db.Model):  # type: ignore[name-defined,misc]
            id: Mapped[int] = mapped_column(primary_key=True)

            def get_id(self) -> str:
                return f"member-{self.id}"

        return Member

    @login_manager.user_loader  # type: ignore[untyped-decorator]
    def load(user_id: str) -> Any:
        prefix, _, number = user_id.partition("-")
        if prefix != "member" or not number.isdigit():
            return None
        made = holder["made"]
        return made.db.session.get(made.model, int(number))

    made = holder["made"] = build(define, login_manager=login_manager)
    client, created = sign_up(made, sms_outbox)
    assert created.status_code == 201, created.get_json()
    assert client.post("/sign-out").status_code == 204
    assert client.sign_in_by_code(PHONE, sms_outbox).status_code == 200
    assert client.signed_in_phone() == PHONE
    with made.app.app_context():
        Challenge = get_state(made.app).models.Challenge
        bound = made.db.session.execute(
            sa.select(Challenge.user_id).where(Challenge.usage == "SignIn")
        ).scalar_one()
    assert bound is not None
    assert bound.startswith("member-")
