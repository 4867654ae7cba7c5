"""The operator's pages (``SMS_OTP_ADMIN``): connectors, the delivery log, conversion with
the pumping guard's holds, locked numbers, and the audit trail of what operators did.

Registered only when the app gave an admin check (:meth:`SmsOtp.admin_check
<flask_sms_otp.SmsOtp.admin_check>`); anyone it does not accept gets the app's 404, before
any other hook of the app runs, so the pages' existence shows to no one else. Every action
is a POST with a CSRF token and leaves a row in ``sms_otp_admin_action`` and an
``admin_action`` signal (:mod:`.audit`). No page holds a credential or a number in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, TypeVar

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response
from wtforms import HiddenField, SelectField, TelField
from wtforms.fields.choices import SelectChoice

from . import audit, headers, operations
from .connectors.receipts import RANK
from .errors import DeliveryError, InvalidPhoneNumber
from .forms import ActionForm, SmsOtpForm
from .i18n import gettext as _
from .i18n import lazy_gettext as _l
from .phone import mask_phone
from .records import Cursor, DeliveryFilter, DeliveryRecords
from .state import SmsOtpState, get_state
from .usage import Usage

ENDPOINT = "sms_otp_admin"
#: Records per page of the delivery log.
PAGE_SIZE = 50
#: The periods the conversion page offers, in days.
PERIODS = (1, 7, 30, 90)
STATUSES = ("sent", "failed", "unsure", "queued")

admin_blueprint = Blueprint(ENDPOINT, __name__, template_folder="templates")
admin_blueprint.after_request(headers.protect)


def refuse_non_admins() -> None:
    """App-wide ``before_request``, ahead of the app's own hooks (its CSRF check, say): a
    request for an admin page from anyone the app's check refuses is a 404. Judged by the
    path too: a wrong method matches no rule, and its 405 would tell the page exists."""
    state = get_state()
    prefix = state.settings.url_prefix + "/admin"
    if request.blueprint != ENDPOINT and not (
        request.path == prefix or request.path.startswith(prefix + "/")
    ):
        return
    check = state.admin_check
    if check is None or not current_user.is_authenticated:
        abort(404)
    if not check(current_user._get_current_object()):
        abort(404)


class TestSendForm(SmsOtpForm):
    __test__ = False  # not a pytest test class, whatever its name

    phone = TelField(_l("Phone number"), render_kw={"autocomplete": "off", "required": True})
    usage = SelectField(
        _l("Usage"),
        choices=[SelectChoice(u.value, u.value) for u in Usage],
        default=Usage.GENERIC.value,
    )
    connector = SelectField(_l("Connector"), validate_choice=False)


class ReleaseForm(SmsOtpForm):
    scope = HiddenField()
    key = HiddenField()


class UnlockForm(SmsOtpForm):
    token = HiddenField()


class NumberForm(SmsOtpForm):
    phone = TelField(_l("Phone number"), render_kw={"autocomplete": "off", "required": True})


# Connectors --------------------------------------------------------------------------------


@admin_blueprint.get("/")
def connectors() -> Response:
    return _connectors_page(_test_send_form())


@admin_blueprint.post("/test-send")
def test_send() -> Response:
    form = _test_send_form()
    if not form.validate():
        return _connectors_page(form, 400)
    state = get_state()
    through = form.connector.data or None
    target = through or "route"
    try:
        e164, result = operations.send_test(
            state,
            current_app._get_current_object(),  # type: ignore[attr-defined]
            form.phone.data or "",
            form.usage.data or Usage.GENERIC.value,
            through=through,
        )
    except InvalidPhoneNumber:
        form.phone.errors = [_("That is not a phone number this app accepts.")]
        return _connectors_page(form, 400)
    except operations.UnknownConnector:
        form.connector.errors = [_("No connector has that name.")]
        return _connectors_page(form, 400)
    except operations.TestNumberGiven:
        form.phone.errors = [_("That is a test number: nothing is ever sent to it.")]
        return _connectors_page(form, 400)
    except DeliveryError as error:
        detail = error.describe()
        _audit(audit.TEST_SEND, target, f"failed: {detail}")
        flash(_("The provider did not accept the message: %(error)s", error=detail), "error")
        return redirect(url_for(".connectors"))
    masked = mask_phone(e164)
    _audit(audit.TEST_SEND, result.connector, f"{masked} {result.message_id or ''}".strip())
    flash(
        _(
            "Sent a test code to %(phone)s through %(connector)s.",
            phone=masked,
            connector=result.connector,
        ),
        "success",
    )
    return redirect(url_for(".connectors"))


def _test_send_form() -> TestSendForm:
    form = TestSendForm()
    names = list(get_state().delivery.router.named)
    form.connector.choices = [
        SelectChoice("", _("Its route (with failover)")),
        *(SelectChoice(name, name) for name in names),
    ]
    return form


def _connectors_page(form: TestSendForm, status: int = 200) -> Response:
    state = get_state()
    statuses = operations.connector_statuses(state, state.challenges.clock())
    return _page("sms_otp/admin/connectors.html", status, statuses=statuses, form=form)


# Deliveries --------------------------------------------------------------------------------


class BadFilter(ValueError):
    """A query parameter of the delivery log that is not what the page offers."""


_CODE = re.compile(r"\A[A-Z]{2}\Z")
_NAME = re.compile(r"\A[A-Za-z0-9_.:-]{1,40}\Z")


@admin_blueprint.get("/deliveries")
def deliveries() -> Response:
    records = _records()
    args = request.args
    try:
        where = _delivery_filter(args)
        after = Cursor.decode(args["after"]) if args.get("after") else None
    except (BadFilter, ValueError):
        return _page(
            "sms_otp/admin/deliveries.html",
            400,
            rows=[],
            next_url=None,
            values=_filter_values(args),
            error=_("That filter or page is not one this log offers."),
        )
    rows, cursor = records.log(where, after, PAGE_SIZE)
    next_url = None
    if cursor is not None:
        kept: dict[str, Any] = {k: v for k, v in args.items() if v and k != "after"}
        next_url = url_for(".deliveries", **kept, after=cursor.encode())
    return _page(
        "sms_otp/admin/deliveries.html",
        rows=rows,
        next_url=next_url,
        values=_filter_values(args),
        error=None,
    )


def _delivery_filter(args: Any) -> DeliveryFilter:
    """The filter the query string asks for; :class:`BadFilter` for a value the form does
    not offer (so a typo is a 400, never a silently empty page)."""

    def pick(name: str, allowed: re.Pattern[str] | tuple[str, ...]) -> str | None:
        value = args.get(name, "").strip()
        if not value:
            return None
        ok = value in allowed if isinstance(allowed, tuple) else allowed.match(value)
        if not ok:
            raise BadFilter(name)
        return str(value)

    country = args.get("country", "").strip().upper()
    if country and not _CODE.match(country):
        raise BadFilter("country")
    verified = pick("verified", ("yes", "no"))
    since = _day(args.get("since", ""))
    until = _day(args.get("until", ""), end=True)
    return DeliveryFilter(
        country=country or None,
        connector=pick("connector", _NAME),
        usage=pick("usage", _NAME),
        status=pick("status", STATUSES),
        delivery=pick("delivery", (*RANK, "none")),
        verified=None if verified is None else verified == "yes",
        since=since,
        until=until,
    )


def _day(value: str, *, end: bool = False) -> datetime | None:
    """The start of the day ``value`` names (UTC); with ``end``, of the day after, so the
    day itself is included."""
    if not value.strip():
        return None
    try:
        day = date.fromisoformat(value.strip())
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return start + timedelta(days=1) if end else start
    except (ValueError, OverflowError):
        raise BadFilter("date") from None


def _filter_values(args: Any) -> dict[str, str]:
    names = ("country", "connector", "usage", "status", "delivery", "verified", "since", "until")
    return {name: str(args.get(name, ""))[:40] for name in names}


def _records() -> DeliveryRecords:
    records = get_state().delivery.records
    if records is None:  # always kept by the extension; a Delivery built by hand has none
        abort(404)
    return records


# Conversion and the pumping guard ----------------------------------------------------------


@admin_blueprint.get("/conversion")
def conversion() -> Response:
    raw = request.args.get("days", "7")
    if raw not in {str(days) for days in PERIODS}:
        abort(400, _("Choose one of the periods the page offers."))
    days = int(raw)
    state = get_state()
    now = state.challenges.clock()
    rows = _records().delivery_stats(now - timedelta(days=days))
    holds = state.guard.holds(now) if state.guard is not None else []
    return _page(
        "sms_otp/admin/conversion.html",
        rows=rows,
        most=max((row.sent for row in rows), default=0),
        days=days,
        periods=PERIODS,
        holds=holds,
        guard_on=state.guard is not None,
        release_form=ActionForm(formdata=None),
    )


@admin_blueprint.post("/holds/release")
def release_hold() -> Response:
    form = ReleaseForm()
    state = get_state()
    if not form.validate() or state.guard is None:
        abort(400)
    now = state.challenges.clock()
    hold = next(
        (h for h in state.guard.holds(now) if (h.scope, h.key) == (form.scope.data, form.key.data)),
        None,
    )
    if hold is None or not state.guard.release(hold.scope, hold.key, now):
        flash(_("That hold had already ended."), "error")
        return redirect(url_for(".conversion"))
    _audit(audit.RELEASE_HOLD, f"{hold.scope} {hold.label}", f"{hold.verified}/{hold.sent} used")
    flash(_("Released the hold on %(where)s.", where=hold.label), "success")
    return redirect(url_for(".conversion"))


# Locks and send limits ---------------------------------------------------------------------


@admin_blueprint.get("/locks")
def locks() -> Response:
    return _locks_page(NumberForm(formdata=None))


@admin_blueprint.post("/locks/unlock")
def unlock() -> Response:
    state = get_state()
    now = state.challenges.clock()
    lock = _posted_row(operations.locked_numbers(state, now))
    if lock is None or not operations.unlock(state, lock.phone, now):
        flash(_("That number is no longer locked."), "error")
        return redirect(url_for(".locks"))
    masked = mask_phone(lock.phone)
    _audit(audit.UNLOCK, masked, "")
    flash(_("Unlocked %(phone)s.", phone=masked), "success")
    return redirect(url_for(".locks"))


@admin_blueprint.post("/locks/clear-limits")
def clear_limits() -> Response:
    """Clear the send limits of a number listed as at them (the row's keyed digest)."""
    state = get_state()
    found = _posted_row(operations.numbers_at_limits(state, state.challenges.clock()))
    if found is None:
        flash(_("That number is no longer at a send limit."), "error")
        return redirect(url_for(".locks"))
    operations.clear_send_limits(state, found.phone)
    masked = mask_phone(found.phone)
    reached = ", ".join(f"{lim.bucket} {lim.limit}" for lim in found.reached)
    _audit(audit.CLEAR_LIMITS, masked, reached)
    flash(_("Cleared the send limits of %(phone)s.", phone=masked), "success")
    return redirect(url_for(".locks"))


@admin_blueprint.post("/locks/number")
def number() -> Response:
    """Look a number up (its lock and send limits), or clear them: the number is posted,
    never put in a URL, and the page shows it masked."""
    form = NumberForm()
    if not form.validate():
        return _locks_page(form, 400)
    state = get_state()
    now = state.challenges.clock()
    try:
        e164 = operations.normalized(state, form.phone.data or "", now)
    except InvalidPhoneNumber:
        form.phone.errors = [_("That is not a phone number this app accepts.")]
        return _locks_page(form, 400)
    masked = mask_phone(e164)
    if request.form.get("do") == "clear":
        was_locked = operations.unlock(state, e164, now)
        operations.clear_send_limits(state, e164)
        _audit(audit.CLEAR_LIMITS, masked, "was locked" if was_locked else "")
        flash(_("Cleared the lock and send limits of %(phone)s.", phone=masked), "success")
    locked = next(
        (lock for lock in operations.locked_numbers(state, now) if lock.phone == e164), None
    )
    looked_up = {
        "phone": masked,
        "locked_until": locked.until if locked is not None else None,
        "limits": operations.send_limits(state, e164),
    }
    return _locks_page(NumberForm(formdata=None), looked_up=looked_up)


def _locks_page(form: NumberForm, status: int = 200, **context: Any) -> Response:
    state = get_state()
    found = operations.locked_numbers(state, state.challenges.clock())
    shown = [
        {"phone": mask_phone(lock.phone), "silent": lock.silent, "until": lock.until}
        | {"token": _token(lock.phone)}
        for lock in found
    ]
    at_limits = [
        {"phone": mask_phone(entry.phone), "reached": entry.reached, "token": _token(entry.phone)}
        for entry in operations.numbers_at_limits(state, state.challenges.clock())
    ]
    context.setdefault("looked_up", None)
    return _page(
        "sms_otp/admin/locks.html",
        status,
        locks=shown,
        at_limits=at_limits,
        form=form,
        unlock_form=ActionForm(formdata=None),
        limits_on=state.limits.enabled,
        **context,
    )


class _NumberRow(Protocol):
    @property
    def phone(self) -> str: ...


R = TypeVar("R", bound=_NumberRow)


def _posted_row(rows: Iterable[R]) -> R | None:
    """The row of ``rows`` whose keyed digest (:func:`_token`) the form posted; a 400 for a
    post without its CSRF token."""
    form = UnlockForm()
    if not form.validate():
        abort(400)
    posted = str(form.token.data or "")
    return next((row for row in rows if hmac.compare_digest(_token(row.phone), posted)), None)


def _token(e164: str) -> str:
    """What the unlock button posts for a locked number: a keyed digest, so the page never
    holds the number in clear."""
    secret = str(current_app.secret_key or "").encode()
    key = hmac.new(secret, b"flask-sms-otp admin unlock", hashlib.sha256).digest()
    return hmac.new(key, e164.encode(), hashlib.sha256).hexdigest()[:32]


# The audit trail ---------------------------------------------------------------------------


@admin_blueprint.get("/audit")
def audit_trail() -> Response:
    return _page("sms_otp/admin/audit.html", actions=audit.recent(get_state()))


# Helpers -----------------------------------------------------------------------------------


def _audit(action: str, target: str, detail: str) -> None:
    state: SmsOtpState = get_state()
    audit.record(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        state,
        current_user._get_current_object(),
        action,
        target,
        detail,
        state.challenges.clock(),
    )


def _page(template: str, status: int = 200, **context: Any) -> Response:
    response = Response(render_template(template, **context), status, mimetype="text/html")
    return response
