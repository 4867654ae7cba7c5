"""Blinker signals, sent with the Flask app as sender. Receivers never get the code.

- ``code_sent``: ``challenge_id``, ``usage``, ``phone`` (E.164), ``connector``,
  ``message_id``, ``resend``
- ``delivery_failed``: ``challenge_id``, ``usage``, ``phone``, ``connector``,
  ``error`` (a DeliveryError)
- ``code_verified``: ``challenge_id``, ``usage``, ``phone``, ``user_id``
- ``verification_failed``: ``challenge_id``, ``usage``, ``phone`` (``None`` for unknown challenges),
  ``reason`` (``"invalid"``, ``"too_many_attempts"`` or ``"locked"``)
- ``phone_locked``: ``phone``, ``until`` (an aware UTC datetime)
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

code_sent = _signals.signal("code-sent")
delivery_failed = _signals.signal("delivery-failed")
code_verified = _signals.signal("code-verified")
verification_failed = _signals.signal("verification-failed")
phone_locked = _signals.signal("phone-locked")
