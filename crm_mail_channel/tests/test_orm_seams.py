"""One test per private-ORM seam (models/orm_seams.py): each fails naming the seam it guards.

When an Odoo update changes the behaviour a seam relies on, these say which one broke before
any sharing or sync test fails for a reason that is hard to trace.
"""

import inspect

from odoo.exceptions import AccessError
from odoo.models import BaseModel
from odoo.tests import new_test_user, tagged
from odoo.tests.common import TransactionCase

from ..models.orm_seams import IntArrayField, insert_created_rows


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestOrmSeams(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user = new_test_user(cls.env, login="cmc_seam_user", groups="base.group_user")
        cls.email = cls.env["crm.email"].create({"message_id": "<seam@test>", "fingerprint": "s"})

    def test_seam_1_int_array_field(self):
        field = self.env["crm.email"]._fields["reader_keys"]
        self.assertIsInstance(field, IntArrayField, "seam 1: IntArrayField")
        self.env.cr.execute(
            "SELECT data_type FROM information_schema.columns"
            " WHERE table_name = 'crm_email' AND column_name = 'reader_keys'"
        )
        self.assertEqual(
            self.env.cr.fetchone()[0], "ARRAY", "seam 1: IntArrayField no longer makes int4[]"
        )
        self.email.invalidate_recordset()
        self.assertIsInstance(
            self.email.reader_keys, tuple, "seam 1: IntArrayField values no longer read back"
        )

    def test_seam_2_condition_to_sql(self):
        parameters = list(inspect.signature(BaseModel._condition_to_sql).parameters)
        self.assertEqual(
            parameters,
            ["self", "alias", "fname", "operator", "value", "query"],
            "seam 2: BaseModel._condition_to_sql changed its signature",
        )
        query = self.env["crm.email"]._search([("reader_keys", "in", [self.user.id])])
        sql = query.select()
        self.assertIn("&&", self.env.cr.mogrify(*sql).decode(), "seam 2: reader_keys not compiled")

    def test_seam_3_check_access_in_sql(self):
        parameters = list(inspect.signature(BaseModel._check_access).parameters)
        self.assertEqual(
            parameters, ["self", "operation"], "seam 3: BaseModel._check_access changed"
        )
        with self.assertRaises(AccessError, msg="seam 3: _check_access result not honoured"):
            self.email.with_user(self.user).check_access("read")
        self.assertIsNone(self.email.check_access("read"), "seam 3: superuser refused")

    def test_seam_4_insert_created_rows(self):
        Content = self.env["crm.email.content"]
        self.assertFalse(self.email.content_ids)
        created = insert_created_rows(
            Content, ("email_id", "part", "subject"), [(self.email.id, "subject", "Inserted")]
        )
        self.assertEqual(len(created), 1)
        self.email.invalidate_recordset(["content_ids"])
        self.assertEqual(
            self.email.content_ids, created, "seam 4: inserted rows not seen through the ORM"
        )
        self.assertEqual(self.email.subject, "Inserted", "seam 4: dependent compute not updated")
