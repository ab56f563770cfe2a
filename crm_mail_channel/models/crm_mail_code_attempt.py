from odoo import api, fields, models
from odoo.tools import SQL

from crm_mail_channel_core import verification_code as vcode


class CrmMailCodeAttempt(models.Model):
    """Wrong tries at an emailed verification code, one row per (purpose, key, user).

    A try is counted in SQL before the code is compared (``_begin_try``): the upsert takes the
    row's lock, so parallel tries on one key wait for each other and each gets its own place in
    the count; a try that would come after the last allowed one is refused without comparing.
    The count lives apart from the code, so sending a new code never resets it.

    No access rights: only the verification methods read and write it.
    """

    _name = "crm.mail.code.attempt"
    _description = "Verification Code Attempts"

    # Who tries to prove what
    purpose = fields.Char(required=True, readonly=True)
    key = fields.Char(required=True, readonly=True, help="The domain or address to prove.")
    user_id = fields.Many2one("res.users", required=True, readonly=True, ondelete="cascade")
    # Wrong tries in the current window, and the lock they set
    window_start = fields.Datetime(required=True, readonly=True)
    failures = fields.Integer(readonly=True)
    locked_until = fields.Datetime(readonly=True)

    _sql_constraints = [
        (
            "attempt_key_unique",
            "unique(purpose, key, user_id)",
            "Tries are counted once per purpose, key and user.",
        ),
    ]

    @api.model
    def _begin_try(self, purpose, key, policy=vcode.DEFAULT_POLICY):
        """Count one try of the current user before the code is compared.

        Returns ``(attempt, failures, locked_until)``: the row, the wrong tries in the window
        including this one, and the lock that was in force when the try began (compare no code
        while it holds). A right code gives its place back with ``_end_try(right=True)``.

        The count commits with the request: callers report a wrong code without raising.
        """
        now = fields.Datetime.now()
        self.flush_model()  # a lock set by _end_try() may still be in the cache only
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO crm_mail_code_attempt AS a (
                    purpose, key, user_id, window_start, failures,
                    create_uid, create_date, write_uid, write_date
                )
                VALUES (
                    %(purpose)s, %(key)s, %(uid)s, %(now)s, 1,
                    %(uid)s, %(now)s, %(uid)s, %(now)s
                )
                ON CONFLICT (purpose, key, user_id) DO UPDATE SET
                    failures = CASE WHEN a.window_start > %(since)s THEN a.failures + 1 ELSE 1 END,
                    window_start = CASE
                        WHEN a.window_start > %(since)s THEN a.window_start ELSE %(now)s
                    END,
                    write_uid = %(uid)s,
                    write_date = %(now)s
                RETURNING a.id, a.failures, a.locked_until
                """,
                purpose=purpose,
                key=key,
                uid=self.env.uid,
                now=now,
                since=now - policy.attempt_window,
            )
        )
        attempt_id, failures, locked_until = self.env.cr.fetchone()
        self.invalidate_model(["window_start", "failures", "locked_until"])
        if not vcode.is_locked(locked_until, now):
            locked_until = None
        return self.browse(attempt_id), failures, locked_until

    def _end_try(self, right, policy=vcode.DEFAULT_POLICY):
        """After the comparison: a right code is not a wrong try; a wrong one may lock.

        Returns the lock set by this try, or None. The row is still locked by this
        transaction, so the read-modify-write is safe here.
        """
        self.ensure_one()
        # sudo: the row of the current user's own try, counted by _begin_try() just before.
        attempt = self.sudo()
        if right:
            attempt.failures = max(0, attempt.failures - 1)
            return None
        locked_until = vcode.lock_after_failure(attempt.failures, fields.Datetime.now(), policy)
        if locked_until:
            attempt.locked_until = locked_until
        return locked_until

    @api.model
    def _current_state(self, purpose, keys, policy=vcode.DEFAULT_POLICY):
        """``{key: (wrong tries in the window, locked-until or None)}`` for the current user."""
        now = fields.Datetime.now()
        # sudo: the current user's own counters only (no access rights on the model).
        attempts = self.sudo().search(
            [("purpose", "=", purpose), ("key", "in", list(keys)), ("user_id", "=", self.env.uid)]
        )
        state = {}
        for attempt in attempts:
            failures = attempt.failures
            if vcode.window_expired(attempt.window_start, now, policy):
                failures = 0
            locked_until = attempt.locked_until
            state[attempt.key] = (
                failures,
                locked_until if vcode.is_locked(locked_until or None, now) else None,
            )
        return state

    @api.autovacuum
    def _gc_old_attempts(self):
        """Forget counts whose window has passed and that lock nothing any more."""
        now = fields.Datetime.now()
        stale = self.search(
            [
                ("window_start", "<", now - vcode.DEFAULT_POLICY.attempt_window),
                "|",
                ("locked_until", "=", False),
                ("locked_until", "<", now),
            ]
        )
        stale.unlink()
