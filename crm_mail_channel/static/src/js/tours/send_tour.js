/** @odoo-module **/

import { registry } from "@web/core/registry";

/**
 * Sending as oneself (test_send_tour.py sets up the records and names them in sessionStorage
 * under "cmc_send_tour"):
 * - from a contact, the composer shows the user's mailbox address as From, no subject;
 * - Reply on an email quotes it;
 * - "Pull recent threads" on a company's deal lists the mail of the company's people.
 */
const tours = registry.category("web_tour.tours");

function names() {
    return JSON.parse(sessionStorage.getItem("cmc_send_tour") || "{}");
}

function checkValue(selector, expected, label) {
    const input = document.querySelector(selector);
    const value = input ? input.value : "";
    if (!value.includes(expected)) {
        throw new Error(`${label}: expected "${expected}", found "${value}"`);
    }
}

tours.add("crm_mail_channel_send_tour", {
    steps: () => {
        const tour = names();
        return [
            {
                content: "The contact is open",
                trigger: `.o_breadcrumb:contains(${tour.contact})`,
            },
            {
                content: "Send an email to the contact",
                trigger: ".o_form_view button[name=action_crm_send_email]",
                run: "click",
            },
            {
                content: "The composer is addressed to the contact",
                trigger: `.modal .o_field_widget[name=partner_ids]:contains(${tour.contact})`,
            },
            {
                content: "From is my mailbox address",
                trigger: ".modal .o_field_widget[name=email_from] input",
                run() {
                    checkValue(
                        ".modal .o_field_widget[name=email_from] input",
                        tour.address,
                        "From"
                    );
                },
            },
            {
                content: "Cc and Bcc are offered, each with its label",
                trigger:
                    ".modal .o_field_widget[name=crm_cc_partner_ids], .modal label:contains(Bcc)",
            },
            {
                content: "The subject is not the contact's name",
                trigger: ".modal .o_field_widget[name=subject] input",
                run() {
                    const value = document.querySelector(
                        ".modal .o_field_widget[name=subject] input"
                    ).value;
                    if (value) {
                        throw new Error(`Subject prefilled with "${value}"`);
                    }
                },
            },
            {
                content: "Write the subject",
                trigger: ".modal .o_field_widget[name=subject] input",
                run: `edit ${tour.subject}`,
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
                content: "The composer closes",
                trigger: "body:not(:has(.modal .o_mail_send))",
            },
        ];
    },
});

tours.add("crm_mail_channel_reply_tour", {
    steps: () => {
        const tour = names();
        return [
            {
                content: "The email is open",
                trigger: `.o_breadcrumb:contains(${tour.reply_subject})`,
            },
            {
                content: "Reply",
                trigger: ".o_form_statusbar button[name=action_reply]",
                run: "click",
            },
            {
                content: "The answer quotes the email",
                trigger: `.modal .o_field_html[name=body] blockquote:contains(${tour.reply_text})`,
            },
            {
                content: "It says who wrote it",
                trigger: `.modal .o_field_html[name=body]:contains(wrote:)`,
            },
            {
                content: "From is my mailbox address",
                trigger: ".modal .o_field_widget[name=email_from] input",
                run() {
                    checkValue(
                        ".modal .o_field_widget[name=email_from] input",
                        tour.address,
                        "From"
                    );
                },
            },
            {
                content: "Discard",
                trigger: ".modal .modal-footer button:contains(Discard)",
                run: "click",
            },
            {
                content: "The composer closes",
                trigger: "body:not(:has(.modal .o_mail_send))",
            },
        ];
    },
});

tours.add("crm_mail_channel_pull_tour", {
    steps: () => {
        const tour = names();
        return [
            {
                content: "The company's deal is open",
                trigger: `.o_breadcrumb:contains(${tour.deal})`,
            },
            {
                content: "Pull recent threads",
                trigger: ".o_form_statusbar button[name=action_crm_pull_threads]",
                run: "click",
            },
            {
                content: "Joe's conversation is found",
                trigger: `.modal .o_data_row:contains(${tour.joe_subject})`,
            },
            {
                content: "Ann's conversation is found too",
                trigger: `.modal .o_data_row:contains(${tour.ann_subject})`,
            },
            {
                content: "The dialog speaks of a deal, and offers no new line",
                trigger:
                    ".modal:contains(Deal):not(:contains(Lead)):not(:has(.o_field_x2many_list_row_add))",
            },
            {
                content: "Link them to the deal",
                trigger: ".modal button[name=action_apply]",
                run: "click",
            },
            {
                content: "The dialog closes",
                trigger: "body:not(:has(.modal button[name=action_apply]))",
            },
        ];
    },
});
