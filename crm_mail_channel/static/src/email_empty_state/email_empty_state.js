/** @odoo-module **/

import { Component, markup, onWillStart, onWillUpdateProps, useState } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";

/**
 * The guided empty state of an Emails page on a form (contact, company, deal): what will
 * appear there and why it may be empty, or a call to connect one's mailbox. Shown only when
 * the record's email count is 0; the text comes from the server, per user.
 */
export class CrmEmailEmptyState extends Component {
    static template = "crm_mail_channel.EmailEmptyState";
    static props = {
        ...standardWidgetProps,
        kind: { type: String },
        countField: { type: String },
    };

    setup() {
        this.orm = useService("orm");
        this.state = useState({ help: false });
        onWillStart(() => this.fetchHelp(this.props));
        onWillUpdateProps((nextProps) => this.fetchHelp(nextProps));
    }

    get isEmpty() {
        return Boolean(this.props.record.resId) && !this.props.record.data[this.props.countField];
    }

    async fetchHelp(props) {
        const empty = props.record.resId && !props.record.data[props.countField];
        if (!empty || this.state.help) {
            return;
        }
        const help = await this.orm.call("crm.email", "crm_email_empty_help", [props.kind]);
        this.state.help = markup(help);
    }
}

export const crmEmailEmptyState = {
    component: CrmEmailEmptyState,
    extractProps: ({ options }) => ({
        kind: options.kind || "emails",
        countField: options.count_field || "crm_email_count",
    }),
};

registry.category("view_widgets").add("crm_email_empty_state", crmEmailEmptyState);
