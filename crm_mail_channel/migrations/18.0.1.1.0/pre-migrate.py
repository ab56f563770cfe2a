"""Email sharing (issue 3): record rules on the stored reader keys.

The sharing rules are ``noupdate`` data: drop them so the update recreates them from
security/crm_mail_channel_rules.xml. Create and fill ``crm_email.reader_keys`` in one
set-based statement, so the update does not recompute it email by email.
"""

RULES = [
    "rule_crm_email_visibility",
    "rule_crm_email_record_no_deal",
    "rule_crm_email_content_visibility",
    "rule_crm_email_content_record_no_deal",
]


def migrate(cr, version):
    cr.execute(
        """DELETE FROM ir_rule WHERE id IN (
               SELECT res_id FROM ir_model_data
                WHERE module = 'crm_mail_channel' AND model = 'ir.rule' AND name = ANY(%s))""",
        [RULES],
    )
    cr.execute(
        """DELETE FROM ir_model_data
            WHERE module = 'crm_mail_channel' AND model = 'ir.rule' AND name = ANY(%s)""",
        [RULES],
    )
    cr.execute("ALTER TABLE crm_email ADD COLUMN IF NOT EXISTS reader_keys int4[]")
    cr.execute("""
        UPDATE crm_email e SET reader_keys = k.keys
          FROM (
            SELECT e2.id, ARRAY(
                SELECT DISTINCT key FROM (
                    SELECT p.user_id AS key FROM crm_email_presence p
                     WHERE p.email_id = e2.id AND p.user_id IS NOT NULL
                    UNION ALL
                    SELECT -p.user_id FROM crm_email_presence p
                     WHERE p.email_id = e2.id AND p.user_id IS NOT NULL AND p.is_shared
                    UNION ALL
                    SELECT 0 WHERE e2.sent_from_crm
                ) t ORDER BY key
            ) AS keys
              FROM crm_email e2
          ) k
         WHERE k.id = e.id
    """)
