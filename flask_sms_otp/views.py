"""The HTML pages of the flows (forms with CSRF, overridable templates).

Each page is a thin layer over :class:`~flask_sms_otp.flows.Flows`: GET shows a form and
changes nothing, POST hands the form's values to one flow step and either redirects to the
next step or shows the page again with the error next to the field it concerns, answered
with the error's status. Between steps the session holds only the challenge id
(:func:`.sessions.set_flow`), never a code or the number.

Pages that start a code flow answer every valid number the same way (a redirect to the
code step), so the pages do not tell whether a number has an account.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import phonenumbers
from flask import (
    Blueprint,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_limiter.util import get_remote_address
from flask_login import current_user
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from . import headers, sessions, texts, transaction
from .captcha import RESPONSE_FIELDS
from .config_parsers import CaptchaConfig
from .errors import (
    CaptchaFailed,
    InvalidCode,
    InvalidPhoneNumber,
    InvalidRequest,
    InvitationForAnotherNumber,
    InvitationInvalid,
    MethodDisabled,
    SessionNotFound,
    SignInRequired,
    SmsOtpError,
    TooManyAttempts,
    VerificationRequired,
)
from .flows import Flows, MfaRequired, PhoneUser
from .forms import (
    ActionForm,
    CodeForm,
    NewPasswordForm,
    PasswordForm,
    PhoneForm,
    ResendForm,
    ResetPasswordForm,
    SignInForm,
    SignUpCodeForm,
    SmsOtpForm,
)
from .guards import signed_in, verify_identity_first
from .i18n import gettext as _
from .state import get_state
from .usage import Usage

FormT = TypeVar("FormT", bound=SmsOtpForm)

html_blueprint = Blueprint(
    "sms_otp",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/sms-otp-static",
)
html_blueprint.before_request(transaction.begin)
html_blueprint.after_request(transaction.finish)
html_blueprint.teardown_request(transaction.end)
html_blueprint.after_request(headers.protect)

#: Which form field an error belongs to; the rest are shown above the form.
_ERROR_FIELDS: tuple[tuple[type[HTTPException], str], ...] = (
    (InvalidPhoneNumber, "phone"),
    (InvalidCode, "code"),
    (TooManyAttempts, "code"),
)
#: Errors a page does not show: the caller redirects (sign in, verify identity) or Flask
#: answers them (a disabled sign-in method is a 404).
_NOT_FOR_PAGES = (SignInRequired, VerificationRequired, MethodDisabled)


# Template helpers ----------------------------------------------------------------------


@html_blueprint.app_context_processor
def _layout_context() -> dict[str, Any]:
    """For the base layout, also when the app's own pages extend it: the form class of
    the sign-out button (a CSRF token), made only when a page renders it."""
    return {"sms_otp_action_form": ActionForm}


@html_blueprint.context_processor
def _page_context() -> dict[str, Any]:
    settings = get_state().settings
    return {
        "sms_otp_settings": settings,
        "next_url": _next(),
        "code_length": settings.code_length,
        "password_min_length": settings.password_min_length,
        # Some route holds WhatsApp and SMS: the phone pages ask which the person wants.
        "offers_channel_choice": get_state().delivery.router.offers_choice,
    }


# Sign-up ---------------------------------------------------------------------------------


@html_blueprint.route("/sign-up", methods=["GET", "POST"])
def sign_up() -> Response:
    return _request_code_page("sms_otp/sign_up.html", Usage.REGISTER, SIGN_UP)


@html_blueprint.route("/sign-up/verify", methods=["GET", "POST"])
def sign_up_verify() -> Response:
    def submit(vid: str, form: SignUpCodeForm) -> Response:
        _flows().sign_up(vid, form.code.data, form.password.data)
        return _redirect_next()

    return _code_step(SIGN_UP, SignUpCodeForm, submit)


@html_blueprint.post("/sign-up/resend")
def sign_up_resend() -> Response:
    return _resend(SIGN_UP, SignUpCodeForm)


# Sign-in ---------------------------------------------------------------------------------


@html_blueprint.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Response:
    methods = get_state().settings.sign_in_methods
    if "password" not in methods:
        return redirect(url_for(".sign_in_code", **_next_args()))
    form = SignInForm()
    if request.method == "POST":
        if not _valid(form):
            return _page("sms_otp/sign_in.html", 400, form=form)
        try:
            result = _flows().sign_in_password(
                form.phone.data,
                form.password.data or "",
                client_ip=_ip(),
                region=form.region.picked,
            )
        except HTTPException as error:
            return _failed("sms_otp/sign_in.html", form, error)
        if isinstance(result, MfaRequired):
            return redirect(url_for(".mfa", **_next_args()))
        return _redirect_next()
    return _page("sms_otp/sign_in.html", form=form)


@html_blueprint.route("/sign-in/code", methods=["GET", "POST"])
def sign_in_code() -> Response:
    if "code" not in get_state().settings.sign_in_methods:
        raise MethodDisabled()
    return _request_code_page("sms_otp/sign_in_code.html", Usage.SIGN_IN, SIGN_IN_CODE)


@html_blueprint.route("/sign-in/code/verify", methods=["GET", "POST"])
def sign_in_code_verify() -> Response:
    def submit(vid: str, form: CodeForm) -> Response:
        _flows().sign_in_code(vid, form.code.data)
        return _redirect_next()

    return _code_step(SIGN_IN_CODE, CodeForm, submit)


@html_blueprint.post("/sign-in/code/resend")
def sign_in_code_resend() -> Response:
    return _resend(SIGN_IN_CODE, CodeForm)


@html_blueprint.route("/mfa", methods=["GET", "POST"])
def mfa() -> Response:
    def submit(vid: str, form: CodeForm) -> Response:
        _flows().complete_mfa(vid, form.code.data)
        return _redirect_next()

    return _code_step(MFA, CodeForm, submit)


@html_blueprint.post("/mfa/resend")
def mfa_resend() -> Response:
    return _resend(MFA, CodeForm)


# Password reset ----------------------------------------------------------------------------


@html_blueprint.route("/reset-password", methods=["GET", "POST"])
def reset_password() -> Response:
    return _request_code_page("sms_otp/reset_password.html", Usage.FORGOT_PASSWORD, RESET_PASSWORD)


@html_blueprint.route("/reset-password/verify", methods=["GET", "POST"])
def reset_password_verify() -> Response:
    def submit(vid: str, form: ResetPasswordForm) -> Response:
        _flows().reset_password(vid, form.code.data, form.password.data)
        flash(_("Your password was changed. Sign in with your new password."), "success")
        return redirect(url_for(".sign_in"))

    return _code_step(RESET_PASSWORD, ResetPasswordForm, submit)


@html_blueprint.post("/reset-password/resend")
def reset_password_resend() -> Response:
    return _resend(RESET_PASSWORD, ResetPasswordForm)


# Sign-out ----------------------------------------------------------------------------------


@html_blueprint.post("/sign-out")
def sign_out() -> Response:
    form = ActionForm()
    if not _valid(form):
        return _page("sms_otp/sign_out.html", 400, form=form)
    sessions.sign_out()
    return _redirect_next()


# Signed-in pages ---------------------------------------------------------------------------


@html_blueprint.route("/verify-identity", methods=["GET", "POST"])
@signed_in
def verify_identity() -> Response:
    """Choose how to confirm it is you: a code to the current phone, or the password.
    POST here checks the password; the code goes through ``/verify-identity/send``."""
    form = PasswordForm()
    send_form = ActionForm(formdata=None)
    if request.method == "POST":
        if not _valid(form):
            return _identity_page(form, send_form, 400)
        try:
            _flows().verify_identity(_user(), password=form.password.data or "", client_ip=_ip())
        except HTTPException as error:
            _raise_unless_for_page(error)
            _show_error(form, error)
            return _identity_page(form, send_form, error.code or 400, error)
        return _redirect_next(url_for(".account"))
    return _identity_page(form, send_form)


@html_blueprint.post("/verify-identity/send")
@signed_in
def verify_identity_send() -> Response:
    send_form = ActionForm()
    form = PasswordForm(formdata=None)
    if not _valid(send_form):
        return _identity_page(form, send_form, 400)
    try:
        issued = _flows().request_code(
            None, Usage.USER_PERMISSION_VALIDATION, user=_user(), client_ip=_ip()
        )
    except HTTPException as error:
        _raise_unless_for_page(error)
        _show_error(send_form, error)
        return _identity_page(form, send_form, error.code or 400, error)
    return _start(VERIFY_IDENTITY, issued.id)


def _identity_page(
    form: PasswordForm,
    send_form: ActionForm,
    status: int = 200,
    error: HTTPException | None = None,
) -> Response:
    user = _user()
    return _page(
        "sms_otp/verify_identity.html",
        status,
        error=error,
        form=form,
        send_form=send_form,
        phone=_masked(user.phone),
        has_password=bool(user.has_password),
    )


@html_blueprint.route("/verify-identity/code", methods=["GET", "POST"])
@signed_in
def verify_identity_code() -> Response:
    def submit(vid: str, form: CodeForm) -> Response:
        _flows().verify_identity(_user(), vid, form.code.data, client_ip=_ip())
        sessions.clear_flow()
        return _redirect_next(url_for(".account"))

    return _code_step(VERIFY_IDENTITY, CodeForm, submit)


@html_blueprint.post("/verify-identity/resend")
@signed_in
def verify_identity_resend() -> Response:
    return _resend(VERIFY_IDENTITY, CodeForm)


@html_blueprint.get("/account")
@signed_in
def account() -> Response:
    return _account_page()


@html_blueprint.post("/account/sessions/<session_id>/end")
@signed_in
def end_session(session_id: str) -> Response:
    """Sign one of the user's sessions out; this one too, then off to the sign-in page."""
    form = ActionForm()
    if not _valid(form):
        return _account_page(form, 400)
    try:
        _flows().end_session(_user(), session_id)
    except SessionNotFound as error:
        _show_error(form, error)
        return _account_page(form, error.code or 404)
    if not current_user.is_authenticated:
        flash(_("You signed out on this device."), "success")
        return redirect(url_for(".sign_in"))
    flash(_("That session was signed out."), "success")
    return redirect(url_for(".account"))


