from datetime import timedelta, timezone

from odoo import api, fields, models, tools

from crm_mail_channel_core import best_time

EVIDENCE_DAYS = 365  # older evidence has faded to nothing that matters (half-life 90 days)
EVIDENCE_LIMIT = 2000  # rows per query
COMPANY_CONTACTS = 50  # colleagues of the same company whose evidence shapes its profile
CALL_MINUTES = 30


class ResPartner(models.Model):
    """Best time to email or call a contact, from evidence everyone's mail and calls left.

    Evidence is gathered in superuser mode (a reply counts as evidence for everyone) and only
    aggregated slots leave: weekday, hour, time zone, score and confidence, never a date,
    subject or event.
    """

    _inherit = "res.partner"

    crm_best_email_time = fields.Char(
        "Best time to email", compute="_compute_crm_best_time", compute_sudo=False
    )
    crm_best_call_time = fields.Char(
        "Best time to call", compute="_compute_crm_best_time", compute_sudo=False
    )

    @api.depends_context("uid")
    def _compute_crm_best_time(self):
        for partner in self:
            if not partner._origin:
                partner.crm_best_email_time = partner.crm_best_call_time = False
                continue
            # one gathering of evidence for both channels
            answers = partner._crm_best_time_answers(best_time.CHANNELS)
            partner.crm_best_email_time = partner._crm_best_time_label(answers["email"])
            partner.crm_best_call_time = partner._crm_best_time_label(answers["call"])

    def _crm_best_time_label(self, answer):
        slots = [slot.as_dict() for slot in answer.slots(2)]
        if not slots:
            return False
        days = self._crm_weekday_names()
        when = ", ".join("%s %02d:00" % (days[s["weekday"]], s["hour"]) for s in slots)
        return self.env._(
            "%(slots)s (%(tz)s), confidence %(confidence)s %%",
            slots=when,
            tz=slots[0]["tz"],
            confidence=round(slots[0]["confidence"] * 100),
        )

    def _crm_weekday_names(self):
        env = self.env
        return [
            env._("Mon"),
            env._("Tue"),
            env._("Wed"),
            env._("Thu"),
            env._("Fri"),
            env._("Sat"),
            env._("Sun"),
        ]

    # ------------------------------------------------------------------ public API
    def get_best_contact_slots(self, channel="email", limit=3):
        """Best weekly slots to reach this contact: ``[{weekday, hour, tz, score,
        confidence}]`` (weekday 0 = Monday, hour in the contact's time zone)."""
        self.ensure_one()
        if channel not in best_time.CHANNELS:
            raise ValueError(channel)
        limit = max(1, min(int(limit or 3), 24))
        return [slot.as_dict() for slot in self._crm_best_time_answer(channel).slots(limit)]

    def _crm_next_best_slot(self, channel="email", now=None, within_days=7):
        """Naive UTC start of this contact's next best hour within ``within_days``."""
        self.ensure_one()
        now = now or fields.Datetime.now()
        return self._crm_best_time_answer(channel).next_best_slot(now, timedelta(days=within_days))

    def _crm_best_time_answer(self, channel):
        return self._crm_best_time_answers((channel,))[channel]

    def _crm_best_time_answers(self, channels):
        """``{channel: best_time.Answer}`` for this contact."""
        self.ensure_one()
        origin = self._origin  # a form's onchange works on a new record wrapping the contact
        if not origin:  # a contact being created: nothing known yet
            zone = self.tz or self.env.company.partner_id.tz or self.env.user.tz or "UTC"
            return {
                channel: best_time.answer(
                    best_time.Profile(),
                    zone,
                    organisation=best_time.Profile(list(self._crm_organisation_profile(channel))),
                )
                for channel in channels
            }
        # Whoever may read the contact may see when to reach it; nothing else leaves.
        origin.check_access("read")
        # sudo: evidence from every user's mail and calls (a reply counts for everyone); read
        # access to the contact was checked above and only aggregated slots are returned.
        partner = origin.sudo()
        company = partner.commercial_partner_id
        colleagues = partner
        if company != partner or company.is_company:
            colleagues |= partner.search(
                [("commercial_partner_id", "=", company.id), ("id", "!=", partner.id)],
                limit=COMPANY_CONTACTS,
                order="id desc",
            )
        now = fields.Datetime.now()
        evidence = partner._crm_best_time_evidence(colleagues, now)
        fallback = company.tz or self.env.company.partner_id.tz or self.env.user.tz or "UTC"
        zones = {}
        for colleague in colleagues:
            items = evidence.get(colleague.id, [])
            zones[colleague.id] = colleague.tz or best_time.infer_timezone(
                [(e.when, e.utc_offset) for e in items if e.utc_offset is not None], fallback
            )
        answers = {}
        for channel in channels:
            profiles = {
                colleague.id: best_time.build_profile(
                    evidence.get(colleague.id, []), zones[colleague.id], now, channel
                )
                for colleague in colleagues
            }
            company_profile = best_time.Profile.total(profiles.values())
            organisation = best_time.Profile(list(self._crm_organisation_profile(channel)))
            answers[channel] = best_time.answer(
                profiles[partner.id], zones[partner.id], company_profile, organisation
            )
        return answers

    # ------------------------------------------------------------------ evidence
    def _crm_best_time_evidence(self, partners, now):
        """``{partner_id: [Evidence]}`` for ``partners`` (called in superuser mode)."""
        since = now - timedelta(days=EVIDENCE_DAYS)
        ids = partners.ids
        found = {pid: [] for pid in ids}
        Evidence = best_time.Evidence
        if "crm.email.tracking.event" in self.env:
            events = self.env["crm.email.tracking.event"].search_read(
                [
                    ("partner_id", "in", ids),
                    ("event_type", "in", ("open", "click")),
                    ("event_date", ">=", since),
                ],
                ["partner_id", "event_type", "event_date", "origin"],
                order="event_date desc",
                limit=EVIDENCE_LIMIT,
            )
            for event in events:
                found[event["partner_id"][0]].append(
                    Evidence(event["event_date"], event["event_type"], event["origin"])
                )
        # The contact's own mail (replies included: a reply event would count it twice).
        by_address = {p.email_normalized: p.id for p in partners if p.email_normalized}
        if by_address:
            emails = self.env["crm.email"].search_read(
                [
                    ("partner_ids", "in", ids),
                    ("date", ">=", since),
                    ("sent_from_crm", "=", False),
                ],
                ["email_from", "date", "crm_date_utc_offset", "in_reply_to"],
                order="date desc",
                limit=EVIDENCE_LIMIT,
            )
            for email in emails:
                pid = by_address.get(tools.email_normalize(email["email_from"] or ""))
                if pid and email["date"]:
                    offset = email["crm_date_utc_offset"]
                    found[pid].append(
                        Evidence(
                            email["date"],
                            "reply" if email["in_reply_to"] else "own_email",
                            utc_offset=int(offset) if offset else None,
                        )
                    )
        self._crm_call_evidence(partners, since, found)
        return found

    def _crm_call_evidence(self, partners, since, found):
        """Finished call activities (when marked done) and past calendar events."""
        ids = partners.ids
        leads = (
            self.env["crm.lead"]
            .with_context(active_test=False)
            .search_read([("partner_id", "in", ids)], ["partner_id"], limit=EVIDENCE_LIMIT)
        )
        lead_partner = {lead["id"]: lead["partner_id"][0] for lead in leads}
        domain = [
            ("mail_activity_type_id.category", "=", "phonecall"),
            ("date", ">=", since),
            "|",
            "&",
            ("model", "=", "res.partner"),
            ("res_id", "in", ids),
            "&",
            ("model", "=", "crm.lead"),
            ("res_id", "in", list(lead_partner)),
        ]
        for message in self.env["mail.message"].search_read(
            domain, ["model", "res_id", "date"], limit=EVIDENCE_LIMIT, order="date desc"
        ):
            pid = message["res_id"] if message["model"] == "res.partner" else None
            pid = pid or lead_partner.get(message["res_id"])
            if pid in found:
                found[pid].append(best_time.Evidence(message["date"], "call_done"))
        events = self.env["calendar.event"].search_read(
            [
                ("partner_ids", "in", ids),
                ("start", ">=", since),
                ("start", "<=", fields.Datetime.now()),
                ("allday", "=", False),
            ],
            ["partner_ids", "start"],
            limit=EVIDENCE_LIMIT,
            order="start desc",
        )
        for event in events:
            for pid in set(event["partner_ids"]) & set(ids):
                found[pid].append(best_time.Evidence(event["start"], "call_event"))

    @api.model
    def _crm_organisation_profile(self, channel):
        """The organisation's profile: wall-clock hours of customers' own mail (their Date
        headers give their local time), recomputed at most once a day per worker."""
        return self._crm_organisation_profile_cached(channel, fields.Date.today().isoformat())

    @api.model
    @tools.ormcache("channel", "day")
    def _crm_organisation_profile_cached(self, channel, day):
        now = fields.Datetime.now()
        # sudo: timestamps and header offsets of synced customer mail, summed into one
        # organisation-wide profile; nothing per email or per person leaves this method.
        emails_sudo = self.env["crm.email"].sudo()
        emails = emails_sudo.search_read(
            [
                ("date", ">=", now - timedelta(days=EVIDENCE_DAYS)),
                ("crm_date_utc_offset", "!=", False),
                ("sent_from_crm", "=", False),
            ],
            ["date", "crm_date_utc_offset"],
            order="date desc",
            limit=5 * EVIDENCE_LIMIT,
        )
        evidence = [
            best_time.Evidence(e["date"], "own_email", utc_offset=int(e["crm_date_utc_offset"]))
            for e in emails
        ]
        return tuple(best_time.build_profile(evidence, "UTC", now, channel).weights)

    # ------------------------------------------------------------------ call at best time
    def action_crm_call_at_best_time(self):
        """Schedule a call activity with a calendar event at the next best call slot."""
        self.ensure_one()
        return self._crm_schedule_call(self, self)

    @api.model
    def _crm_schedule_call(self, record, partner):
        """Call activity + calendar event on ``record`` (contact or deal) for ``partner``."""
        if not partner:
            return False
        record.check_access("write")
        start = partner._crm_next_best_slot("call")
        stop = start + timedelta(minutes=CALL_MINUTES)
        call_type = self.env.ref("mail.mail_activity_data_call", raise_if_not_found=False)
        name = self.env._("Call %(name)s", name=partner.display_name)
        # The customer is an attendee (evidence for later answers) but gets no invitation.
        event = (
            self.env["calendar.event"]
            .with_context(no_mail_to_attendees=True)
            .create(
                {
                    "name": name,
                    "start": start,
                    "stop": stop,
                    "user_id": self.env.uid,
                    "partner_ids": [(6, 0, (partner | self.env.user.partner_id).ids)],
                    "res_model_id": self.env["ir.model"]._get_id(record._name),
                    "res_id": record.id,
                }
            )
        )
        user_tz = self.env.user.tz or partner.tz or "UTC"
        zone = best_time.get_zone(user_tz) or best_time.get_zone("UTC")
        deadline = start.replace(tzinfo=timezone.utc).astimezone(zone).date()
        record.activity_schedule(
            activity_type_id=call_type.id if call_type else False,
            summary=name,
            date_deadline=deadline,
            user_id=self.env.uid,
            calendar_event_id=event.id,
        )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": self.env._(
                    "Call scheduled on %(when)s.",
                    when=fields.Datetime.context_timestamp(self, start).strftime("%Y-%m-%d %H:%M"),
                ),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
