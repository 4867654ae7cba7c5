"""A team app that invites people by SMS: the end-to-end example of docs/invitations.md.

Run it with ``flask --app examples.team_app run`` (SQLite in its instance folder, the console
connector, so the texted link is printed). A signed-in member opens ``/teams/<id>`` and
invites a phone number; the invited person opens the texted link, signs up or signs in with
that number, and accepts; :func:`add_member`, the app's ``invitation_accepted`` handler,
then makes the membership from the invitation's ``data``. ``/teams/new`` makes a team with
the signed-in user as its first member.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, abort, flash, redirect, render_template, request, url_for
from flask_login import UserMixin, current_user, login_required
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from werkzeug.wrappers import Response

from flask_sms_otp import (
    DeliveryError,
    Invitation,
    InvitationInvalid,
    PhoneUserMixin,
    SmsOtp,
    SmsOtpError,
    invitation_accepted,
)


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
csrf = CSRFProtect()


class User(UserMixin, PhoneUserMixin, db.Model):  # type: ignore[name-defined]
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: How invitations name the user as the inviter (``invite`` reads ``name``).
    name: Mapped[str | None] = mapped_column(sa.String(80), default=None)


class Team(db.Model):  # type: ignore[name-defined]
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80))


class Membership(db.Model):  # type: ignore[name-defined]
    __tablename__ = "memberships"

    team_id: Mapped[int] = mapped_column(sa.ForeignKey("teams.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    role: Mapped[str] = mapped_column(sa.String(20), default="member")


sms_otp = SmsOtp(db=db, user_model=User)


def add_member(_app: Flask, *, invitation: Invitation, data: Any, user: Any, **_: Any) -> None:
    """``invitation_accepted``: the invited person is signed in with the invited number;
    make them a member of the team the invitation's ``data`` names. The extension commits
    this with the acceptance (and, should this fail, the invitation stays open)."""
    team_id = int(data["team_id"])
    if db.session.get(Membership, (team_id, user.id)) is None:
        db.session.add(
            Membership(team_id=team_id, user_id=user.id, role=data.get("role", "member"))
        )


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(
        SQLALCHEMY_DATABASE_URI="sqlite:///team.db",  # in the instance folder
        SMS_OTP_CONNECTOR="console",
        SMS_OTP_ALLOWED_REGIONS=["CN", "GB", "US"],
        SMS_OTP_SECURE_COOKIES=False,  # development runs on plain http://127.0.0.1
    )
    app.config.from_prefixed_env()
    app.config.update(config or {})
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _dev_secret_key(Path(app.instance_path))
    db.init_app(app)
    csrf.init_app(app)
    sms_otp.init_app(app)
    invitation_accepted.connect(add_member, app)
    with app.app_context():
        db.create_all()

    @app.get("/")
    def index() -> str:
        teams: Sequence[Team] = []
        if current_user.is_authenticated:
            teams = db.session.scalars(
                sa.select(Team)
                .join(Membership, Membership.team_id == Team.id)
                .where(Membership.user_id == current_user.id)
                .order_by(Team.id)
            ).all()
        return render_template("teams.html", teams=teams)

    @app.post("/teams/new")
    @login_required
    def new_team() -> Response:
        team = Team(name=request.form.get("name", "").strip()[:80] or "My team")
        db.session.add(team)
        db.session.flush()
        db.session.add(Membership(team_id=team.id, user_id=current_user.id, role="owner"))
        db.session.commit()
        return redirect(url_for("team", team_id=team.id))

    @app.get("/teams/<int:team_id>")
    @login_required
    def team(team_id: int) -> str:
        found = _my_team(team_id)
        members = db.session.scalars(
            sa.select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.team_id == team_id)
            .order_by(User.id)
        ).all()
        pending = [
            each
            for each in sms_otp.pending_invitations(current_user)
            if each.data.get("team_id") == team_id
        ]
        return render_template("team.html", team=found, members=members, pending=pending)

    @app.post("/teams/<int:team_id>/invitations")
    @login_required
    def invite(team_id: int) -> Response:
        found = _my_team(team_id)
        try:
            sms_otp.invite(
                request.form.get("phone", ""),
                invited_by=current_user,
                data={"team_id": found.id, "team": found.name, "role": "member"},
            )
        except DeliveryError:  # the provider's reason is logged, not shown
            flash("The invitation could not be sent. Please try again later.", "error")
        except SmsOtpError as error:  # a bad number, a limit: its text says which
            flash(str(getattr(error, "description", error)), "error")
        else:
            flash("Invitation sent.", "success")
        return redirect(url_for("team", team_id=team_id))

    @app.post("/teams/<int:team_id>/invitations/<invitation_id>/resend")
    @login_required
    def resend(team_id: int, invitation_id: str) -> Response:
        _my_team(team_id)
        try:
            sms_otp.resend_invitation(invitation_id, invited_by=current_user)
        except InvitationInvalid:
            abort(404)
        except DeliveryError:
            flash("The invitation could not be sent. Please try again later.", "error")
        except SmsOtpError as error:
            flash(str(getattr(error, "description", error)), "error")
        return redirect(url_for("team", team_id=team_id))

    @app.post("/teams/<int:team_id>/invitations/<invitation_id>/revoke")
    @login_required
    def revoke(team_id: int, invitation_id: str) -> Response:
        _my_team(team_id)
        if not sms_otp.revoke_invitation(invitation_id, invited_by=current_user):
            abort(404)
        return redirect(url_for("team", team_id=team_id))

    return app


def _my_team(team_id: int) -> Team:
    """The team, if the signed-in user is one of its members; else 404."""
    if db.session.get(Membership, (team_id, current_user.id)) is None:
        abort(404)
    found = db.session.get(Team, team_id)
    assert found is not None  # noqa: S101 - a membership's team exists (foreign key)
    return found


def _dev_secret_key(instance: Path) -> str:
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