@html_blueprint.post("/account/sessions/end-others")
@signed_in
def end_other_sessions() -> Response:
    form = ActionForm()
    if not _valid(form):
        return _account_page(form, 400)
    _flows().end_other_sessions(_user())
    flash(_("Every other session was signed out."), "success")
    return redirect(url_for(".account"))


def _account_page(form: ActionForm | None = None, status: int = 200) -> Response:
    user = _user()
    return _page(
        "sms_otp/account.html",
        status,
        user=user,
        phone=_pretty(user.phone),
        sessions=_flows().list_sessions(user),
        form=form if form is not None else ActionForm(formdata=None),
    )


@html_blueprint.route("/account/phone", methods=["GET", "POST"])
@signed_in
def change_phone() -> Response:
    """A new number (or a first one): the code goes to it, it replaces the old one once
    entered. Only within a recent identity verification."""
    if not _recently_verified():
        return verify_identity_first(url_for(".change_phone"))
    form = PhoneForm()
    if request.method == "POST":
        if not _valid(form):
            return _page("sms_otp/change_phone.html", 400, form=form)
        try:
            issued = _flows().request_code(
                form.phone.data,
                Usage.BIND_NEW_IDENTIFIER,
                user=_user(),
                client_ip=_ip(),
                captcha_token=_captcha_token(),
                region=form.region.picked,
                channel=form.channel.picked,
            )
        except HTTPException as error:
            return _failed("sms_otp/change_phone.html", form, error)
        return _start(CHANGE_PHONE, issued.id)
    return _page("sms_otp/change_phone.html", form=form)


