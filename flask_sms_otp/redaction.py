"""Provider texts without the code, the number or a credential, for logs, records and signals.

A provider may repeat the request in its error answer: the text with the code, the number
in any spelling, the credentials it was sent. The message knows the code and the number and
the connector knows its credentials, so a :class:`Redactor` is built from both
(:meth:`SmsConnector.redactor <flask_sms_otp.SmsConnector.redactor>`) and every provider
text passes through it before it is logged, stored or signalled.

What is replaced, and with what:

- a credential (a ``secret_fields`` value, a derived secret such as a Basic-auth token, both
  also percent-encoded, or a match of the connector's ``secret_patterns``): ``[redacted]``;
- the number, as E.164 with or without ``+`` (``%2B`` or ``00`` too), or as the national
  number, with spaces, dashes, dots, slashes or brackets between its digits: the masked number
  (``+*********8000``);
- the code, wherever its digits appear in a row: ``[code]``.

Nothing else is touched, so the provider's own error code and words stay readable. The code
is matched even inside a longer run of digits (a form-encoded echo glues it to ``%22``); a
coincidental match elsewhere costs a few digits of a request id, never a leak.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

import phonenumbers
from phonenumbers import NumberParseException

from .errors import DeliveryError
from .phone import mask_phone

CODE_MARKER = "[code]"
SECRET_MARKER = "[redacted]"  # noqa: S105 - a marker, not a password
#: Longest provider text (``provider_message``) kept once redacted.
MAX_TEXT = 300
#: Longest error message kept once redacted: a verdict, the provider's text and a request id.
MAX_MESSAGE = 400
#: A national number shorter than this is not redacted on its own: the masked number shows
#: the last four digits anyway, and a short run of digits is too common in ordinary texts.
MIN_NATIONAL_DIGITS = 5
#: What may stand between two digits of a number as a provider writes it back: spaces,
#: dashes, dots, slashes, brackets, and a form-encoded space (``+``, ``%20``).
_SEPARATOR = r"(?:[\s\-./()+]|%20|%28|%29){0,3}"


class Redactor:
    """Replaces the code, the number and the credentials of one send in provider texts.

    ``patterns`` are regular expressions for secrets made per request (a signature); when
    one has a group named ``secret``, only that group is replaced.
    """

    def __init__(
        self,
        *,
        code: str | None = None,
        phone: str | None = None,
        secrets: Iterable[object] = (),
        patterns: Iterable[str] = (),
    ) -> None:
        # Ranked: where two matches overlap, the union is replaced by the first one's marker.
        self._rules: list[tuple[re.Pattern[str], str]] = []
        values = {
            variant
            for secret in secrets
            if isinstance(secret, str) and secret
            for variant in (secret, quote(secret, safe=""), quote_plus(secret))
        }
        if values:
            # Longest first, so a secret holding another is replaced whole.
            alternatives = sorted(values, key=len, reverse=True)
            self._rules.append((re.compile("|".join(map(re.escape, alternatives))), SECRET_MARKER))
        for pattern in patterns:
            self._rules.append((re.compile(pattern), SECRET_MARKER))
        number = number_pattern(phone) if phone else None
        if phone and number:
            self._rules.append((re.compile(number, re.IGNORECASE), mask_phone(phone)))
        if code:
            self._rules.append((re.compile(re.escape(code)), CODE_MARKER))

    def __call__(self, text: str) -> str:
        """``text`` with every match replaced by its marker; nothing else changes."""
        spans: list[tuple[int, int, int, str]] = []
        for rank, (pattern, marker) in enumerate(self._rules):
            group: int | str = "secret" if "secret" in pattern.groupindex else 0
            for match in pattern.finditer(text):
                start, end = match.span(group)
                if start < end:
                    spans.append((start, end, rank, marker))
        if not spans:
            return text
        spans.sort()
        pieces: list[str] = []
        position = 0
        start, end, rank, marker = spans[0]
        for next_start, next_end, next_rank, next_marker in spans[1:]:
            if next_start < end:  # overlapping matches are replaced as one
                end = max(end, next_end)
                if next_rank < rank:
                    rank, marker = next_rank, next_marker
                continue
            pieces += [text[position:start], marker]
            position = end
            start, end, rank, marker = next_start, next_end, next_rank, next_marker
        pieces += [text[position:start], marker, text[end:]]
        return "".join(pieces)

    def text(self, value: object, limit: int = MAX_TEXT) -> str | None:
        """``value`` redacted, as one line of at most ``limit`` characters; ``None`` when
        empty. The cut comes after the redaction, so it never leaves part of a code."""
        if value is None:
            return None
        line = " ".join(self(str(value)).split())
        return line[:limit] or None

    def error(self, error: DeliveryError) -> DeliveryError:
        """Redact ``error`` in place (message, provider message and code) and drop its
        chained exceptions, whose texts are not redacted. Returns it."""
        error.args = (self.text(error, MAX_MESSAGE) or type(error).__name__,)
        error.provider_message = self.text(error.provider_message)
        error.provider_code = self.text(error.provider_code)
        error.__cause__ = None
        error.__context__ = None
        error.__suppress_context__ = True
        return error


def number_pattern(e164: str) -> str | None:
    """A regular expression for ``e164`` as providers write it back: all its digits, after
    an optional ``+``, ``%2B`` or ``00`` (and a trunk ``(0)`` after the country code), or its
    national number alone, with separators allowed between any two digits. ``None`` for a
    value without digits."""
    digits = re.sub(r"[^0-9]", "", e164)
    if not digits:
        return None
    prefix = r"(?:\+|%2B|00)?"
    try:
        parsed = phonenumbers.parse(f"+{digits}")
    except NumberParseException:
        return prefix + _SEPARATOR.join(digits)
    country = str(parsed.country_code)
    national = phonenumbers.national_significant_number(parsed)
    if country + national != digits:  # not the split phonenumbers knows: digits only
        return prefix + _SEPARATOR.join(digits)
    trunk = rf"(?:\(0\){_SEPARATOR})?"
    forms = [prefix + _SEPARATOR.join(country) + _SEPARATOR + trunk + _SEPARATOR.join(national)]
    if len(national) >= MIN_NATIONAL_DIGITS:
        forms.append(_SEPARATOR.join(national))
    return "|".join(forms)
