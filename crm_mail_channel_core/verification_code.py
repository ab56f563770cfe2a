"""The emailed verification code for domain authentication: pure helpers, no storage.

The Odoo model stores only ``hash_code(code, salt)``, the salt and timestamps; these functions
decide what is allowed. Times are compared as given: pass all naive UTC (as Odoo stores them) or
all timezone-aware.

Wrong tries are counted per (purpose, domain or address, user) by the caller, atomically, before
the code is compared, so that parallel tries each take their own place in the count; a new code
never resets that count.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

# No 0/O, 1/I/L: the code is read from an email and typed by hand.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
PBKDF2_ITERATIONS = 100_000
_HASH_SCHEME = "pbkdf2_sha256"


@dataclass(frozen=True)
class CodePolicy:
    """How long a code lives and how hard it is to guess by trying.

    ``max_attempts`` wrong tries within ``attempt_window`` lock the key for ``lockout``; once
    there, every further wrong try within the window locks it again, so guessing goes on at one
    try per ``lockout`` at most.
    """

    validity: timedelta = timedelta(days=15)
    max_attempts: int = 5
    attempt_window: timedelta = timedelta(hours=24)
    lockout: timedelta = timedelta(hours=1)
    resend_cooldown: timedelta = timedelta(seconds=60)


DEFAULT_POLICY = CodePolicy()


def generate_code(length: int = 8) -> str:
    """A random code from an unambiguous alphabet (about 5 bits per character)."""
    if length < 6:
        raise ValueError("A verification code needs at least 6 characters.")
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def new_salt() -> str:
    return secrets.token_hex(16)


def normalize_code(code: str) -> str:
    """What the user typed, without spaces or dashes and upper-cased (codes get pasted)."""
    return "".join(ch for ch in (code or "").upper() if ch not in " -\t\r\n")


def hash_code(code: str, salt: str | bytes, iterations: int = PBKDF2_ITERATIONS) -> str:
    """``pbkdf2_sha256$<iterations>$<hex>`` of the normalised code."""
    salt_bytes = salt.encode() if isinstance(salt, str) else salt
    digest = hashlib.pbkdf2_hmac(
        "sha256", normalize_code(code).encode(), salt_bytes, iterations
    ).hex()
    return f"{_HASH_SCHEME}${iterations}${digest}"


def code_matches(code: str, stored_hash: str, salt: str | bytes) -> bool:
    """Constant-time comparison of a typed code with the stored hash."""
    try:
        scheme, iterations, _digest = (stored_hash or "").split("$")
        rounds = int(iterations)
    except ValueError:
        return False
    if scheme != _HASH_SCHEME or not normalize_code(code):
        return False
    return hmac.compare_digest(hash_code(code, salt, rounds), stored_hash)


def is_expired(sent_at: datetime, now: datetime, policy: CodePolicy = DEFAULT_POLICY) -> bool:
    return now >= sent_at + policy.validity


def can_resend(
    last_sent_at: datetime | None, now: datetime, policy: CodePolicy = DEFAULT_POLICY
) -> bool:
    return last_sent_at is None or now >= last_sent_at + policy.resend_cooldown


def resend_wait(
    last_sent_at: datetime | None, now: datetime, policy: CodePolicy = DEFAULT_POLICY
) -> timedelta:
    """How long until a new code may be sent (zero when it may be sent now)."""
    if last_sent_at is None:
        return timedelta(0)
    return max(timedelta(0), last_sent_at + policy.resend_cooldown - now)


def is_locked(locked_until: datetime | None, now: datetime) -> bool:
    return locked_until is not None and now < locked_until


def window_expired(
    window_start: datetime | None, now: datetime, policy: CodePolicy = DEFAULT_POLICY
) -> bool:
    """True when a new count of wrong tries starts (none yet, or the window has passed)."""
    return window_start is None or now >= window_start + policy.attempt_window


def lock_after_failure(
    failures: int, now: datetime, policy: CodePolicy = DEFAULT_POLICY
) -> datetime | None:
    """After a wrong try that made ``failures`` in the window: locked-until, or None."""
    if failures >= policy.max_attempts:
        return now + policy.lockout
    return None


def remaining_attempts(failures: int, policy: CodePolicy = DEFAULT_POLICY) -> int:
    return max(0, policy.max_attempts - failures)


__all__ = [
    "CODE_ALPHABET",
    "DEFAULT_POLICY",
    "CodePolicy",
    "can_resend",
    "code_matches",
    "generate_code",
    "hash_code",
    "is_expired",
    "is_locked",
    "lock_after_failure",
    "new_salt",
    "normalize_code",
    "remaining_attempts",
    "resend_wait",
    "window_expired",
]