@html_blueprint.route("/account/phone/verify", methods=["GET", "POST"])
@signed_in
def change_phone_verify() -> Response:
    def submit(vid: str, form: CodeForm) -> Response:
        try:
            _flows().change_phone(_user(), vid, form.code.data)
        except VerificationRequired:
            return verify_identity_first(url_for(".change_phone"))
        sessions.clear_flow()
        flash(_("Your phone number was changed."), "success")
        return redirect(url_for(".account"))

    return _code_step(CHANGE_PHONE, CodeForm, submit)


@html_blueprint.post("/account/phone/resend")
@signed_in
def change_phone_resend() -> Response:
    return _resend(CHANGE_PHONE, CodeForm)


@html_blueprint.route("/account/phone/remove", methods=["GET", "POST"])
@signed_in
def remove_phone() -> Response:
    return _confirm_action(
        "sms_otp/remove_phone.html",
        url_for(".remove_phone"),
        lambda: _flows().remove_phone(_user()),
        _("Your phone number was removed."),
    )


@html_blueprint.route("/account/mfa/enable", methods=["GET", "POST"])
@signed_in
def enable_mfa() -> Response:
    """Two-step verification on: first prove the phone receives codes (``BindMfa``)."""
    form = ActionForm()
    if request.method == "POST":
        if not _valid(form):
            return _page("sms_otp/enable_mfa.html", 400, form=form)
        try:
            issued = _flows().request_code(None, Usage.BIND_MFA, user=_user(), client_ip=_ip())
        except HTTPException as error:
            return _failed("sms_otp/enable_mfa.html", form, error)
        return _start(ENABLE_MFA, issued.id)
    return _page("sms_otp/enable_mfa.html", form=form, phone=_pretty(_user().phone))


