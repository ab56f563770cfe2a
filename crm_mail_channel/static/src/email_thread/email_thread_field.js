/** @odoo-module **/

import { Component, useEffect, useState } from "@odoo/owl";
import { formatDateTime } from "@web/core/l10n/dates";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardFieldProps } from "@web/views/fields/standard_field_props";

/**
 * The conversation of an email: every message of its thread the user may read (the
 * server decides which, through the record rules), oldest first. The latest message and
 * the one opened are expanded; the others collapse to one line.
 *
 * Opening an email marks it read in the viewer's own mailbox only, through the same server
 * method as "Mark as read" (which pushes \Seen to the mail server). Mail the viewer does not
 * hold in a mailbox of their own (a manager or colleague reading shared mail) is never
 * "unread" for them (is_unread), so nothing is called and nothing of its owner changes.
 */
export class CrmEmailThreadField extends Component {
    static template = "crm_mail_channel.EmailThreadField";
    static props = { ...standardFieldProps };

    setup() {
        this.action = useService("action");
        this.orm = useService("orm");
        this.notification = useService("notification");
        // expanded: ids opened or closed by the user; read: ids marked read here.
        this.state = useState({ expanded: {}, read: {} });
        useEffect(
            (resId) => {
                this.state.expanded = {};
                this.markOpened(resId);
            },
            () => [this.props.record.resId]
        );
    }

    get list() {
        return this.props.record.data[this.props.name];
    }

    /** Oldest first (the server sends the latest ones when a thread is very long). */
    get messages() {
        return [...this.list.records].sort(
            (a, b) => (a.data.date?.ts || 0) - (b.data.date?.ts || 0) || a.resId - b.resId
        );
    }

    get hiddenCount() {
        return Math.max(0, this.list.count - this.list.records.length);
    }

    get latestId() {
        const messages = this.messages;
        return messages.length ? messages[messages.length - 1].resId : false;
    }

    isExpanded(message) {
        const choice = this.state.expanded[message.resId];
        if (choice !== undefined) {
            return choice;
        }
        return message.resId === this.latestId || message.resId === this.props.record.resId;
    }

    isUnread(message) {
        return message.data.is_unread && !this.state.read[message.resId];
    }

    formatDate(message) {
        return message.data.date ? formatDateTime(message.data.date, { showSeconds: false }) : "";
    }

    attachments(message) {
        return message.data.attachment_ids?.records || [];
    }

    attachmentUrl(attachment) {
        return `/web/content/${attachment.resId}?download=true`;
    }

    async toggle(message) {
        const expand = !this.isExpanded(message);
        this.state.expanded[message.resId] = expand;
        if (expand && this.isUnread(message)) {
            await this.markRead(message.resId);
        }
    }

    onHeaderKeydown(ev, message) {
        if (ev.key === "Enter" || ev.key === " ") {
            ev.preventDefault();
            this.toggle(message);
        }
    }

    async markRead(resId) {
        try {
            await this.orm.call("crm.email", "action_mark_read", [[resId]]);
            this.state.read[resId] = true;
            return true;
        } catch {
            this.notification.add(
                _t("This email could not be marked as read. Try again from its Mark as read button."),
                { type: "warning" }
            );
            return false;
        }
    }

    async markOpened(resId) {
        const record = this.props.record;
        if (!resId || !record.data.is_unread) {
            return;
        }
        if (await this.markRead(resId)) {
            // The header's Mark as read / Mark as unread follow the new state.
            await record.load();
        }
    }

    async reply(message) {
        await this.action.doActionButton({
            type: "object",
            name: "action_reply",
            resModel: "crm.email",
            resId: message.resId,
            resIds: [message.resId],
            context: this.props.record.context,
            // The reply is recorded in this thread: show it when the composer closes.
            onClose: () => this.props.record.load(),
        });
    }
}

export const crmEmailThreadField = {
    component: CrmEmailThreadField,
    displayName: _t("Conversation"),
    supportedTypes: ["many2many", "one2many"],
    useSubView: false,
};

registry.category("fields").add("crm_email_thread", crmEmailThreadField);
