"""The ``flask sms-otp`` command group."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from . import operations
from .connectors.registry import available_connectors
from .errors import DeliveryError, InvalidPhoneNumber
from .guard import PumpingGuard
from .phone import mask_phone
from .redaction import MAX_MESSAGE
from .state import get_state as _state
from .usage import Usage


@click.group("sms-otp")
def sms_otp_cli() -> None:
    """SMS one-time codes: connectors, config check, test sends, clean-up."""


@sms_otp_cli.command("connectors")
@with_appcontext
def connectors_command() -> None:
    """The configured connectors: their routes, circuit and failure rate over the last
    24 hours; then every connector type that can be configured."""
    state = _state()
    statuses = operations.connector_statuses(state, state.challenges.clock())
    click.echo(f"{'name':<16}{'type':<15}{'routes':<20}{'circuit':<22}failed (24 h)")
    for status in statuses:
        shown = status.circuit
        if shown == "closed":
            shown = f"closed ({status.failures_in_row} in a row)"
        rate = status.failure_rate
        failed = f"{status.failed}/{status.tries} ({rate:.0%})" if rate is not None else "no tries"
        routes = " ".join(status.routes) or "none"
        click.echo(f"{status.key:<16}{status.kind:<15}{routes:<20}{shown:<22}{failed}")
    click.echo("")
    click.echo("connector types:")
    in_use = {status.kind for status in statuses}
    for name, target in available_connectors().items():
        mark = "*" if name in in_use else " "
        click.echo(f"{mark} {name:<14} {target}")


@sms_otp_cli.command("check")
@click.option(
    "--ping", is_flag=True, help="Also ask the provider whether it accepts the credentials."
)
@with_appcontext
def check_command(ping: bool) -> None:
    """Show the validated configuration (it was checked when the app started)."""
    state = _state()
    s = state.settings
    click.echo(f"connector: {s.connector} ({state.connector!r})")
    click.echo(f"code: {s.code_length} digits, valid {s.code_ttl} s, {s.max_attempts} attempts")
    click.echo(f"resend: cooldown {s.resend_cooldown} s, at most {s.max_resends} per challenge")
    click.echo(
        f"lockout: {s.lockout_threshold} consecutive failures lock for {s.lockout_duration} s"
    )
    regions = ", ".join(sorted(s.allowed_regions)) if s.allowed_regions else "any"
    blocked = ", ".join(sorted(s.blocked_regions)) if s.blocked_regions else "none"
    click.echo(
        f"numbers: default region {s.default_region or 'none'}, regions {regions}, "
        f"blocked {blocked}, VoIP {'allowed' if s.allow_voip else 'refused'}"
    )
    if ping:
        redact = state.connector.redactor()  # the provider may echo the credentials
        try:
            checked = state.connector.check()
        except DeliveryError as exc:
            raise click.ClickException(
                f"provider check failed: {redact.error(exc).describe()}"
            ) from None
        click.echo(
            f"provider: {redact.text(checked, MAX_MESSAGE)}"
            if checked
            else f"provider: the {s.connector} connector has no check that sends nothing"
        )
    click.echo("configuration OK")


@sms_otp_cli.command("send-test")
@click.argument("phone")
@click.option(
    "--usage",
    default=Usage.GENERIC.value,
    show_default=True,
    type=click.Choice([u.value for u in Usage]),
    help="Template usage type.",
)
@click.option(
    "--locale",
    default=None,
    help="Language of the text (a tag such as zh-CN): picks a template with that locale.",
)
@click.option(
    "--connector",
    "through",
    default=None,
    help="Send through this configured connector only, not PHONE's route.",
)
@with_appcontext
def send_test_command(phone: str, usage: str, locale: str | None, through: str | None) -> None:
    """Send a test code to PHONE through its route (failover included), or through one
    connector.

    Exits 0 once the provider accepted the message, non-zero with its reason otherwise.
    """
    state = _state()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        e164, result = operations.send_test(
            state, app, phone, usage, locale=locale, through=through
        )
    except operations.UnknownConnector as exc:
        raise click.BadParameter(str(exc)) from None
    except InvalidPhoneNumber as exc:
        raise click.BadParameter(
            f"not an accepted phone number ({exc.reason})", param_hint="PHONE"
        ) from None
    except operations.TestNumberGiven as exc:
        raise click.BadParameter(str(exc), param_hint="PHONE") from None
    except DeliveryError as exc:
        raise click.ClickException(
            f"the provider did not accept the message: {exc.describe()}"
        ) from None
    click.echo(
        f"Sent a {usage} test code to {mask_phone(e164)} via {result.connector}"
        + (f" (message id {result.message_id})" if result.message_id else "")
    )


@sms_otp_cli.command("purge")
@click.option(
    "--records-days",
    default=90,
    show_default=True,
    type=click.IntRange(min=1),
    help="Keep delivery records this many days.",
)
@click.option(
    "--sessions-days",
    default=90,
    show_default=True,
    type=click.IntRange(min=1),
    help="Delete session records ended, or last seen, this many days ago (an idle session "
    "or remember-me cookie that old then signs nobody in).",
)
@with_appcontext
def purge_command(records_days: int, sessions_days: int) -> None:
    """Delete expired challenges, empty failure counters, old delivery records, and
    session records ended or unused for long."""
    state = _state()
    challenges, counters = state.challenges.purge()
    now = state.challenges.clock()
    records = 0
    if state.delivery.records is not None:
        records = state.delivery.records.purge(now - timedelta(days=records_days))
    sessions = state.session_records.purge(now - timedelta(days=sessions_days))
    holds = state.guard.purge(now - timedelta(days=records_days)) if state.guard else 0
    click.echo(
        f"Deleted {challenges} expired challenges, {counters} empty failure counters, "
        f"{records} delivery records older than {records_days} days, "
        f"{holds} pumping-guard holds ended as long ago "
        f"and {sessions} session records ended or unused for {sessions_days} days."
    )


@sms_otp_cli.command("stats")
@click.option(
    "--days", default=7, show_default=True, type=click.IntRange(min=1), help="How far back to look."
)
@with_appcontext
def stats_command(days: int) -> None:
    """SMS sent, failed and verified per country, with the conversion rate; then, per
    country and connector, those delivered (by the provider's receipts) and the median
    time to delivery.

    A country whose conversion collapses while its volume grows is the classic sign of
    SMS-pumping fraud: restrict it with SMS_OTP_ALLOWED_REGIONS.
    """
    state = _state()
    if state.delivery.records is None:
        raise click.ClickException("delivery records are not kept")
    since = state.challenges.clock() - timedelta(days=days)
    rows = state.delivery.records.stats(since)
    click.echo(f"{'country':<8}{'sent':>8}{'failed':>8}{'verified':>10}{'conversion':>12}")
    for row in rows:
        rate = f"{row.conversion:.0%}" if row.conversion is not None else "-"
        click.echo(f"{row.country:<8}{row.sent:>8}{row.failed:>8}{row.verified:>10}{rate:>12}")
    if not rows:
        click.echo(f"no SMS in the last {days} days")
        return
    click.echo("")
    click.echo(
        f"{'country':<8}{'connector':<12}{'sent':>8}{'delivered':>11}{'verified':>10}"
        f"{'median delivery':>17}"
    )
    for d in state.delivery.records.delivery_stats(since):
        median = _duration(d.median_delivery_ms) if d.median_delivery_ms is not None else "-"
        click.echo(
            f"{d.country:<8}{d.connector:<12}{d.sent:>8}{d.delivered:>11}{d.verified:>10}"
            f"{median:>17}"
        )


def _duration(ms: int) -> str:
    """``850 ms``, ``4.2 s``, ``3 min 5 s``: what an operator reads at a glance."""
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes} min {seconds} s"


@sms_otp_cli.group("guard", invoke_without_command=True)
@click.option("--all", "past", is_flag=True, help="Also list the holds that have ended.")
@click.pass_context
@with_appcontext
def guard_command(ctx: click.Context, past: bool) -> None:
    """The pumping guard's holds: countries and number blocks whose anonymous sends are held
    because their codes stopped being used. 'guard release KEY' ends one."""
    if ctx.invoked_subcommand is not None:
        return
    guard = _guard()
    now = _state().challenges.clock()
    holds = guard.holds(now, past=past)
    if not holds:
        click.echo("no holds" if past else "no active holds")
        return
    click.echo(f"{'scope':<8}{'key':<18}{'where':<16}{'used':>10}{'expected':>10}  until")
    for hold in holds:
        state = (
            hold.until.isoformat(timespec="minutes")
            if hold.active(now)
            else f"ended ({hold.released_by or 'expired'})"
        )
        used = f"{hold.verified}/{hold.sent}"
        click.echo(
            f"{hold.scope:<8}{hold.key:<18}{hold.label:<16}{used:>10}"
            f"{hold.baseline:>10.0%}  {state}"
        )


@guard_command.command("release")
@click.argument("key", required=False)
@click.option("--all", "everything", is_flag=True, help="Release every active hold.")
@with_appcontext
def guard_release_command(key: str | None, everything: bool) -> None:
    """End the hold on KEY (a country code, or a block's key as 'guard' lists it); only
    sends after the release are judged there from now on."""
    if (key is None) != everything:
        raise click.UsageError("give a KEY or --all")
    guard = _guard()
    now = _state().challenges.clock()
    chosen = [hold for hold in guard.holds(now) if everything or hold.key == key]
    if not chosen:
        raise click.ClickException(f"no active hold on {key}" if key else "no active holds")
    for hold in chosen:
        if guard.release(hold.scope, hold.key, now):
            click.echo(f"Released {hold.scope} {hold.label} ({hold.key})")


@sms_otp_cli.group("invitations", invoke_without_command=True)
@click.option("--all", "closed", is_flag=True, help="Also list accepted, revoked and expired.")
@click.pass_context
@with_appcontext
def invitations_command(ctx: click.Context, closed: bool) -> None:
    """Invitations texted to numbers, newest first: pending ones (with --all, every one).
    'invitations purge' deletes the closed ones."""
    if ctx.invoked_subcommand is not None:
        return
    state = _state()
    now = state.challenges.clock()
    found = state.invitations.every(closed=closed)
    if not found:
        click.echo("no invitations" if closed else "no pending invitations")
        return
    click.echo(f"{'id':<24}{'to':<18}{'inviter':<14}{'status':<10}{'expires':<18}sent")
    for each in found:
        click.echo(
            f"{each.id:<24}{mask_phone(each.phone):<18}{each.inviter_id or 'app':<14}"
            f"{each.status(now):<10}{each.expires_at.isoformat(timespec='minutes'):<18}"
            f"{1 + each.resends}x"
        )


@invitations_command.command("purge")
@click.option(
    "--days",
    default=30,
    show_default=True,
    type=click.IntRange(min=0),
    help="Delete invitations closed (accepted, revoked or expired) this many days ago.",
)
@with_appcontext
def invitations_purge_command(days: int) -> None:
    """Delete invitations accepted, revoked or expired more than DAYS days ago."""
    state = _state()
    deleted = state.invitations.purge(state.challenges.clock() - timedelta(days=days))
    click.echo(f"Deleted {deleted} invitations closed more than {days} days ago.")


def _guard() -> PumpingGuard:
    guard = _state().guard
    if guard is None:
        raise click.ClickException("the pumping guard is off (SMS_OTP_PUMPING_GUARD = False)")
    return guard