@html_blueprint.route("/account/mfa/verify", methods=["GET", "POST"])
@signed_in
def enable_mfa_verify() -> Response:
    def submit(vid: str, form: CodeForm) -> Response:
        _flows().set_mfa(_user(), True, vid, form.code.data)
        sessions.clear_flow()
        flash(_("Two-step verification is on."), "success")
        return redirect(url_for(".account"))

    return _code_step(ENABLE_MFA, CodeForm, submit)


@html_blueprint.post("/account/mfa/resend")
@signed_in
def enable_mfa_resend() -> Response:
    return _resend(ENABLE_MFA, CodeForm)


@html_blueprint.route("/account/mfa/disable", methods=["GET", "POST"])
@signed_in
def disable_mfa() -> Response:
    return _confirm_action(
        "sms_otp/disable_mfa.html",
        url_for(".disable_mfa"),
        lambda: _flows().set_mfa(_user(), False),
        _("Two-step verification is off."),
    )


@html_blueprint.route("/account/password", methods=["GET", "POST"])
@signed_in
def change_password() -> Response:
    if not _recently_verified():
        return verify_identity_first(url_for(".change_password"))
    form = NewPasswordForm()
    if request.method == "POST":
        if not _valid(form):
            return _page("sms_otp/change_password.html", 400, form=form)
        try:
            _flows().change_password(_user(), form.password.data)
        except VerificationRequired:
            return verify_identity_first(url_for(".change_password"))
        except HTTPException as error:
            return _failed("sms_otp/change_password.html", form, error)
        flash(_("Your password was changed. Other devices were signed out."), "success")
        return redirect(url_for(".account"))
    return _page("sms_otp/change_password.html", form=form)


# Invitations -------------------------------------------------------------------------------
# The page a texted link opens. It shows the invitation, then hands the person to the code
# flows with the invited number fixed (a code to it proves it is theirs) and back here to
# accept, signed in with that number. Every token that opens nothing gets the same 404 page.


@html_blueprint.get("/invitations/<token>")
def invitation(token: str) -> Response:
    return _invitation_page(token)


@html_blueprint.post("/invitations/<token>/sign-up")
def invitation_sign_up(token: str) -> Response:
    """Sign up with the invited number: its code step, then back to this invitation."""
    return _invitation_code(token, Usage.REGISTER, SIGN_UP)


@html_blueprint.post("/invitations/<token>/sign-in")
def invitation_sign_in(token: str) -> Response:
    """Sign in by a code to the invited number, then back to this invitation."""
    if "code" not in get_state().settings.sign_in_methods:
        raise MethodDisabled()
    return _invitation_code(token, Usage.SIGN_IN, SIGN_IN_CODE)


@html_blueprint.post("/invitations/<token>/switch")
def invitation_switch(token: str) -> Response:
    """Signed in with another number: sign out, and back to the invitation."""
    form = ActionForm()
    if not _valid(form):
        return _invitation_page(token, form, 400)
    sessions.sign_out()
    return redirect(url_for(".invitation", token=token))


@html_blueprint.post("/invitations/<token>/accept")
def accept_invitation(token: str) -> Response:
    form = ActionForm()
    if not _valid(form):
        return _invitation_page(token, form, 400)
    user = _user() if current_user.is_authenticated else None
    if user is None:
        return redirect(url_for(".invitation", token=token))
    try:
        get_state().invitations.accept(token, user)
    except (InvitationInvalid, InvitationForAnotherNumber):
        return _invitation_page(token)
    flash(_("You accepted the invitation."), "success")
    return _redirect_next()


