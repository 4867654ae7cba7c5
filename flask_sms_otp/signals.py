"""Blinker signals, sent with the Flask app as sender. Receivers never get the code.

- ``code_sent``: ``challenge_id``, ``usage``, ``phone`` (E.164), ``connector``,
  ``message_id``, ``resend``
- ``delivery_failed``: ``challenge_id``, ``usage``, ``phone``, ``connector``,
  ``error`` (a DeliveryError)
- ``delivery_status``: ``challenge_id``, ``connector``, ``message_id``, ``status`` (normalised:
  "delivered", "undelivered", "failed", "expired", "rejected", "accepted", "sent" or
  "buffered"), ``error_code`` (the provider's, or ``None``), ``delivered_at`` (an aware UTC
  datetime, or ``None``): once per delivery receipt that changed a delivery record
- ``code_verified``: ``challenge_id``, ``usage``, ``phone``, ``user_id``
- ``verification_failed``: ``challenge_id``, ``usage``, ``phone`` (``None`` for unknown challenges),
  ``reason`` (``"invalid"``, ``"too_many_attempts"`` or ``"locked"``)
- ``phone_locked``: ``phone``, ``until`` (an aware UTC datetime)
- ``pumping_suspected``: ``hold`` (a :class:`~flask_sms_otp.guard.Hold`: ``scope``
  "country" or "block", ``country``, ``label``, ``sent``, ``verified``, ``baseline``,
  ``until``): the pumping guard began holding anonymous sends there
- ``pumping_released``: ``hold``, ``by`` ("operator" or "recovered")
- ``admin_action``: ``user`` (the operator), ``action`` ("test_send", "release_hold",
  "unlock", "clear_limits"), ``target``, ``detail``, ``at``: an action on the admin pages,
  after it is written to ``sms_otp_admin_action``

Account events, with ``user`` (connect a receiver to notify the user by e-mail or SMS):

- ``user_registered``; ``user_signed_in`` (``method``: "password", "code", "password+sms",
  "register"); ``sign_in_failed`` (``phone``, ``method``, no ``user``)
- ``mfa_failed``: the second step failed too often and the pending sign-in ended
- ``invitation_accepted``: ``invitation`` (an :class:`~flask_sms_otp.Invitation`),
  ``data`` (the app's JSON given to ``invite``): add the membership here; what the receiver
  changes on ``db.session`` is committed with the acceptance
- ``password_reset``; ``password_changed``; ``phone_changed`` (``old_phone``, ``new_phone``);
  ``mfa_changed`` (``enabled``)
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

code_sent = _signals.signal("code-sent")
delivery_failed = _signals.signal("delivery-failed")
delivery_status = _signals.signal("delivery-status")
code_verified = _signals.signal("code-verified")
verification_failed = _signals.signal("verification-failed")
phone_locked = _signals.signal("phone-locked")
pumping_suspected = _signals.signal("pumping-suspected")
pumping_released = _signals.signal("pumping-released")
admin_action = _signals.signal("admin-action")

user_registered = _signals.signal("user-registered")
user_signed_in = _signals.signal("user-signed-in")
sign_in_failed = _signals.signal("sign-in-failed")
mfa_failed = _signals.signal("mfa-failed")
password_reset = _signals.signal("password-reset")
password_changed = _signals.signal("password-changed")
phone_changed = _signals.signal("phone-changed")
mfa_changed = _signals.signal("mfa-changed")
invitation_accepted = _signals.signal("invitation-accepted")
