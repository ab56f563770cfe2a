/** @odoo-module **/

import { registry } from "@web/core/registry";

/**
 * A sales user opens a deal, sees its emails, moves a misfiled one to the right deal and
 * sends an email from that deal through Odoo's composer.
 * The test starts the tour on the first deal's form and names the records in sessionStorage
 * under "cmc_deal_tour".
 */
function names() {
    return JSON.parse(sessionStorage.getItem("cmc_deal_tour") || "{}");
}

registry.category("web_tour.tours").add("crm_mail_channel_deal_tour", {
    steps: () => {
        const tour = names();
        return [
            {
                content: "The deal is open",
                trigger: `.o_breadcrumb:contains(${tour.deal})`,
            },
            {
                content: "Open its emails",
                trigger: "button[name=action_view_crm_emails]",
                run: "click",
            },
            {
                content: "The deal's own list does not repeat the deal on every row",
                trigger: ".o_list_view:not(:has(th[data-name=lead_id])) .o_data_row",
            },
            {
                content: "The deal mark says what it does",
                trigger: `.o_data_row:contains(${tour.subject}) button.o_crm_email_deal_mark:contains(Change deal)`,
            },
            {
                content: "The misfiled email is listed, with its deal mark",
                trigger: `.o_data_row:contains(${tour.subject}) button.o_crm_email_deal_mark`,
                run: "click",
            },
            {
                content: "Choose the right deal",
                trigger: ".modal .o_field_widget[name=lead_id] input",
                run: `edit ${tour.target}`,
            },
            {
                content: "Pick it",
                trigger: `.o-autocomplete--dropdown-item:contains(${tour.target})`,
                run: "click",
            },
            {
                content: "Move the email",
                trigger: ".modal button[name=action_apply]",
                run: "click",
            },
            {
                content: "The right deal opens",
                trigger: `.o_breadcrumb:contains(${tour.target})`,
            },
            {
                content: "Its Emails page lists the moved email",
                trigger: "a[name=crm_emails], .o_notebook a:contains(Emails)",
                run: "click",
            },
            {
                content: "The moved email is there",
                trigger: `.o_notebook .o_data_row:contains(${tour.subject})`,
            },
            {
                content: "Send an email from the deal",
                trigger: ".o_form_statusbar button[name=action_crm_send_email]",
                run: "click",
            },
            {
                content: "The composer is addressed to the contact",
                trigger: `.modal .o_field_widget[name=partner_ids]:contains(${tour.contact})`,
            },
            {
                content: "Write the message",
                trigger: ".modal .o_field_html[name=body] .odoo-editor-editable",
                run: `editor ${tour.body}`,
            },
            {
                content: "Send",
                trigger: ".modal .o_mail_send",
                run: "click",
            },
            {
                content: "The mail is in the deal's chatter",
                trigger: `.o-mail-Message-body:contains(${tour.body})`,
            },
        ];
    },
});