def _invitation_code(token: str, usage: Usage, step: CodeStep) -> Response:
    form = ActionForm()
    if not _valid(form):
        return _invitation_page(token, form, 400)
    try:
        found = get_state().invitations.find(token)
    except InvitationInvalid:
        return _invitation_page(token)
    here = url_for(".invitation", token=token)
    try:
        issued = _flows().request_code(
            found.phone, usage, user=None, client_ip=_ip(), captcha_token=_captcha_token()
        )
    except HTTPException as error:
        _raise_unless_for_page(error)
        _show_error(form, error)
        return _invitation_page(token, form, error.code or 400, error)
    sessions.set_flow(step.flow, issued.id)
    return redirect(url_for(step.verify, next=here))


def _invitation_page(
    token: str,
    form: ActionForm | None = None,
    status: int = 200,
    error: HTTPException | None = None,
) -> Response:
    """The invitation, and what the visitor can do with it: accept (signed in with the
    invited number), switch (signed in with another), or confirm the number by a code."""
    try:
        found = get_state().invitations.find(token)
    except InvitationInvalid as invalid:
        return _page(
            "sms_otp/invitation_invalid.html", 404, error=invalid, message=texts.message(invalid)
        )
    user = _user() if current_user.is_authenticated else None
    if user is None:
        state = "confirm"
    elif user.phone == found.phone:
        state = "accept"
    else:
        state = "other_number"
    return _page(
        "sms_otp/invitation.html",
        status,
        error=error,
        form=form if form is not None else ActionForm(formdata=None),
        invitation=found,
        token=token,
        state=state,
        phone=_pretty(found.phone),
        your_phone=_masked(user.phone) if user is not None else None,
        code_sign_in="code" in get_state().settings.sign_in_methods,
    )


# Code steps --------------------------------------------------------------------------------


def _flow_challenge(name: str) -> object:
    """The challenge id of the HTML flow ``name`` in progress (:func:`.sessions.set_flow`)."""
    flow = sessions.get_flow(name)
    return flow.get("vid") if flow else None


def _pending_mfa_challenge(_name: str) -> object:
    """The challenge id of the second step of a password sign-in, kept by the flow."""
    pending = sessions.pending_mfa()
    return pending.get("vid") if pending else None


@dataclass(frozen=True, slots=True)
class CodeStep:
    """One flow's code-entry step: its endpoints, its template, and where the session keeps
    its challenge id."""

    flow: str
    template: str
    start: str
    verify: str
    resend: str
    #: Show only the last digits of the number (it is the account's, not one just typed).
    masked: bool = False
    #: Reads the step's challenge id from the session, given ``flow``.
    held: Callable[[str], object] = _flow_challenge
    #: Forgets it: the step cannot go on.
    forget: Callable[[], None] = sessions.clear_flow

    def verification_id(self) -> str | None:
        """The step's challenge id; ``None`` once the step has ended (or never began)."""
        vid = self.held(self.flow)
        return vid if isinstance(vid, str) else None


SIGN_UP = CodeStep(
    "sign-up", "sms_otp/sign_up_verify.html", ".sign_up", ".sign_up_verify", ".sign_up_resend"
)
SIGN_IN_CODE = CodeStep(
    "sign-in-code",
    "sms_otp/sign_in_code_verify.html",
    ".sign_in_code",
    ".sign_in_code_verify",
    ".sign_in_code_resend",
)
MFA = CodeStep(
    "mfa",
    "sms_otp/mfa.html",
    ".sign_in",
    ".mfa",
    ".mfa_resend",
    masked=True,
    held=_pending_mfa_challenge,
    forget=sessions.clear_mfa,
)
RESET_PASSWORD = CodeStep(
    "reset-password",
    "sms_otp/reset_password_verify.html",
    ".reset_password",
    ".reset_password_verify",
    ".reset_password_resend",
)
VERIFY_IDENTITY = CodeStep(
    "verify-identity",
    "sms_otp/verify_identity_code.html",
    ".verify_identity",
    ".verify_identity_code",
    ".verify_identity_resend",
    masked=True,
)
CHANGE_PHONE = CodeStep(
    "change-phone",
    "sms_otp/change_phone_verify.html",
    ".change_phone",
    ".change_phone_verify",
    ".change_phone_resend",
)
ENABLE_MFA = CodeStep(
    "enable-mfa",
    "sms_otp/enable_mfa_verify.html",
    ".enable_mfa",
    ".enable_mfa_verify",
    ".enable_mfa_resend",
    masked=True,
)


