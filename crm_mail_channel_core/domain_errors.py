"""Exceptions of the domain-authentication layer (DNS, SPF, DKIM).

They belong to the package-wide ``MailChannelError`` hierarchy of ``errors.py``: every one
carries ``user_message``, plain words an admin can act on.
"""

from __future__ import annotations

from .errors import DnsTimeout, MailChannelError


class DkimKeyError(MailChannelError):
    """A DKIM private key cannot be used for signing."""

    code = "dkim_key_error"


def make_error(cls: type[MailChannelError], user_message: str) -> MailChannelError:
    """``cls`` with ``user_message``."""
    return cls(user_message)


__all__ = ["DkimKeyError", "DnsTimeout", "MailChannelError", "make_error"]
