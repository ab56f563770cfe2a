from dateutil.relativedelta import relativedelta
from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.osv import expression
from odoo.tools import SQL

from crm_mail_channel_core.addresses import parse_address_list

MAX_CARDS = 200
CARD_FIELDS = ["date", "email_from", "lead_id"]
# An open deal: not archived (lost deals are archived) and not in a won stage.
OPEN_DEAL = ["|", ("stage_id", "=", False), ("stage_id.is_won", "=", False)]


class CrmEmail(models.Model):
    """SalesInbox: the mail a user may read, in columns by sales category.

    Stored columns are searched and counted as the current user, so the record rules decide
    both what is shown and the counts. "Not in CRM" is read live from the user's own mailbox
    (crm_email_sales_inbox_live.py).
    """

    _inherit = "crm.email"

    # Filters offered for the users' own columns (searched as the current user)
    sales_inbox_awaiting_reply = fields.Boolean(
        "Awaiting my reply",
        compute="_compute_sales_inbox_flags",
        search="_search_sales_inbox_awaiting_reply",
        help="In my inbox, and I have not answered in its conversation since.",
    )
    sales_inbox_closing_this_month = fields.Boolean(
        "Deal closing this month",
        compute="_compute_sales_inbox_flags",
        search="_search_sales_inbox_closing_this_month",
    )
    sales_inbox_opened_unanswered = fields.Boolean(
        "Opened but not answered",
        compute="_compute_sales_inbox_flags",
        search="_search_sales_inbox_opened_unanswered",
        help="Sent by me from CRM, opened or clicked by the recipient, no reply yet.",
    )

    def init(self):
        result = super().init()
        # The Colleagues column, newest first: a few percent of the mail, found without
        # walking the whole date index.
        self.env.cr.execute(
            SQL(
                """CREATE INDEX IF NOT EXISTS crm_email_colleague_date_index
                   ON crm_email (date DESC, id DESC) WHERE is_colleague_mail"""
            )
        )
        return result

    # ------------------------------------------------------------------ filters
    @api.depends_context("uid")
    def _compute_sales_inbox_flags(self):
        names = (
            "sales_inbox_awaiting_reply",
            "sales_inbox_closing_this_month",
            "sales_inbox_opened_unanswered",
        )
        for name in names:
            found = set(self.search([("id", "in", self._origin.ids), (name, "=", True)]).ids)
            for email in self:
                email[name] = email._origin.id in found

    @api.model
    def _sales_inbox_positive(self, operator, value):
        if operator not in ("=", "!="):
            raise NotImplementedError(operator)
        return (operator == "=") == bool(value)

    def _search_sales_inbox_awaiting_reply(self, operator, value):
        uid = self.env.uid
        self.env["crm.email.presence"].flush_model(["email_id", "user_id", "folder_role"])
        self.flush_model(["thread_key", "message_id", "date", "crm_sender_user_id"])
        ids = SQL(
            """(SELECT p.email_id FROM crm_email_presence p JOIN crm_email e ON e.id = p.email_id
                WHERE p.user_id = %(uid)s AND p.folder_role = 'inbox'
                  AND NOT EXISTS (
                      SELECT 1 FROM crm_email r
                       WHERE r.thread_key = COALESCE(e.thread_key, e.message_id)
                         AND r.id != e.id AND r.date >= e.date
                         AND (r.crm_sender_user_id = %(uid)s OR EXISTS (
                              SELECT 1 FROM crm_email_presence rp
                               WHERE rp.email_id = r.id AND rp.user_id = %(uid)s
                                 AND rp.folder_role = 'sent'))))""",
            uid=uid,
        )
        positive = self._sales_inbox_positive(operator, value)
        return [("id", "in" if positive else "not in", ids)]

    def _search_sales_inbox_closing_this_month(self, operator, value):
        start = fields.Date.context_today(self).replace(day=1)
        deal = expression.AND(
            [
                [
                    ("date_deadline", ">=", start),
                    ("date_deadline", "<", start + relativedelta(months=1)),
                ],
                OPEN_DEAL,
            ]
        )
        positive = self._sales_inbox_positive(operator, value)
        return [("lead_id", "any" if positive else "not any", deal)]

    def _search_sales_inbox_opened_unanswered(self, operator, value):
        positive = self._sales_inbox_positive(operator, value)
        if "crm.email.tracking" not in self.env:
            return expression.FALSE_DOMAIN if positive else expression.TRUE_DOMAIN
        # As the user: the tracking's own rules (those of the email's body) apply.
        opened = (
            self.env["crm.email.tracking"]
            ._search([("state", "in", ("opened", "clicked"))])
            .subselect("email_id")
        )
        domain = [("crm_sender_user_id", "=", self.env.uid), ("id", "in", opened)]
        return domain if positive else ["!", *expression.normalize_domain(domain)]

    @api.model
    def get_sales_inbox_presets(self):
        """Examples offered when a user adds a column: ``[{name, domain}]``."""
        presets = [
            (self.env._("Closing this month"), "sales_inbox_closing_this_month"),
            (self.env._("Awaiting my reply"), "sales_inbox_awaiting_reply"),
        ]
        if "crm.email.tracking" in self.env:
            presets.append((self.env._("Opened but not answered"), "sales_inbox_opened_unanswered"))
        return [{"name": name, "domain": f"[('{field}', '=', True)]"} for name, field in presets]

    # ------------------------------------------------------------------ columns
    @api.model
    def _sales_inbox_builtin_domain(self, kind):
        if kind == "deals":
            return [("lead_id", "any", OPEN_DEAL)]
        if kind == "contacts":
            return [
                ("partner_ids", "!=", False),
                ("is_colleague_mail", "=", False),
                ("lead_id", "not any", OPEN_DEAL),
            ]
        if kind == "colleagues":
            return [("is_colleague_mail", "=", True)]
        raise ValueError(kind)

    @api.model
    def get_sales_inbox(self, columns=None, limit=40, refresh=False):
        """The current user's SalesInbox: ``[{key, label, count, cards, ...}]`` in display order.

        ``columns``: keys to load (``deals``, ``contacts``, ``not_in_crm``, ``colleagues`` or a
        custom column's id), hidden ones included; None loads every column not hidden.
        ``refresh`` reads "Not in CRM" from the server again instead of the cache.
        Everything runs as the current user: record rules decide cards and counts.
        """
        limit = max(1, min(int(limit or 40), MAX_CARDS))
        rows = self.env["crm.sales.inbox.column"]._crm_columns_of_user()
        if columns is None:
            rows = rows.filtered(lambda row: not row.hidden)
        else:
            by_key = {str(row.kind if row.kind != "custom" else row.id): row for row in rows}
            rows = [by_key[str(key)] for key in columns if str(key) in by_key]
        result, stored, to_count, live = [], self.browse(), [], None
        for row in rows:
            column = {
                "key": row.kind if row.kind != "custom" else row.id,
                "column_id": row.id,
                "kind": row.kind,
                "label": row.name,
                "hidden": row.hidden,
                "error": False,
            }
            if row.kind == "not_in_crm":
                if live is None:
                    live = self._sales_inbox_live(refresh)
                unknown, _colleagues, error = live
                cards = [self._sales_inbox_live_card(p) for p in unknown[:limit]]
                column.update(cards=cards, count=len(unknown), error=error)
            else:
                try:
                    domain = (
                        row._crm_domain()
                        if row.kind == "custom"
                        else self._sales_inbox_builtin_domain(row.kind)
                    )
                    emails = self.search_fetch(domain, CARD_FIELDS, limit=limit)
                except (ValueError, SyntaxError, NameError, TypeError, KeyError, UserError) as exc:
                    # A filter that no longer works (a field gone): the column says so.
                    column.update(cards=self.browse(), count=0, error=str(exc))
                    result.append(column)
                    continue
                column.update(cards=emails, count=len(emails))
                if len(emails) == limit:
                    to_count.append((column, domain))
                stored |= emails
            result.append(column)
        for column, domain in to_count:
            column["count"] = self.search_count(domain)
        cards = stored._sales_inbox_cards()
        for column in result:
            if column["kind"] != "not_in_crm":
                column["cards"] = [cards[email.id] for email in column["cards"]]
            if column["kind"] == "colleagues":
                if live is None:
                    live = self._sales_inbox_live(refresh)
                # Mail among colleagues only is never stored: the mailbox shows it live.
                extra = [self._sales_inbox_live_card(p, colleague=True) for p in live[1]]
                merged = sorted(
                    column["cards"] + extra, key=lambda c: c["date"] or "", reverse=True
                )
                column.update(cards=merged[:limit], count=column["count"] + len(extra))
        return result

    @api.model
    def _sales_inbox_live(self, refresh=False):
        """``(not in CRM, live colleague mail, error)`` from the user's own mailbox."""
        previews, error = self._sales_inbox_previews(refresh)
        unknown, colleagues = self._sales_inbox_classify(previews)
        return unknown, colleagues, error

    def _sales_inbox_cards(self):
        """``{email id: card}`` of these emails, read as the current user."""
        if not self:
            return {}
        texts = {}
        contents = self.env["crm.email.content"].search_fetch(
            [("email_id", "in", self.ids)], ["email_id", "part", "subject", "preview"]
        )
        for content in contents:
            value = content.subject if content.part == "subject" else content.preview
            texts[(content.email_id.id, content.part)] = value or ""
        mine = {}
        presences = self.env["crm.email.presence"].search_fetch(
            [("email_id", "in", self.ids), ("user_id", "=", self.env.uid)],
            ["email_id", "is_seen"],
        )
        for presence in presences:
            mine[presence.email_id.id] = mine.get(presence.email_id.id, False) or presence.is_seen
        deals = {}
        leads = self.lead_id._filtered_access("read")
        for lead in leads.read(
            ["name", "stage_id", "expected_revenue", "date_deadline", "company_currency"]
        ):
            deals[lead["id"]] = {
                "id": lead["id"],
                "name": lead["name"],
                "stage": lead["stage_id"] and lead["stage_id"][1],
                "expected_revenue": lead["expected_revenue"],
                "currency_id": lead["company_currency"] and lead["company_currency"][0],
                "date_deadline": fields.Date.to_string(lead["date_deadline"]),
            }
        cards = {}
        for email in self:
            sender = parse_address_list(email.email_from or "")
            cards[email.id] = {
                "id": f"email-{email.id}",
                "email_id": email.id,
                "subject": texts.get((email.id, "subject"), ""),
                "preview": texts.get((email.id, "body"), ""),
                "email_from": email.email_from or "",
                "sender_name": (sender[0][0] or sender[0][1]) if sender else email.email_from,
                "sender_email": sender[0][1] if sender else False,
                "date": fields.Datetime.to_string(email.date),
                "is_mine": email.id in mine,
                "unread": email.id in mine and not mine[email.id],
                "lead_id": email.lead_id.id or False,
                "deal": deals.get(email.lead_id.id, False),
            }
        return cards
