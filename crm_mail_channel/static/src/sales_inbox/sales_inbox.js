/** @odoo-module **/

import { Component, onWillStart, useRef, useState } from "@odoo/owl";
import { Dialog } from "@web/core/dialog/dialog";
import { DomainSelector } from "@web/core/domain_selector/domain_selector";
import { useHotkey } from "@web/core/hotkeys/hotkey_hook";
import { _t } from "@web/core/l10n/translation";
import { deserializeDate, deserializeDateTime, formatDate } from "@web/core/l10n/dates";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { formatMonetary } from "@web/views/fields/formatters";

const COLUMN_MODEL = "crm.sales.inbox.column";

/**
 * "Add a column" dialog: a name and a filter on emails (or one of the examples).
 */
export class SalesInboxColumnDialog extends Component {
    static template = "crm_mail_channel.SalesInboxColumnDialog";
    static components = { Dialog, DomainSelector };
    static props = { close: Function, presets: Array, onSave: Function };

    setup() {
        this.state = useState({ name: "", domain: "[]" });
    }

    usePreset(preset) {
        this.state.name = preset.name;
        this.state.domain = preset.domain;
    }

    async save() {
        if (!this.state.name.trim()) {
            return;
        }
        await this.props.onSave({ name: this.state.name.trim(), domain: this.state.domain });
        this.props.close();
    }
}

/**
 * SalesInbox: the mail of the user's day in columns by sales category (server:
 * crm.email.get_sales_inbox). j / k move to the next / previous card, r replies, o opens.
 */
export class SalesInbox extends Component {
    static template = "crm_mail_channel.SalesInbox";
    static props = ["*"];

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        this.dialog = useService("dialog");
        this.notification = useService("notification");
        this.root = useRef("root");
        this.state = useState({
            columns: [],
            allColumns: [],
            loading: true,
            focusedId: false,
            busy: false,
            showColumns: false,
        });
        onWillStart(() => this.load());
        useHotkey("j", () => this.moveFocus(1));
        useHotkey("k", () => this.moveFocus(-1));
        useHotkey("r", () => this.focusedCard && this.reply(this.focusedCard));
        useHotkey("o", () => this.focusedCard?.email_id && this.open(this.focusedCard));
    }

    // ---------------------------------------------------------------- data
    async load(refresh = false) {
        this.state.loading = true;
        const [columns, allColumns] = await Promise.all([
            this.orm.call("crm.email", "get_sales_inbox", [], { refresh }),
            this.orm.searchRead(COLUMN_MODEL, [], ["name", "kind", "sequence", "hidden"]),
        ]);
        this.state.columns = columns;
        this.state.allColumns = allColumns;
        this.state.loading = false;
        if (!this.cards.some((card) => card.id === this.state.focusedId)) {
            this.state.focusedId = this.cards[0]?.id || false;
        }
    }

    get cards() {
        return this.state.columns.flatMap((column) => column.cards);
    }

    get focusedCard() {
        return this.cards.find((card) => card.id === this.state.focusedId);
    }

    // ---------------------------------------------------------------- display
    age(card) {
        if (!card.date) {
            return "";
        }
        return deserializeDateTime(card.date).toRelative() || "";
    }

    revenue(deal) {
        return formatMonetary(deal.expected_revenue, { currencyId: deal.currency_id });
    }

    closing(deal) {
        return deal.date_deadline ? formatDate(deserializeDate(deal.date_deadline)) : "";
    }

    // ---------------------------------------------------------------- keyboard
    focus(card) {
        this.state.focusedId = card.id;
    }

    moveFocus(step) {
        const cards = this.cards;
        if (!cards.length) {
            return;
        }
        const index = cards.findIndex((card) => card.id === this.state.focusedId);
        const next = Math.min(Math.max(index + step, 0), cards.length - 1);
        this.state.focusedId = cards[index < 0 ? 0 : next].id;
        const element = this.root.el?.querySelector(
            `.o_crm_sales_inbox_card[data-card-id="${this.state.focusedId}"]`
        );
        element?.scrollIntoView?.({ block: "nearest" });
    }

    // ---------------------------------------------------------------- card actions
    async runAction(action) {
        if (action && typeof action === "object") {
            await this.action.doAction(action, { onClose: () => this.load() });
        } else {
            await this.load();
        }
    }

    open(card) {
        return this.action.doAction({
            type: "ir.actions.act_window",
            res_model: "crm.email",
            res_id: card.email_id,
            views: [[false, "form"]],
            target: "current",
        });
    }

    async reply(card) {
        if (!card.email_id) {
            return;
        }
        this.focus(card);
        const action = await this.orm.call("crm.email", "action_reply", [[card.email_id]]);
        await this.runAction(action);
    }

    async relink(card) {
        this.focus(card);
        const action = await this.orm.call("crm.email", "action_open_relink_wizard", [
            [card.email_id],
        ]);
        await this.runAction(action);
    }

    async toggleRead(card) {
        this.focus(card);
        const method = card.unread ? "action_mark_read" : "action_mark_unread";
        await this.orm.call("crm.email", method, [[card.email_id]]);
        await this.load();
    }

    async createContact(card, createLead) {
        if (this.state.busy) {
            return;
        }
        this.state.busy = true;
        try {
            const result = await this.orm.call("crm.email", "sales_inbox_create_contact", [
                card.sender_email,
                card.sender_name,
                card.subject,
                createLead,
            ]);
            this.notification.add(
                _t("%(count)s past emails of %(sender)s brought into CRM.", {
                    count: result.imported,
                    sender: card.sender_email,
                }),
                { type: "success" }
            );
            await this.load();
            if (createLead) {
                await this.action.doAction(result.action);
            }
        } finally {
            this.state.busy = false;
        }
    }

    // ---------------------------------------------------------------- columns
    async saveOrder(columns) {
        await Promise.all(
            columns.map((column, index) =>
                this.orm.write(COLUMN_MODEL, [column.id], { sequence: (index + 1) * 10 })
            )
        );
    }

    async moveColumn(column, step) {
        const ordered = [...this.state.allColumns];
        const index = ordered.findIndex((c) => c.id === column.column_id);
        // The next visible neighbour, skipping hidden columns.
        let target = index + step;
        while (ordered[target] && ordered[target].hidden) {
            target += step;
        }
        if (index < 0 || !ordered[target]) {
            return;
        }
        const [moved] = ordered.splice(index, 1);
        ordered.splice(target, 0, moved);
        await this.saveOrder(ordered);
        await this.load();
    }

    async setHidden(columnId, hidden) {
        await this.orm.write(COLUMN_MODEL, [columnId], { hidden });
        await this.load();
    }

    async removeColumn(columnId) {
        await this.orm.unlink(COLUMN_MODEL, [columnId]);
        await this.load();
    }

    async addColumn() {
        this.state.showColumns = false;
        const presets = await this.orm.call("crm.email", "get_sales_inbox_presets", []);
        this.dialog.add(SalesInboxColumnDialog, {
            presets,
            onSave: async ({ name, domain }) => {
                const last = this.state.allColumns.at(-1);
                await this.orm.create(COLUMN_MODEL, [
                    { name, domain, sequence: (last ? last.sequence : 0) + 10 },
                ]);
                await this.load();
            },
        });
    }
}

registry.category("actions").add("crm_mail_channel.sales_inbox", SalesInbox);
