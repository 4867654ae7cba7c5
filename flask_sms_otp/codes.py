"""One-time codes: made from the OS's secure random source, kept only as keyed digests.

A digest is an HMAC-SHA256 of the code bound to its challenge, its purpose and its number,
so a digest read from the database matches no other challenge, usage or number, and is
worthless without the app's secret key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence

CodeGenerator = Callable[[int], str]

_KEY_CONTEXT = b"flask-sms-otp:code-digest:v1"


def generate_code(length: int) -> str:
    """``length`` decimal digits from the OS's secure random source; leading zeros kept."""
    return f"{secrets.randbelow(10**length):0{length}d}"


def derive_keys(secrets_: Sequence[str | bytes]) -> tuple[bytes, ...]:
    """Digest keys from the app's ``SECRET_KEY`` then ``SECRET_KEY_FALLBACKS``.

    New codes use the first; verification accepts any, so rotating the secret key the
    Flask way keeps codes sent just before the rotation valid.
    """
    keys = []
    for secret in secrets_:
        raw = secret.encode() if isinstance(secret, str) else secret
        keys.append(hmac.new(raw, _KEY_CONTEXT, hashlib.sha256).digest())
    return tuple(keys)


def code_digest(key: bytes, challenge_id: str, usage: str, phone: str, code: str) -> str:
    """HMAC-SHA256 of the code bound to its challenge, purpose and number, as hex."""
    message = "\x1f".join((challenge_id, usage, phone, code)).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def unusable_digest() -> str:
    """A digest no code matches: for silent challenges, and for queued ones until the
    worker makes their code."""
    return secrets.token_hex(32)


class Codes:
    """Makes and checks the codes of one app."""

    def __init__(
        self, keys: Sequence[bytes], *, length: int, generator: CodeGenerator = generate_code
    ) -> None:
        if not keys:
            raise ValueError("at least one digest key is required")
        self.keys = tuple(keys)
        self.length = length
        self.generator = generator

    def new(self, challenge_id: str, usage: str, phone: str) -> tuple[str, str]:
        """A fresh code for the challenge, and the digest to store."""
        code = self.generator(self.length)
        return code, self.digest(challenge_id, usage, phone, code)

    def digest(self, challenge_id: str, usage: str, phone: str, code: str) -> str:
        """The digest to store for ``code`` (a test number's fixed one, or a fresh one)."""
        return code_digest(self.keys[0], challenge_id, usage, phone, code)

    def matches(self, challenge_id: str, usage: str, phone: str, code: object, stored: str) -> bool:
        """Whether ``code`` is the challenge's: strict format first, then every key's
        digest compared in constant time (all of them, whatever the first gives)."""
        # Only ASCII digits of the exact length reach the comparison: compare_digest raises
        # on non-ASCII str, and int() would accept full-width or Arabic-Indic digits.
        if not isinstance(code, str) or not is_code(code, self.length):
            return False
        found = False
        for key in self.keys:
            candidate = code_digest(key, challenge_id, usage, phone, code)
            found = hmac.compare_digest(candidate, stored) or found
        return found


def is_code(code: str, length: int) -> bool:
    return len(code) == length and code.isascii() and code.isdigit()
