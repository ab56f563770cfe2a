from odoo import api, fields, models
from odoo.tools import SQL

from crm_mail_channel_core import sharing_domains


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    # ------------------------------------------------------------------ deal linking
    crm_link_single_open_deal = fields.Boolean(
        "Link to the contact's only open deal",
        config_parameter="crm_mail_channel.link_single_open_deal",
        help="Synced emails of a contact who has exactly one open deal are linked to that "
        "deal. When the contact has several open deals, the email waits under Needs a deal.",
    )

    # ------------------------------------------------------ email authentication
    crm_mail_spf_mechanism = fields.Char(
        "SPF mechanism",
        config_parameter="crm_mail_channel.spf_mechanism",
        help="What the SPF record of your domains must contain, e.g. "
        "include:_spf.yourprovider.com. Leave empty to use the IP addresses of the outgoing "
        "mail servers.",
    )
    crm_mail_dns_nameservers = fields.Char(
        "DNS servers for checks",
        config_parameter="crm_mail_channel.dns_nameservers",
        help="The DNS servers that domain checks ask, separated by commas (an address, or "
        "address:port). Leave empty to use this server's own.",
    )
    # BCC dropbox
    crm_dropbox_trusted_authserv_ids = fields.Char(
        "Trusted receiving servers (BCC dropbox)",
        config_parameter="crm_mail_channel.dropbox_trusted_authserv_ids",
        help="Authserv-ids (the first word of their Authentication-Results header) of the "
        "servers that receive your catch-all mail and remove forged copies of their own header, "
        "separated by commas. Their SPF or DKIM pass proves who sent mail to a BCC dropbox; "
        "without them, only a valid DKIM signature does.",
    )

    # ------------------------------------------------------------------ email sharing
    crm_email_visibility_level = fields.Selection(
        [
            ("full", "Everything"),
            ("subject", "Subject and participants"),
            ("metadata", "Participants and date only"),
        ],
        "What colleagues see of shared emails",
        default="full",
        config_parameter="crm_mail_channel.email_visibility_level",
        help="Applies to the emails users share. Their owner always sees everything.",
    )
    crm_email_excluded_domains = fields.Char(
        "Excluded domains",
        config_parameter="crm_mail_channel.excluded_domains",
        help="Emails whose outside participants all belong to these domains stay private, "
        "even for users who share their emails. Separate domains with commas.",
    )
    crm_email_excluded_apply_synced = fields.Boolean(
        "Also apply a changed list to emails already synced",
        help="Off: a changed list applies to emails synced from now on.",
    )
    crm_email_excluded_domain_count = fields.Integer(
        "Number of excluded domains", compute="_compute_crm_email_sharing_stats"
    )
    crm_email_users_private = fields.Integer(
        "Users in private mode", compute="_compute_crm_email_sharing_stats"
    )
    crm_email_users_public = fields.Integer(
        "Users in public mode", compute="_compute_crm_email_sharing_stats"
    )
    crm_email_users_custom = fields.Integer(
        "Users in custom mode", compute="_compute_crm_email_sharing_stats"
    )
    crm_email_count_everyone = fields.Integer(
        "Emails shared with everyone", compute="_compute_crm_email_sharing_stats"
    )
    crm_email_count_chosen = fields.Integer(
        "Emails shared with chosen people", compute="_compute_crm_email_sharing_stats"
    )
    crm_email_count_sent_from_crm = fields.Integer(
        "Emails sent from CRM", compute="_compute_crm_email_sharing_stats"
    )
    crm_email_count_private = fields.Integer(
        "Private emails", compute="_compute_crm_email_sharing_stats"
    )

    @api.model
    def _crm_email_org_excluded_domains(self):
        text = (
            self.env["ir.config_parameter"]
            .sudo()  # sudo: one configuration value, the same for everyone.
            .get_param("crm_mail_channel.excluded_domains", "")
        )
        return sharing_domains.parse_domain_list(text)

    @api.depends("crm_email_excluded_domains")
    def _compute_crm_email_sharing_stats(self):
        cr = self.env.cr
        self.env["crm.email.presence"].flush_model()
        self.env["res.users"].flush_model()
        cr.execute(
            SQL(
                """SELECT email_sharing_mode, count(*) FROM res_users
                WHERE active AND share IS NOT TRUE GROUP BY email_sharing_mode"""
            )
        )
        modes = dict(cr.fetchall())
        cr.execute(
            SQL("""
            SELECT
              count(DISTINCT p.email_id) FILTER (WHERE p.is_shared AND u.email_audience_everyone),
              count(DISTINCT p.email_id) FILTER (
                  WHERE p.is_shared AND u.email_audience_everyone IS NOT TRUE)
              FROM crm_email_presence p JOIN res_users u ON u.id = p.user_id
        """)
        )
        everyone, chosen = cr.fetchone()
        cr.execute(
            SQL("""
            SELECT count(*) FILTER (WHERE e.sent_from_crm),
                   count(*) FILTER (WHERE e.sent_from_crm IS NOT TRUE AND NOT EXISTS (
                       SELECT 1 FROM crm_email_presence p WHERE p.email_id = e.id AND p.is_shared))
              FROM crm_email e
        """)
        )
        sent, private = cr.fetchone()
        for settings in self:
            settings.crm_email_excluded_domain_count = len(
                sharing_domains.parse_domain_list(settings.crm_email_excluded_domains)
            )
            settings.crm_email_users_private = modes.get("private", 0)
            settings.crm_email_users_public = modes.get("public", 0)
            settings.crm_email_users_custom = modes.get("custom", 0)
            settings.crm_email_count_everyone = everyone
            settings.crm_email_count_chosen = chosen
            settings.crm_email_count_sent_from_crm = sent
            settings.crm_email_count_private = private

    def set_values(self):
        before = self._crm_email_org_excluded_domains()
        res = super().set_values()
        after = self._crm_email_org_excluded_domains()
        if before != after and any(s.crm_email_excluded_apply_synced for s in self):
            self.env["crm.email.presence"]._crm_recompute_exclusions()
        return res

    @api.model
    def _crm_mail_prefill_excluded_domains(self):
        """At install: the organisation's list starts with the companies' own domains."""
        params = self.env["ir.config_parameter"].sudo()  # sudo: run at install.
        if params.get_param("crm_mail_channel.excluded_domains"):
            return
        # The same own domains that make mail "between colleagues" (public providers left out).
        domains = self.env["res.company"]._crm_own_domains()
        if domains:
            params.set_param("crm_mail_channel.excluded_domains", ", ".join(domains))

    def action_crm_email_sharing_users(self):
        return self.env["ir.actions.act_window"]._for_xml_id(
            "crm_mail_channel.res_users_email_sharing_action"
        )
