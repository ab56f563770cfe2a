import secrets
import time

from odoo import api, fields, models
from odoo.tools import SQL, consteq

from crm_mail_channel_core import tracking_origin

from .crm_email_content import CrmEmailContent
from .orm_seams import check_access_in_sql

TRACKING_STATES = [
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("opened", "Opened"),
    ("clicked", "Clicked"),
    ("replied", "Replied"),
    ("bounced", "Bounced"),
]
# Events that count as the recipient's own (human) or made on their behalf (proxy).
COUNTED_ORIGINS = ("human", "proxy")
# Order of the states reached by opens and clicks (H11status refines the other transitions).
STATE_RANK = {"sent": 0, "delivered": 1, "opened": 2, "clicked": 3, "replied": 4, "bounced": 5}
# Read with the row on each hit, in the same query.
HIT_FIELDS = [
    "token",
    "email_id",
    "partner_id",
    "state",
    "sent_date",
    "last_click_at",
    "open_count",
    "click_count",
    "machine_open_count",
    "machine_click_count",
    "first_open_date",
    "first_click_date",
]
PARAM_ENABLED = "crm_mail_channel.insights_enabled"
PARAM_MACHINE_WINDOW = "crm_mail_channel.insights_machine_window"
PARAM_RETENTION = "crm_mail_channel.insights_retention_days"


