"""Errors raised by the core package, each with a plain-words message for the user."""

from __future__ import annotations


class MailChannelError(Exception):
    """Base error: ``user_message`` tells the user what to do; ``code`` is stable for programs."""

    code = "error"
    default_message = "Something went wrong while talking to the mail server. Please try again."

    def __init__(
        self, user_message: str | None = None, *, detail: str | None = None, code: str | None = None
    ) -> None:
        self.user_message = user_message or self.default_message
        self.detail = detail  # technical detail for logs, never shown as the main message
        if code:
            self.code = code
        super().__init__(self.user_message if not detail else f"{self.user_message} ({detail})")


class AuthenticationFailed(MailChannelError):
    code = "auth_failed"
    default_message = "The mail server rejected the login or password. Check both and try again."


class AppPasswordRequired(AuthenticationFailed):
    code = "app_password_required"
    default_message = (
        "This provider does not accept your normal password for mail programs. "
        "Create an app password in your account's security settings and use it here."
    )


class TlsError(MailChannelError):
    code = "tls_error"
    default_message = (
        "A secure connection to the mail server could not be set up (certificate or encryption "
        "problem). Check the server name, port and security setting."
    )


class HostUnreachable(MailChannelError):
    code = "host_unreachable"
    default_message = (
        "The mail server could not be reached. Check the server name and port, and that the "
        "server accepts connections from here."
    )


class ConnectionTimedOut(MailChannelError):
    code = "timeout"
    default_message = (
        "The mail server did not answer in time. Check the server name and port, or try again "
        "later."
    )


class ServerError(MailChannelError):
    code = "server_error"
    default_message = (
        "The mail server ended the connection or answered unexpectedly. The sync will resume "
        "where it stopped on the next run."
    )


class MessageParseError(MailChannelError):
    code = "parse_error"
    default_message = "This message could not be read (it is not a valid email)."


class DnsTimeout(MailChannelError):
    code = "dns_timeout"
    default_message = "The DNS lookup did not answer in time. Try again in a few minutes."


class Throttled(MailChannelError):
    """The server asked us to slow down (too many connections, rate limit, maintenance).

    Not a failure of the mailbox: the caller backs off this mailbox and shows the reason,
    instead of marking it broken or dropping its password.
    """

    code = "throttled"
    default_message = (
        "The mail server asked CRM to slow down (too many connections or requests). The sync "
        "waits a little and tries again by itself; nothing is lost."
    )


# What servers answer when they throttle (lower case): RFC 5530 response codes, Gmail's and
# Microsoft's wording, Dovecot's per-user connection limit.
THROTTLE_MARKERS = (
    "[throttled]",
    "[unavailable]",
    "[limit]",
    "too many simultaneous connections",
    "too many connections",
    "maximum number of connections",
    "request is throttled",
    "rate limit",
)


def throttle_reason(text: str | bytes | None) -> str | None:
    """The server's own words when ``text`` is a throttling answer, else None."""
    if not text:
        return None
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lowered = text.lower()
    if any(marker in lowered for marker in THROTTLE_MARKERS):
        return " ".join(text.split())[:200]
    return None


def throttled(text: str | bytes) -> Throttled:
    """A Throttled error quoting what the server said."""
    reason = throttle_reason(text) or str(text)
    return Throttled(
        f"The mail server asked CRM to slow down: \u201c{reason}\u201d. CRM waits and tries "
        "again by itself; nothing is lost.",
        detail=reason,
    )
