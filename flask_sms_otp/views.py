"""The HTML pages of the flows (forms with CSRF, overridable templates)."""

from __future__ import annotations

from flask import Blueprint

html_blueprint = Blueprint("sms_otp", __name__, template_folder="templates")
