/** @odoo-module **/

import { registry } from "@web/core/registry";
import { user } from "@web/core/user";
import { useService } from "@web/core/utils/hooks";
import { formView } from "@web/views/form/form_view";

/**
 * The My Mailbox form.
 *
 * Odoo saves a new record when the page is left or reloaded, even an untouched one: a mailbox
 * form left before anything was typed saves nothing here.
 *
 * A link to another screen (a button of type "action": the sharing preferences) opens it in a
 * dialog without saving a mailbox still being filled in, and keeps what was typed: when the
 * dialog closes, only the sharing summary is read again.
 */
export class CrmMailboxFormController extends formView.Controller {
    setup() {
        super.setup();
        this.action = useService("action");
    }

    async beforeUnload(ev) {
        const record = this.model.root;
        if (record.isNew && !(await record.isDirty())) {
            return;
        }
        return super.beforeUnload(ev);
    }

    async beforeVisibilityChange() {
        const record = this.model.root;
        if (record.isNew && !record.dirty) {
            return;
        }
        return super.beforeVisibilityChange(...arguments);
    }

    async beforeExecuteActionButton(clickParams) {
        const record = this.model.root;
        if (clickParams.type !== "action" || !record.isNew) {
            return super.beforeExecuteActionButton(...arguments);
        }
        const dirty = await record.isDirty();
        const actionId = /^\d+$/.test(clickParams.name) ? Number(clickParams.name) : clickParams.name;
        await this.action.doAction(actionId, {
            onClose: async () => {
                if (!dirty) {
                    // Nothing typed yet: start the form again, with the new summary.
                    return this.model.load();
                }
                const [me] = await this.orm.read("res.users", [user.userId], [
                    "email_visibility_summary",
                ]);
                return record.update({ sharing_summary: me.email_visibility_summary });
            },
        });
        return false;
    }
}

registry.category("views").add("crm_mailbox_form", {
    ...formView,
    Controller: CrmMailboxFormController,
});
