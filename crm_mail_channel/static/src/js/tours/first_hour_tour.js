/** @odoo-module **/

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

/**
 * A new sales user's first hour, end to end: the empty Emails list calls to connect a mailbox,
 * My Mailbox the first time (provider choice, the test Dovecot account), Sync now, the
 * customer's email in its conversation, Reply from the user's own address, Send. The steps
 * and selectors are those of mailbox_tour.js, email_tour.js and send_tour.js.
 * test_first_hour_tour.py stores the details in sessionStorage under "cmc_first_hour_tour".
 */
function details() {
    return JSON.parse(sessionStorage.getItem("cmc_first_hour_tour") || "{}");
}

const firstMessage = ".o_crm_email_thread .o_crm_email_thread_message:first-child";
const lastMessage = ".o_crm_email_thread .o_crm_email_thread_message:last-child";

function openEmails() {
    return [
        stepUtils.showAppsMenuItem(),
        {
            content: "Open CRM",
            trigger: ".o_app[data-menu-xmlid='crm.crm_menu_root']",
            run: "click",
        },
        {
            content: "Open the Emails menu",
            trigger: "[data-menu-xmlid='crm_mail_channel.crm_mail_channel_menu_emails']",
            run: "click",
        },
        {
            content: "Open the Emails list",
            trigger: "[data-menu-xmlid='crm_mail_channel.crm_mail_channel_menu_email_list']",
            run: "click",
        },
    ];
}

registry.category("web_tour.tours").add("crm_mail_channel_first_hour_tour", {
    url: "/odoo",
    steps: () => {
        const tour = details();
        return [
            ...openEmails(),
            {
                content: "The empty Emails list calls to connect a mailbox",
                trigger:
                    ".o_view_nocontent:contains(Connect your mailbox) a.o_crm_email_connect_mailbox",
                run: "click",
            },
            {
                content: "My Mailbox the first time: a new form with its introduction",
                trigger: ".o_form_view div[name=introduction]:contains(Connect your mailbox)",
            },
            {
                content: "Nothing else to fill in before the provider is chosen",
                trigger: ".o_form_view:not(:has(.o_field_widget[name=host]))",
            },
            {
                content: "Choose the provider",
                trigger: ".o_field_widget[name=preset] .o_radio_item:contains('Other (IMAP)') input",
                run: "click",
            },
            {
                content: "A local test server without encryption",
                trigger: ".o_field_widget[name=security] select",
                run: `select "none"`,
            },
            {
                content: "Server",
                trigger: ".o_field_widget[name=host] input",
                run: `edit ${tour.host}`,
            },
            {
                content: "Port",
                trigger: ".o_field_widget[name=port] input",
                run: `edit ${tour.port}`,
            },
            {
                content: "Login",
                trigger: ".o_field_widget[name=login] input",
                run: `edit ${tour.login}`,
            },
            {
                content: "Password",
                trigger: ".o_field_widget[name=password] input",
                run: `edit ${tour.password}`,
            },
            {
                content: "Connect",
                trigger: "button[name=action_test_connection]:contains(Connect)",
                run: "click",
            },
            {
                content: "The connection works",
                trigger: ".o_notification:contains(Connection works)",
            },
            {
                content: "The status badge says Connected",
                trigger: ".o_field_widget[name=state] .badge:contains(Connected)",
            },
            {
                content: "Sync now",
                trigger: "button[name=action_sync_now]",
                run: "click",
            },
            {
                content: "The sync is done",
                trigger: ".o_notification:contains(Sync done)",
            },
            {
                content: "Open the Emails menu",
                trigger: "[data-menu-xmlid='crm_mail_channel.crm_mail_channel_menu_emails']",
                run: "click",
            },
            {
                content: "Open the Emails list",
                trigger: "[data-menu-xmlid='crm_mail_channel.crm_mail_channel_menu_email_list']",
                run: "click",
            },
            {
                content: "The customer's email is listed, unread",
                trigger: `.o_crm_email_list .o_data_row.fw-bold:contains(${tour.subject})`,
            },
            {
                content: "Open it",
                trigger: `.o_data_row td[name=subject]:contains(${tour.subject})`,
                run: "click",
            },
            {
                content: "The conversation shows the customer's email",
                trigger: `${firstMessage}.o_current.o_expanded:contains(${tour.text})`,
            },
            {
                content: "Reply to it from the conversation",
                trigger: `${firstMessage}.o_expanded .o_crm_email_thread_reply`,
                run: "click",
            },
            {
                content: "The answer quotes the email",
                trigger: `.modal .o_field_html[name=body] blockquote:contains(${tour.text})`,
            },
            {
                content: "From is my mailbox address",
                trigger: ".modal .o_field_widget[name=email_from] input",
                run() {
                    if (!this.anchor.value.includes(tour.login)) {
                        throw new Error(`From: expected ${tour.login}, found "${this.anchor.value}"`);
                    }
                },
            },
            {
                content: "Write the answer",
                trigger: ".modal .o_field_html[name=body] .odoo-editor-editable",
                run: `editor ${tour.answer}`,
            },
            {
                content: "Send",
                trigger: ".modal .o_mail_send",
                run: "click",
            },
            {
                content: "The answer ends the conversation, as ours",
                trigger: `${lastMessage}.o_outgoing.o_expanded:contains(${tour.answer})`,
            },
            {
                content: "The conversation still starts with the customer's email",
                trigger: `${firstMessage}:contains(${tour.contact})`,
            },
        ];
    },
});
