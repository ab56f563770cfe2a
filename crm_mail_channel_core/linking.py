"""Deal linking and threading decisions, in plain Python over parsed header values.

A synced email is linked to a contact by its addresses; it is linked to a *deal* only when the
link is certain:

1. ``sent_from_deal`` — the mail was sent from that deal in CRM;
2. ``thread`` — it answers (In-Reply-To / References) a message already linked to a deal; the
   nearest linked ancestor wins, so a thread moved by hand keeps following the move;
3. ``single_open_deal`` — optional (off by default): the contact has exactly one open deal.

Mail whose contacts have several open deals is never guessed: the decision says
``needs_deal=True`` and the email waits for a person. ``manual`` is the reason recorded when a
user sets the link; automatic linking never overrides it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# The form every stored Message-ID has: ids compared here must be normalised the same way.
from .mime import normalize_message_id

__all__ = [
    "NO_LINK",
    "REASONS",
    "LinkDecision",
    "ancestors",
    "decide_deal",
    "normalize_message_id",
    "parse_message_ids",
    "reply_headers",
    "thread_key",
]

REASON_THREAD = "thread"
REASON_SENT_FROM_DEAL = "sent_from_deal"
REASON_SINGLE_OPEN_DEAL = "single_open_deal"
REASON_MANUAL = "manual"
REASONS = (REASON_THREAD, REASON_SENT_FROM_DEAL, REASON_SINGLE_OPEN_DEAL, REASON_MANUAL)

_BRACKETED = re.compile(r"<([^<>\s]+)>")


def _message_id_tokens(value: str | Iterable[str] | None) -> list[str]:
    """Every Message-ID of a header value, in order, duplicates included."""
    if not value:
        return []
    if isinstance(value, str):
        found = _BRACKETED.findall(value)
        if found:
            return [f"<{item}>" for item in found]
        return [normalize_message_id(token) for token in value.split()]
    return [normalize_message_id(item) for item in value]


def parse_message_ids(value: str | Iterable[str] | None) -> list[str]:
    """The Message-IDs of a References / In-Reply-To value, in order, without duplicates.

    Accepts the raw header (``"<a@x> <b@y>"``, folded or not) or an iterable of ids. Ids
    written without angle brackets (seen from some clients) are accepted too.
    """
    result: list[str] = []
    for token in _message_id_tokens(value):
        if token and token not in result:
            result.append(token)
    return result


def thread_key(
    message_id: str | None,
    in_reply_to: str | Iterable[str] | None = None,
    references: str | Iterable[str] | None = None,
) -> str | None:
    """The Message-ID of the thread's first mail.

    The root is the first id of References; without References, the id In-Reply-To names;
    a mail that answers nothing starts its own thread and is its own key.
    """
    refs = parse_message_ids(references)
    if refs:
        return refs[0]
    parents = parse_message_ids(in_reply_to)
    if parents:
        return parents[0]
    return normalize_message_id(message_id)


def ancestors(
    in_reply_to: str | Iterable[str] | None, references: str | Iterable[str] | None
) -> list[str]:
    """Ids this mail answers, nearest first: In-Reply-To, then References from last to first."""
    # A References header listing an id twice (malformed, but seen) places it by its last
    # occurrence, the one nearest the parent.
    result: list[str] = []
    for token in parse_message_ids(in_reply_to) + list(reversed(_message_id_tokens(references))):
        if token and token not in result:
            result.append(token)
    return result


@dataclass(frozen=True)
class LinkDecision:
    """Outcome of :func:`decide_deal`: the deal or ``None``, why, and whether a person decides."""

    lead_id: int | None = None
    reason: str | None = None
    needs_deal: bool = False

    def __post_init__(self):
        if (self.lead_id is None) != (self.reason is None):
            raise ValueError("A deal and its reason go together.")
        if self.reason is not None and self.reason not in REASONS:
            raise ValueError(f"Unknown link reason: {self.reason!r}")
        if self.needs_deal and self.lead_id is not None:
            raise ValueError("A linked email does not need a deal.")


NO_LINK = LinkDecision()


def decide_deal(
    *,
    message_id: str | None = None,
    in_reply_to: str | Iterable[str] | None = None,
    references: str | Iterable[str] | None = None,
    thread_links: Mapping[str, int] | None = None,
    sent_from_lead_id: int | None = None,
    open_lead_ids: Sequence[int] | Iterable[int] = (),
    single_open_deal: bool = False,
) -> LinkDecision:
    """Decide which deal an email belongs to, if any is certain.

    :param message_id: the email's own Message-ID (ignored as its own ancestor).
    :param in_reply_to: In-Reply-To header value or ids.
    :param references: References header value or ids.
    :param thread_links: known Message-ID -> deal id, for mail already linked to a deal.
    :param sent_from_lead_id: the deal the mail was sent from in CRM, if any.
    :param open_lead_ids: open deals of the email's contacts.
    :param single_open_deal: the "link to the contact's only open deal" setting.
    """
    if sent_from_lead_id:
        return LinkDecision(int(sent_from_lead_id), REASON_SENT_FROM_DEAL)
    own = normalize_message_id(message_id)
    links = thread_links or {}
    for parent in ancestors(in_reply_to, references):
        if parent == own:
            continue
        lead_id = links.get(parent)
        if lead_id:
            return LinkDecision(int(lead_id), REASON_THREAD)
    open_ids = sorted({int(lead_id) for lead_id in open_lead_ids if lead_id})
    if len(open_ids) == 1:
        if single_open_deal:
            return LinkDecision(open_ids[0], REASON_SINGLE_OPEN_DEAL)
        return NO_LINK
    if len(open_ids) > 1:
        return LinkDecision(needs_deal=True)
    return NO_LINK


def reply_headers(
    parent_message_id: str | None, parent_references: str | Iterable[str] | None = None
) -> dict[str, str]:
    """In-Reply-To and References for an answer to a message (RFC 5322 §3.6.4)."""
    parent = normalize_message_id(parent_message_id)
    if not parent:
        return {}
    refs = [ref for ref in parse_message_ids(parent_references) if ref != parent]
    refs.append(parent)
    return {"In-Reply-To": parent, "References": " ".join(refs)}
