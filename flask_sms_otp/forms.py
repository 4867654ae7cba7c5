"""The HTML forms of the flows (Flask-WTF, so every POST carries a CSRF token).

The forms hold no rules of their own beyond CSRF: the flows judge phone numbers, codes and
passwords, so the pages and the JSON API refuse the same inputs with the same errors. The
``render_kw`` give browsers and password managers the right hints (``autocomplete``,
``inputmode``). Labels are lazy: translated when the page renders, in the user's language.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask_wtf import FlaskForm
from flask_wtf.form import SUBMIT_METHODS
from wtforms import PasswordField, RadioField, SelectField, StringField, TelField

from . import regions
from .i18n import gettext as _
from .i18n import lazy_gettext as _l
from .state import get_state

_FROM_REQUEST: Any = object()


class SmsOtpForm(FlaskForm):  # type: ignore[misc]
    """Base of every form here: CSRF only, validation is the flows' job."""

    def __init__(self, formdata: Any = _FROM_REQUEST, **kwargs: Any) -> None:
        # The posted form fields and nothing else. Flask-WTF would also read a JSON body (whose
        # strings may hold lone surrogates and whose nesting may overflow the parser) and
        # files: browsers post these pages as forms, so neither is a way in.
        if formdata is _FROM_REQUEST:
            formdata = (request.form or None) if request.method in SUBMIT_METHODS else None
        super().__init__(formdata=formdata, **kwargs)


_PHONE = {"autocomplete": "tel", "required": True}
_CODE = {
    "inputmode": "numeric",
    "autocomplete": "one-time-code",
    "pattern": "[0-9]*",
    "required": True,
}
_CURRENT_PASSWORD = {"autocomplete": "current-password", "required": True}
_NEW_PASSWORD = {"autocomplete": "new-password"}


class ActionForm(SmsOtpForm):
    """A button that changes something (resend, sign out, send a code): CSRF token only."""


class ChannelField(RadioField):  # type: ignore[misc]
    """How the person wants the code: by WhatsApp or by SMS. Pages show it only where a
    route holds both (``Router.offers_choice``); none checked means the route's order."""

    def __init__(self, label: Any = None, **kwargs: Any) -> None:
        super().__init__(label, validate_choice=False, **kwargs)
        # Set after construction, as RegionField's are: the same shape for every version.
        self.choices = [("whatsapp", _l("WhatsApp")), ("sms", _l("SMS"))]

    @property
    def picked(self) -> str | None:
        """The posted channel, or ``None`` when none was picked (the flows judge it)."""
        return self.data if isinstance(self.data, str) and self.data else None


class ResendForm(ActionForm):
    """ "Send a new code", by the channel chosen before unless another is picked."""

    channel = ChannelField(_l("Send the new code by"))


class RegionField(SelectField):  # type: ignore[misc]
    """The country selector beside a phone number: the regions the policy accepts, named
    in the page's language, with their dial codes (:mod:`.regions`). Each option carries
    its number's shape for ``phone.js``. An empty choice means "typed with its + code"."""

    def __init__(self, label: Any = None, **kwargs: Any) -> None:
        super().__init__(label, validate_choice=False, **kwargs)

    def choices_for_page(self) -> list[tuple[str, str, dict[str, str]]]:
        settings = get_state().settings
        choices: list[tuple[str, str, dict[str, str]]] = [
            ("", _("Other: type the number with its + code"), {})
        ]
        for region in regions.selectable(settings):
            shape = {"data-pattern": region.pattern} if region.pattern else {}
            if region.trunk_prefix:
                shape |= {"data-trunk": region.trunk_prefix, "data-short": region.short_pattern}
            choices.append((region.code, region.label, shape))
        return choices

    @property
    def picked(self) -> str | None:
        """The posted ISO code, or ``None`` when none was picked (the number has its +)."""
        return self.data if isinstance(self.data, str) and self.data else None


class PhoneFieldsForm(SmsOtpForm):
    """A form with a phone number and its country selector. Without a posted form, the
    selector starts on :func:`.regions.preselected`; a post without ``region`` picks none."""

    region: RegionField

    def __init__(self, formdata: Any = _FROM_REQUEST, **kwargs: Any) -> None:
        if formdata is _FROM_REQUEST:
            formdata = (request.form or None) if request.method in SUBMIT_METHODS else None
        if formdata is None:
            kwargs.setdefault("region", regions.preselected(get_state().settings))
        super().__init__(formdata=formdata, **kwargs)
        self.region.choices = self.region.choices_for_page()


class PhoneForm(PhoneFieldsForm):
    phone = TelField(_l("Phone number"), render_kw=_PHONE)
    region = RegionField(_l("Country or region"))
    channel = ChannelField(_l("Send the code by"))


class CodeForm(SmsOtpForm):
    code = StringField(_l("Code"), render_kw=_CODE)


class SignUpCodeForm(CodeForm):
    password = PasswordField(_l("Password"), render_kw=_NEW_PASSWORD)


class SignInForm(PhoneFieldsForm):
    phone = TelField(_l("Phone number"), render_kw=_PHONE)
    region = RegionField(_l("Country or region"))
    password = PasswordField(_l("Password"), render_kw=_CURRENT_PASSWORD)


class ResetPasswordForm(CodeForm):
    password = PasswordField(_l("New password"), render_kw={**_NEW_PASSWORD, "required": True})


class PasswordForm(SmsOtpForm):
    """The current password, to confirm it is the user."""

    password = PasswordField(_l("Password"), render_kw=_CURRENT_PASSWORD)


class NewPasswordForm(SmsOtpForm):
    password = PasswordField(_l("New password"), render_kw={**_NEW_PASSWORD, "required": True})
