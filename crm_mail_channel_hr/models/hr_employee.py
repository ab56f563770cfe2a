from odoo import api, models


class HrEmployee(models.Model):
    _inherit = "hr.employee"

    @api.model_create_multi
    def create(self, vals_list):
        employees = super().create(vals_list)
        employees._crm_sync_email_manager()
        return employees

    def write(self, vals):
        res = super().write(vals)
        if {"parent_id", "user_id", "active"} & set(vals):
            self._crm_sync_email_manager()
            if "parent_id" not in vals:
                # Employees reporting to this one follow their manager's new user.
                self.env["hr.employee"].search(
                    [("parent_id", "in", self.ids)]
                )._crm_sync_email_manager()
        return res

    def _crm_sync_email_manager(self):
        """Email manager of the employee's user = user of the employee's manager."""
        # sudo: mirrors the HR manager into the email manager; run after HR's own write.
        for employee in self.sudo():
            user = employee.user_id
            if not user:
                continue
            manager_user = employee.parent_id.user_id
            if manager_user == user:
                manager_user = manager_user.browse()
            if user.email_manager_id != manager_user:
                user.email_manager_id = manager_user