def _request_code_page(template: str, usage: Usage, step: CodeStep) -> Response:
    """A phone-number page that sends a code: the same redirect for every valid number."""
    form = PhoneForm()
    if request.method == "POST":
        if not _valid(form):
            return _page(template, 400, form=form)
        try:
            issued = _flows().request_code(
                form.phone.data,
                usage,
                user=None,
                client_ip=_ip(),
                captcha_token=_captcha_token(),
                region=form.region.picked,
                channel=form.channel.picked,
            )
        except HTTPException as error:
            return _failed(template, form, error)
        return _start(step, issued.id)
    return _page(template, form=form)


def _start(step: CodeStep, verification_id: str) -> Response:
    sessions.set_flow(step.flow, verification_id)
    return redirect(url_for(step.verify, **_next_args()))


def _code_step(
    step: CodeStep, form_class: type[FormT], submit: Callable[[str, FormT], Response]
) -> Response:
    """The code-entry page of ``step``: ``submit(verification_id, form)`` on POST. A flow
    that ends the step on an error (too many wrong codes on the second step of sign-in)
    forgets its challenge: the page then says so instead of asking for the code again."""
    vid = step.verification_id()
    if vid is None:
        return redirect(url_for(step.start, **_next_args()))
    form = form_class()
    if request.method == "POST":
        if not _valid(form):
            return _code_page(step, vid, form, status=400)
        try:
            return submit(vid, form)
        except HTTPException as error:
            _raise_unless_for_page(error)
            ended = step.verification_id() is None
            _show_error(form, error)
            return _code_page(step, vid, form, status=error.code or 400, error=error, ended=ended)
    return _code_page(step, vid, form)


def _resend(step: CodeStep, form_class: type[SmsOtpForm]) -> Response:
    vid = step.verification_id()
    if vid is None:
        return redirect(url_for(step.start, **_next_args()))
    resend_form = ResendForm()
    form = form_class(formdata=None)
    if not _valid(resend_form):
        return _code_page(step, vid, form, resend_form=resend_form, status=400)
    try:
        _flows().resend_code(vid, client_ip=_ip(), channel=resend_form.channel.picked)
    except InvalidCode:
        # Used, closed or gone: this request cannot continue; start it again.
        step.forget()
        flash(_("That code can no longer be used. Please start again."), "error")
        return redirect(url_for(step.start, **_next_args()))
    except HTTPException as error:
        _raise_unless_for_page(error)
        _show_error(resend_form, error)
        return _code_page(
            step, vid, form, resend_form=resend_form, status=error.code or 400, error=error
        )
    flash(_("A new code is on its way."), "success")
    return redirect(url_for(step.verify, **_next_args()))


def _code_page(
    step: CodeStep,
    vid: str,
    form: SmsOtpForm,
    *,
    resend_form: ResendForm | None = None,
    status: int = 200,
    error: HTTPException | None = None,
    ended: bool = False,
) -> Response:
    resend = _flows().resend_state(vid)
    phone = None
    channels: list[str] = []
    if resend is not None:
        phone = _masked(resend.phone) if step.masked else _pretty(resend.phone)
        router = get_state().delivery.router
        channels = router.channels_of([entry.key for entry in router.route_for(resend.phone)])
    if resend_form is None:  # the channel chosen before starts checked
        resend_form = ResendForm(formdata=None, channel=resend.channel if resend else None)
    return _page(
        step.template,
        status,
        error=error,
        form=form,
        resend_form=resend_form,
        # The number's route holds WhatsApp and SMS: the new code's channel may change.
        resend_channels=channels if len(channels) > 1 else [],
        phone=phone,
        resend_in=resend.resend_in if resend is not None else 0,
        can_resend=resend is not None and resend.can_resend and not ended,
        resend_url=url_for(step.resend, **_next_args()),
        restart_url=url_for(step.start, **_next_args()),
        ended=ended,
    )


def _confirm_action(template: str, here: str, action: Callable[[], None], done: str) -> Response:
    """A page with one button for an action that needs a recent identity verification."""
    if not _recently_verified():
        return verify_identity_first(here)
    form = ActionForm()
    if request.method == "POST":
        if not _valid(form):
            return _page(template, 400, form=form, user=_user())
        try:
            action()
        except VerificationRequired:
            return verify_identity_first(here)
        except HTTPException as error:
            return _failed(template, form, error, user=_user())
        flash(done, "success")
        return redirect(url_for(".account"))
    return _page(template, form=form, user=_user())


