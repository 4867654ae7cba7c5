"""An app that already had users when it added flask-sms-otp.

Run it with ``flask --app examples.existing_app run`` (SQLite in its instance folder, the
console connector); docs/existing-app.md walks through how it was adapted. Its own parts,
which the extension leaves alone: the ``users`` table (:mod:`.models`), its own
``LoginManager`` with a ``user_loader`` for UUID keys, Flask-WTF's ``CSRFProtect`` over every
form, and its own ``/login`` page (e-mail and password, with "remember me"). The extension
adds the phone pages under ``/auth``, and with ``SMS_OTP_ADMIN`` its admin pages for the
users the app's own ``is_admin`` accepts.
"""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path
from typing import Any

from flask import Flask, current_app, redirect, render_template, request, url_for
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from flask_wtf import CSRFProtect, FlaskForm
from werkzeug.security import check_password_hash
from werkzeug.wrappers import Response
from wtforms import BooleanField, EmailField, PasswordField

from flask_sms_otp import SmsOtp

from .models import User, db

csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "login"
sms_otp = SmsOtp(db=db, user_model=User)


@sms_otp.admin_check
def is_admin(user: User) -> bool:
    """Who sees the extension's admin pages (with ``SMS_OTP_ADMIN = True``): the app's own
    rule, here the e-mail addresses of its ``ADMIN_EMAILS``."""
    return user.email in current_app.config.get("ADMIN_EMAILS", ())


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    try:
        key = uuid.UUID(user_id)
    except ValueError:
        return None
    return db.session.get(User, key)


class LoginForm(FlaskForm):
    email = EmailField("E-mail")
    password = PasswordField("Password")
    remember = BooleanField("Remember me")


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(
        SQLALCHEMY_DATABASE_URI="sqlite:///existing_app.db",
        SMS_OTP_CONNECTOR="console",
        SMS_OTP_SECURE_COOKIES=False,  # development over plain HTTP
    )
    app.config.from_prefixed_env()
    app.config.update(config or {})
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _dev_secret_key(Path(app.instance_path))
    db.init_app(app)
    csrf.init_app(app)  # every POST of the app, the extension's included, needs its token
    login_manager.init_app(app)  # the app's own, set up before the extension
    sms_otp.init_app(app)
    with app.app_context():
        db.create_all()

    @app.get("/")
    def home() -> str:
        return render_template("home.html")

    @app.route("/login", methods=["GET", "POST"])
    def login() -> str | Response:
        form = LoginForm()
        if form.validate_on_submit():
            user = db.session.execute(
                db.select(User).where(User.email == (form.email.data or "").strip().lower())
            ).scalar_one_or_none()
            if (
                user is not None
                and user.password_hash
                and check_password_hash(user.password_hash, form.password.data or "")
                and login_user(user, remember=bool(form.remember.data))
            ):
                return redirect(_safe_next() or url_for("profile"))
            form.form_errors.append("Wrong e-mail or password, or the account is disabled.")
        return render_template("login.html", form=form)

    @app.post("/logout")
    @login_required
    def logout() -> Response:
        logout_user()
        return redirect(url_for("home"))

    @app.get("/profile")
    @login_required
    def profile() -> str:
        return render_template("profile.html", user=current_user)

    return app


def _safe_next() -> str | None:
    target = request.args.get("next", "")
    return target if target.startswith("/") and not target.startswith("//") else None


def _dev_secret_key(instance: Path) -> str:
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
