"""Reference model of who may read a synced email, written from the sharing specification.

Plain Python, no Odoo imports. It is deliberately simple (sets and loops, no SQL, no caching)
so that property-based tests can compare it with what the ORM's record rules return.

Specification, as implemented here:

* The owner of an email (a user in whose mailbox it sits) always reads it in full.
* A non-owner reads an email only through a record they can open: its deal when it is linked
  to one (a salesman with "own documents" opens deals assigned to them or to nobody, a user
  with "all documents" opens every deal, others open no deal); otherwise at least one of its
  contacts (a contact of another company than the viewer's is hidden).
* Emails sent from CRM are shared with everyone who can open the record.
* Otherwise an owner's copy is shared according to the per-thread override (``shared`` /
  ``private``) or, by default, the owner's mode: ``private`` never, ``public`` unless every
  outside participant belongs to an excluded domain (organisation list + owner's list),
  ``custom`` when one of the email's contacts is in the owner's shared-contacts set.
* A shared copy is read by the owner's audience (everyone when no user and no group is
  chosen; else the chosen users and the members of the chosen groups) and by every superior
  of the owner at any depth (email manager and sales team leaders), whatever the audience.
* Non-owners read at the organisation's visibility level: ``full``, ``subject``
  (subject and participants) or ``metadata`` (participants and date).
"""

from dataclasses import dataclass, field

LEVELS = ("metadata", "subject", "full")


@dataclass
class User:
    mode: str = "private"  # private / public / custom
    audience_users: set = field(default_factory=set)
    audience_groups: set = field(default_factory=set)
    groups: set = field(default_factory=set)  # groups the user belongs to
    manager: object = None  # uid of the email manager
    excluded_domains: list = field(default_factory=list)
    shared_contacts: set = field(default_factory=set)
    addresses: set = field(default_factory=set)  # own addresses (not "outside")
    sales: str = "own"  # none / own / all
    companies: set = field(default_factory=lambda: {1})


@dataclass
class Partner:
    company: object = None  # None: shared by every company


@dataclass
class Lead:
    user: object = None
    company: object = None


@dataclass
class Email:
    owners: set = field(default_factory=set)
    participants: list = field(default_factory=list)
    partners: set = field(default_factory=set)
    lead: object = None  # key into Organisation.leads, or None
    sent_from_crm: bool = False
    overrides: dict = field(default_factory=dict)  # owner uid -> default / shared / private


@dataclass
class Organisation:
    users: dict = field(default_factory=dict)  # uid -> User
    teams: list = field(default_factory=list)  # (leader uid or None, set of member uids)
    excluded_domains: list = field(default_factory=list)
    partners: dict = field(default_factory=dict)  # pid -> Partner
    leads: dict = field(default_factory=dict)  # lid -> Lead
    visibility_level: str = "full"


def _all_outside_excluded(participants, own, domains):
    """Independent of sharing_domains on purpose: a second implementation to compare with."""
    own = {a.lower() for a in own}
    for address in participants:
        address = address.lower()
        if address in own:
            continue
        host = address.rsplit("@", 1)[-1]
        if not any(host == d or host.endswith("." + d) for d in domains):
            return False
    return True


def superiors(org, uid):
    """Every user above ``uid`` through email managers and sales team leaders."""
    direct = {}
    for sub, user in org.users.items():
        if user.manager is not None:
            direct.setdefault(sub, set()).add(user.manager)
    for leader, members in org.teams:
        if leader is None:
            continue
        for member in members:
            direct.setdefault(member, set()).add(leader)
    seen, todo = set(), [uid]
    while todo:
        for boss in direct.get(todo.pop(), ()):
            if boss not in seen:
                seen.add(boss)
                todo.append(boss)
    seen.discard(uid)
    return seen


def can_open(org, viewer, email):
    user = org.users[viewer]
    if email.lead is not None:
        lead = org.leads[email.lead]
        if lead.company is not None and lead.company not in user.companies:
            return False
        if user.sales == "all":
            return True
        if user.sales == "own":
            return lead.user in (None, viewer)
        return False
    return any(
        org.partners[pid].company is None or org.partners[pid].company in user.companies
        for pid in email.partners
    )


def copy_is_shared(org, owner, email):
    override = email.overrides.get(owner, "default")
    if override != "default":
        return override == "shared"
    user = org.users[owner]
    if user.mode == "public":
        excluded = list(org.excluded_domains) + list(user.excluded_domains)
        return not _all_outside_excluded(email.participants, user.addresses, excluded)
    if user.mode == "custom":
        return bool(email.partners & user.shared_contacts)
    return False


def audience_includes(org, owner, viewer):
    user = org.users[owner]
    if viewer in superiors(org, owner):
        return True
    if not user.audience_users and not user.audience_groups:
        return True
    return viewer in user.audience_users or bool(user.audience_groups & org.users[viewer].groups)


def readable(org, emails):
    """``{viewer uid: {email key: level}}`` for every user of the organisation."""
    result = {}
    for viewer in org.users:
        seen = {}
        for key, email in emails.items():
            if viewer in email.owners:
                seen[key] = "full"
                continue
            if not can_open(org, viewer, email):
                continue
            if email.sent_from_crm or any(
                copy_is_shared(org, owner, email) and audience_includes(org, owner, viewer)
                for owner in email.owners
            ):
                seen[key] = org.visibility_level
        result[viewer] = seen
    return result


def content_readers(copies, message_id, fingerprint, shared_by=None):
    """Who may read the content of the email ``(message_id, fingerprint)``.

    ``copies`` is an iterable of ``(user, message_id, fingerprint)``: the messages each user
    holds in a mailbox of theirs (or sent). Content is readable only by those who hold a copy
    with the same Message-ID *and* fingerprint, and by those a holder shares it with
    (``shared_by``: ``{holder: set of users}``). A Message-ID alone grants nothing.
    """
    holders = {user for user, mid, fp in copies if mid == message_id and fp == fingerprint}
    readers = set(holders)
    for holder in holders:
        readers |= set((shared_by or {}).get(holder, ()))
    return readers