def _recently_verified() -> bool:
    try:
        _flows().require_recent_verification(_user())
    except VerificationRequired:
        return False
    return True


# Errors ------------------------------------------------------------------------------------


def _valid(form: Any) -> bool:
    """Validate (CSRF only); a bad token becomes a form-level message."""
    if form.validate():
        return True
    csrf = getattr(form, "csrf_token", None)
    if csrf is not None and csrf.errors:
        csrf.errors = []
        # Instead of Flask-WTF's technical text when the CSRF token is missing or stale.
        withheld = sessions.cookie_withheld_over_http()
        form.form_errors.append(texts.insecure_cookie() if withheld else texts.form_expired())
    return False


def _raise_unless_for_page(error: HTTPException) -> None:
    if not isinstance(error, SmsOtpError) or isinstance(error, _NOT_FOR_PAGES):
        raise error


def _failed(template: str, form: Any, error: HTTPException, **context: Any) -> Response:
    """The page again, the error next to its field, with the error's status."""
    _raise_unless_for_page(error)
    _show_error(form, error)
    return _page(template, error.code or 400, error=error, form=form, **context)


def _show_error(form: Any, error: HTTPException) -> None:
    """The error's text (the JSON API's ``message`` too) next to its field, else above the
    form."""
    name: str | None = None
    if isinstance(error, InvalidRequest):
        name = error.field
    else:
        for kind, field_name in _ERROR_FIELDS:
            if isinstance(error, kind):
                name = field_name
                break
    message = texts.message(error)
    field = form[name] if name is not None and name in form else None
    if field is not None:
        field.errors = [*field.errors, message]
    else:
        form.form_errors.append(message)


# Helpers ---------------------------------------------------------------------------------


def _page(
    template: str, status: int = 200, *, error: HTTPException | None = None, **context: Any
) -> Response:
    context.setdefault("captcha", _captcha_shown(error))
    response = make_response(render_template(template, **context), status)
    if error is not None:
        for name, value in error.get_headers():
            if name.lower() == "retry-after":
                response.headers["Retry-After"] = value
    return response


def _captcha_shown(error: HTTPException | None) -> CaptchaConfig | None:
    """The bot check whose widget the page shows (the pages that send a code to a number
    anyone may name render it): always with ``"when": "always"``; with ``"guard"``, once
    the engine asked for it. ``None`` for no widget."""
    config = get_state().settings.captcha
    if config is None or config.when == "never":
        return None
    if config.when == "always" or isinstance(error, CaptchaFailed):
        return config
    return None


def _captcha_token() -> str | None:
    """The widget's token, from the field the provider's script fills in."""
    config = get_state().settings.captcha
    if config is None:
        return None
    return request.form.get(RESPONSE_FIELDS[config.provider]) or None


def safe_next(value: Any) -> str | None:
    """``value`` if it is a path on this site (``/...``), else ``None``: no open redirect
    through ``//host``, ``/\\host``, schemes or control characters."""
    if not isinstance(value, str) or not value.startswith("/") or len(value) > 2000:
        return None
    if value.startswith("//") or "\\" in value:
        return None
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


def _next() -> str | None:
    return safe_next(request.args.get("next"))


def _next_args() -> dict[str, Any]:
    target = _next()
    return {"next": target} if target else {}


def _redirect_next(default: str | None = None) -> Response:
    return redirect(_next() or default or request.script_root + "/")


def _flows() -> Flows:
    return get_state().flows


def _user() -> PhoneUser:
    if not current_user.is_authenticated:
        raise SignInRequired()
    user: PhoneUser = current_user._get_current_object()
    return user


def _ip() -> str:
    return str(get_remote_address() or "")


def _pretty(e164: str | None) -> str | None:
    """``+12015550123`` as ``+1 201-555-0123``, for people."""
    if not e164:
        return None
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return e164
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL))


def _masked(e164: str | None) -> str | None:
    """The account's number as its owner recognises it, without showing it whole."""
    return _("your phone ending in %(digits)s", digits=e164[-4:]) if e164 else None
