"""Exceptions of the domain-authentication layer (DNS, SPF, DKIM).

``DnsTimeout`` comes from ``errors.py`` (the package-wide ``MailChannelError`` hierarchy) when
that module provides it; the fallback classes below keep this layer importable on its own.
Every class carries ``user_message``: plain words an admin can act on.
"""

from __future__ import annotations

try:  # pragma: no cover - depends on which modules exist in the package
    from .errors import DnsTimeout, MailChannelError
except ImportError:  # pragma: no cover

    class MailChannelError(Exception):  # type: ignore[no-redef]
        """Base error with a message meant for the user."""

        def __init__(self, user_message: str = "", *args: object) -> None:
            super().__init__(user_message, *args)
            self.user_message = user_message

    class DnsTimeout(MailChannelError):  # type: ignore[no-redef]
        """The DNS servers gave no usable answer in time (retry later)."""


class DkimKeyError(MailChannelError):
    """A DKIM private key cannot be used for signing."""


def make_error(cls: type[Exception], user_message: str) -> Exception:
    """Build ``cls`` with ``user_message`` whatever its constructor looks like."""
    try:
        exc = cls(user_message)
    except TypeError:  # pragma: no cover - a constructor with keyword-only arguments
        exc = cls()
    if getattr(exc, "user_message", None) != user_message:
        exc.user_message = user_message  # type: ignore[attr-defined]
    return exc


__all__ = ["DkimKeyError", "DnsTimeout", "MailChannelError", "make_error"]