class CrmEmailTracking(models.Model):
    """Email Insights: one row per email sent from CRM and external recipient.

    The recipient's copy carries a pixel and links pointing to ``/crm_mail/t/<token>/...``
    (controllers/crm_email_tracking.py); each request becomes a ``crm.email.tracking.event``,
    classified by ``crm_mail_channel_core.tracking_origin``. Counters keep human and proxy
    events apart from machine ones and survive the purge of raw events.

    Read access follows the email's body: the record rules mirror those of the body row of
    ``crm.email.content`` (whoever may read the body may read the insights; nobody else).
    Only the addon's own code writes (superuser), never a user over RPC.
    """

    _name = "crm.email.tracking"
    _inherit = ["crm.mail.write.guard"]
    _description = "CRM Email Tracking"
    _order = "email_id desc, id"
    _rec_name = "email_address"

    # Email and recipient. auto_join: rule conditions on the email become a join.
    email_id = fields.Many2one(
        "crm.email", "Email", required=True, ondelete="cascade", index=True, auto_join=True
    )
    partner_id = fields.Many2one("res.partner", "Recipient", index=True, ondelete="set null")
    email_address = fields.Char("Recipient address", help="Normalized recipient address.")
    token = fields.Char(
        required=True,
        copy=False,
        default=lambda self: secrets.token_urlsafe(24),
        groups="base.group_system",
        help="Unguessable key of the recipient's pixel and links.",
    )
    mail_message_id = fields.Char(
        "Message-ID", index=True, help="Message-ID of the sent mail (matches bounces)."
    )
    mail_mail_id = fields.Integer(help="Id of the mail.mail that sent this copy.")
    sent_date = fields.Datetime("Sent on")
    # Status and counters
    state = fields.Selection(TRACKING_STATES, "Status", default="sent", required=True, index=True)
    open_count = fields.Integer("Opens", help="Opens by the recipient or an image proxy.")
    click_count = fields.Integer("Clicks", help="Clicks by the recipient or an image proxy.")
    machine_open_count = fields.Integer(
        "Machine opens", help="Opens by privacy prefetchers and security scanners, ignored."
    )
    machine_click_count = fields.Integer(
        "Machine clicks", help="Clicks by security scanners, ignored."
    )
    first_open_date = fields.Datetime("First opened")
    last_open_date = fields.Datetime("Last opened")
    first_click_date = fields.Datetime("First clicked")
    last_click_date = fields.Datetime("Last clicked")
    last_click_at = fields.Float(
        "Last click request", digits=(16, 3), help="Epoch seconds: spots clicks in a burst."
    )
    event_ids = fields.One2many("crm.email.tracking.event", "tracking_id", "Events")
    summary = fields.Char("Summary", compute="_compute_summary")
    body_audience = fields.Boolean(
        compute="_compute_body_audience",
        search="_search_body_audience",
        help="Whether the visibility level lets non-owners read email bodies (rules only).",
    )

    _sql_constraints = [
        ("token_unique", "unique(token)", "Tracking keys are unique."),
    ]

    def _check_access(self, operation):
        # Same rules evaluated in SQL, like crm.email.content (reader_keys has no Python form).
        return check_access_in_sql(self, operation, super()._check_access)

    # ------------------------------------------------------------------ computes
    def _compute_body_audience(self):
        readable = "body" in self.env["crm.email.content"]._audience_parts()
        for tracking in self:
            tracking.body_audience = readable

    @api.model
    def _search_body_audience(self, operator, value):
        if operator not in ("=", "!="):
            raise NotImplementedError(operator)
        readable = "body" in CrmEmailContent._audience_parts(self.env["crm.email.content"])
        positive = (operator == "=") == bool(value)
        return [(1, "=", 1)] if readable == positive else [(0, "=", 1)]

    @api.depends("open_count", "machine_open_count", "click_count", "machine_click_count")
    def _compute_summary(self):
        for tracking in self:
            parts = [
                self.env._("Opened %(count)s times by the recipient", count=tracking.open_count)
                if tracking.open_count
                else self.env._("Not opened by the recipient")
            ]
            if tracking.machine_open_count:
                parts.append(
                    self.env._("%(count)s machine opens ignored", count=tracking.machine_open_count)
                )
            if tracking.click_count:
                parts.append(self.env._("clicked %(count)s times", count=tracking.click_count))
            if tracking.machine_click_count:
                parts.append(
                    self.env._(
                        "%(count)s machine clicks ignored", count=tracking.machine_click_count
                    )
                )
            tracking.summary = ", ".join(parts)

    # ------------------------------------------------------------------ helpers
    @api.model
    def _crm_insights_enabled(self):
        # sudo: one configuration value, the same for everyone.
        value = self.env["ir.config_parameter"].sudo().get_param(PARAM_ENABLED, "True")
        return str(value).strip().lower() not in ("false", "0", "")

    @api.model
    def _crm_param_int(self, key, default):
        # sudo: one configuration value, the same for everyone.
        value = self.env["ir.config_parameter"].sudo().get_param(key)
        try:
            return int(value) if value not in (None, False, "") else default
        except ValueError:
            return default

    @api.model
    def _crm_find_by_token(self, token):
        """The tracking row of ``token`` (superuser), or an empty recordset."""
        if not token or len(token) > 64:
            return self.browse()
        # sudo: public route; the unguessable token is the check, compared in constant time.
        tracking = self.sudo().search_fetch([("token", "=", token)], HIT_FIELDS, limit=1)
        if tracking and consteq(tracking.token, token):
            return tracking
        return self.browse()

    def _crm_record_event(self, values):
        """Store one classified event and update the counters (called as superuser)."""
        self.ensure_one()
        event = self.env["crm.email.tracking.event"].create({**values, "tracking_id": self.id})
        date = event.event_date
        updates = {}
        counted = event.origin in COUNTED_ORIGINS
        if event.event_type == "open":
            if counted:
                updates["open_count"] = self.open_count + 1
                updates["first_open_date"] = self.first_open_date or date
                updates["last_open_date"] = date
            elif event.origin != "self":
                updates["machine_open_count"] = self.machine_open_count + 1
        elif event.event_type == "click":
            if counted:
                updates["click_count"] = self.click_count + 1
                updates["first_click_date"] = self.first_click_date or date
                updates["last_click_date"] = date
            elif event.origin != "self":
                updates["machine_click_count"] = self.machine_click_count + 1
        new_state = self._crm_state_after_event(event)
        if new_state and new_state != self.state:
            updates["state"] = new_state
        self.write(updates)
        return event

    @api.model
    def _crm_register_hit(self, token, event_type, method="GET", user_agent="", ip="", **extra):
        """Record one request on a pixel (``open``) or a link (``click``), classified.

        Called by the public routes as superuser; ``token`` is the only key. Returns the
        tracking row (empty for an unknown token) and the event.
        """
        tracking = self._crm_find_by_token(token)
        if not tracking:
            return tracking, None
        now = time.time()
        session_uid = extra.get("session_uid")
        sender_session = internal_session = False
        if session_uid:
            sender_session = session_uid == tracking.email_id.crm_sender_user_id.id
        if session_uid and not sender_session:
            # sudo: whether the session's user is internal, to keep colleagues' hits apart.
            internal_session = self.env["res.users"].sudo().browse(session_uid)._is_internal()
        sent = tracking.sent_date.timestamp() if tracking.sent_date else None
        since_click = None
        if event_type == "click" and tracking.last_click_at:
            since_click = now - tracking.last_click_at
        origin, reasons = tracking_origin.classify(
            tracking_origin.Request(
                event_type=event_type,
                method=method,
                user_agent=user_agent or "",
                ip=ip or "",
                seconds_since_sent=None if sent is None else max(now - sent, 0.0),
                seconds_since_previous_click=since_click,
                sender_session=sender_session,
                internal_session=internal_session,
                machine_window=float(self._crm_param_int(PARAM_MACHINE_WINDOW, 10)),
            )
        )
        if since_click is not None and since_click < tracking_origin.BURST_SECONDS:
            tracking._crm_reclassify_previous_click()
        event = tracking._crm_record_hit_event(
            {
                "event_type": event_type,
                "origin": origin,
                "reasons": "; ".join(reasons)[:1000],
                "user_agent": (user_agent or "")[:500],
                "ip_truncated": tracking_origin.truncate_ip(ip),
                "method": (method or "GET")[:10],
                "url": (extra.get("url") or "")[:2000] or None,
            },
            clicked_at=now if event_type == "click" else None,
        )
        return tracking, event

    def _crm_record_hit_event(self, values, clicked_at=None):
        """``_crm_record_event`` for pixel and link hits, in two statements.

        The public routes are the hot path (every open of every copy, machines included): the
        event is one INSERT and the counters one UPDATE that adds in SQL (an Integer field left
        unset is NULL in the table), so concurrent hits on one row never lose a count. Only a
        change of state goes through the ORM (rare: the first counted open or click), where
        the status extensions apply.
        """
        self.ensure_one()
        # Pending ORM writes of these rows (a burst reclassified just before) go first.
        self.env["crm.email.tracking.event"].flush_model()
        self.flush_recordset()
        state_before = self.state
        now = fields.Datetime.now()
        uid = self.env.uid
        event_id = self.env.execute_query(
            SQL(
                """INSERT INTO crm_email_tracking_event
                       (tracking_id, partner_id, event_type, event_date, origin, reasons,
                        user_agent, ip_truncated, method, url,
                        create_uid, create_date, write_uid, write_date)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                   RETURNING id""",
                self.id,
                self.partner_id.id or None,
                values["event_type"],
                now,
                values["origin"],
                values["reasons"],
                values["user_agent"],
                values["ip_truncated"] or None,
                values["method"],
                values["url"],
                uid,
                now,
                uid,
                now,
            )
        )[0][0]
        counted = values["origin"] in COUNTED_ORIGINS
        kind = {"open": "open", "click": "click"}[values["event_type"]]
        if counted:
            count, first, last = (f"{kind}_count", f"first_{kind}_date", f"last_{kind}_date")
            counters = SQL(
                "%s = COALESCE(%s, 0) + 1, %s = COALESCE(%s, %s), %s = %s",
                SQL.identifier(count),
                SQL.identifier(count),
                SQL.identifier(first),
                SQL.identifier(first),
                now,
                SQL.identifier(last),
                now,
            )
        elif values["origin"] != "self":
            count = SQL.identifier(f"machine_{kind}_count")
            counters = SQL("%s = COALESCE(%s, 0) + 1", count, count)
        else:
            counters = SQL("id = id")  # the sender's own view counts nothing
        click = SQL(", last_click_at = %s", clicked_at) if clicked_at is not None else SQL()
        self.env.execute_query(
            SQL(
                "UPDATE crm_email_tracking SET %s%s, write_uid = %s, write_date = %s WHERE id = %s",
                counters,
                click,
                uid,
                now,
                self.id,
            )
        )
        # The rows changed behind the ORM's back: drop what it holds of them.
        self.invalidate_recordset()
        event = self.env["crm.email.tracking.event"].browse(event_id)
        target = {"open": "opened", "click": "clicked"}[kind]
        # Opens and clicks only ever raise the state: most hits skip the state logic.
        if counted and STATE_RANK[target] > STATE_RANK.get(state_before, 0):
            new_state = self._crm_state_after_event(event)
            if new_state and new_state != self.state:
                self.write({"state": new_state})
        return event

    def _crm_reclassify_previous_click(self):
        """A burst of clicks: the click just before was a scanner's too; count it so."""
        self.ensure_one()
        previous = self.env["crm.email.tracking.event"].search(
            [("tracking_id", "=", self.id), ("event_type", "=", "click")],
            order="event_date desc, id desc",
            limit=1,
        )
        if previous.origin not in COUNTED_ORIGINS:
            return
        previous.write(
            {
                "origin": "scanner",
                "reasons": "clicked less than a second before the next link (a burst); "
                + (previous.reasons or ""),
            }
        )
        updates = {
            "click_count": max(self.click_count - 1, 0),
            "machine_click_count": self.machine_click_count + 1,
        }
        if not updates["click_count"]:
            updates.update(first_click_date=False, last_click_date=False)
            if self.state == "clicked":
                updates["state"] = "opened" if self.open_count else "sent"
        self.write(updates)

    def _crm_state_after_event(self, event):
        """State reached after ``event``: opens and clicks only (extension point)."""
        if event.origin not in COUNTED_ORIGINS:
            return None
        target = {"open": "opened", "click": "clicked"}.get(event.event_type)
        if target and STATE_RANK[target] > STATE_RANK.get(self.state, 0):
            return target
        return None
