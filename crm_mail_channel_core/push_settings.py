"""Connection settings for the push service, without Odoo in its process.

The watchers need each mailbox's server, login and password or OAuth access token. Only
Odoo can read them (the password is encrypted with the database's key, a token is refreshed
through the provider bridge), and an Odoo registry costs far more memory than hundreds of
idle IMAP connections. So the push service asks a short-lived Odoo process for them, a batch
of mailboxes at a time: ``python3 -m odoo crm_mail_push_settings -d DB``, which reads mailbox
ids as JSON on its standard input and answers one line, ``RESULT_MARKER`` then
``{id: settings or null}`` as JSON, on its standard output (its log goes to standard error).
Nothing is written to disk and nothing travels over the network.

``SettingsCache`` keeps the answers per mailbox and settings version; an OAuth access token
is asked for again after ``oauth_max_age`` seconds (tokens live about an hour and are needed
only to log in again).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from .mailbox_client import MailboxSettings

__all__ = [
    "RESULT_MARKER",
    "SettingsCache",
    "SubprocessSettingsSource",
    "decode_answer",
    "encode_answer",
    "settings_from_dict",
    "settings_to_dict",
]

_logger = logging.getLogger(__name__)

RESULT_MARKER = "crm_mail_push_settings:"
_FIELDS = {f.name for f in dataclasses.fields(MailboxSettings)}


def settings_to_dict(settings: MailboxSettings | None) -> dict | None:
    return None if settings is None else dataclasses.asdict(settings)


def settings_from_dict(data: Mapping | None) -> MailboxSettings | None:
    if data is None:
        return None
    return MailboxSettings(**{key: value for key, value in data.items() if key in _FIELDS})


def encode_answer(answer: Mapping[int, MailboxSettings | None]) -> str:
    """The answer line of ``crm_mail_push_settings``."""
    payload = {str(mailbox_id): settings_to_dict(s) for mailbox_id, s in answer.items()}
    return RESULT_MARKER + json.dumps(payload, separators=(",", ":"))


def decode_answer(output: str) -> dict[int, MailboxSettings | None]:
    """The settings in the output of ``crm_mail_push_settings`` (its last answer line)."""
    for line in reversed(output.splitlines()):
        if line.startswith(RESULT_MARKER):
            payload = json.loads(line[len(RESULT_MARKER) :])
            return {int(key): settings_from_dict(value) for key, value in payload.items()}
    raise ValueError("no settings answer in the output")


class SubprocessSettingsSource:
    """Runs ``command`` (the ``crm_mail_push_settings`` Odoo command) for a batch of ids."""

    def __init__(self, command: Sequence[str], timeout: float = 300.0, env=None) -> None:
        self.command = list(command)
        self.timeout = timeout
        self.env = env
        self.runs = 0

    def __call__(self, mailbox_ids: Sequence[int]) -> dict[int, MailboxSettings | None]:
        self.runs += 1
        done = subprocess.run(
            self.command,
            input=json.dumps(sorted(int(i) for i in mailbox_ids)),
            capture_output=True,
            text=True,
            timeout=self.timeout,
            env=self.env,
            check=False,
        )
        if done.returncode != 0:
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            raise RuntimeError(f"crm_mail_push_settings exited with {done.returncode}: {tail}")
        return decode_answer(done.stdout)


class SettingsCache:
    """Settings per mailbox and version, fetched in batches from ``source``.

    ``want(versions)`` is told the leased mailboxes at every refresh and forgets the others;
    ``get(id)`` answers from the cache, or fetches that mailbox together with every other
    leased mailbox that has no fresh entry (at start, one run covers all of them).
    """

    def __init__(
        self,
        source: Callable[[Sequence[int]], Mapping[int, MailboxSettings | None]],
        oauth_max_age: float = 30 * 60.0,
        missing_max_age: float = 5 * 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.oauth_max_age = oauth_max_age
        self.missing_max_age = missing_max_age
        self.clock = clock
        self._versions: dict[int, str] = {}
        self._entries: dict[int, tuple[str, float, MailboxSettings | None]] = {}
        # want() runs in the database thread, get() and fetch() in the settings thread.
        self._lock = threading.Lock()

    def want(self, versions: Mapping[int, str]) -> None:
        with self._lock:
            self._versions = dict(versions)
            for mailbox_id, entry in list(self._entries.items()):
                if entry[0] != self._versions.get(mailbox_id):
                    del self._entries[mailbox_id]

    def _fresh(self, mailbox_id: int) -> bool:
        entry = self._entries.get(mailbox_id)
        if entry is None or entry[0] != self._versions.get(mailbox_id):
            return False
        settings, age = entry[2], self.clock() - entry[1]
        if settings is None:  # no password, sign-in refused...: look again later
            return age < self.missing_max_age
        if settings.oauth2_token:  # tokens expire: a fresh one for the next login
            return age < self.oauth_max_age
        return True

    def stale(self, extra: Iterable[int] = ()) -> list[int]:
        wanted = set(self._versions) | {int(i) for i in extra}
        return sorted(i for i in wanted if not self._fresh(i))

    def get(self, mailbox_id: int) -> MailboxSettings | None:
        if not self._fresh(mailbox_id):
            self.fetch(self.stale([mailbox_id]))
        entry = self._entries.get(mailbox_id)
        return entry[2] if entry else None

    def fetch(self, mailbox_ids: Sequence[int]) -> None:
        if not mailbox_ids:
            return
        with self._lock:
            asked = {mailbox_id: self._versions.get(mailbox_id) for mailbox_id in mailbox_ids}
        try:
            answer = self.source(mailbox_ids)
        except Exception:
            # Odoo could not answer (database down, module being updated...): these
            # mailboxes wait ``missing_max_age`` rather than start one run each.
            _logger.exception("Push: could not read the settings of mailboxes %s", mailbox_ids)
            answer = {}
        now = self.clock()
        with self._lock:
            for mailbox_id, version in asked.items():
                # Settings changed meanwhile: this answer may be older; ask again later.
                if version is not None and self._versions.get(mailbox_id) == version:
                    self._entries[mailbox_id] = (version, now, answer.get(mailbox_id))
