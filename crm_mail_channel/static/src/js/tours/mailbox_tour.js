/** @odoo-module **/

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

/**
 * My Mailbox, first time and connected. The test stores the server details in
 * sessionStorage under "cmc_mailbox_tour".
 */
function serverDetails() {
    return JSON.parse(sessionStorage.getItem("cmc_mailbox_tour") || "{}");
}

function openMyMailbox() {
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
            content: "Open My Mailbox",
            trigger: "[data-menu-xmlid='crm_mail_channel.crm_mail_channel_menu_mailboxes']",
            run: "click",
        },
    ];
}

registry.category("web_tour.tours").add("crm_mail_channel_mailbox_first_time_tour", {
    url: "/odoo",
    steps: () => {
        const server = serverDetails();
        return [
            ...openMyMailbox(),
            {
                content: "A new form, no New button: one mailbox per user",
                trigger: ".o_form_view .o_form_editable:not(:has(.o_form_button_create))",
            },
            {
                content: "The introduction says what is synced and who sees it",
                trigger:
                    "div[name=introduction]:contains(Connect your mailbox):contains(seen by you only)",
            },
            {
                content: "Open who sees my emails",
                trigger: "div[name=introduction] button:contains(Change who sees my emails)",
                run: "click",
            },
            {
                content: "The user's own sharing choice, in a dialog",
                trigger: ".modal .o_field_widget[name=email_sharing_mode] input:checked",
            },
            {
                content: "Close it without changing anything",
                trigger: ".modal .o_form_button_cancel",
                run: "click",
            },
            {
                content: "Back on the new mailbox form, nothing saved",
                trigger: "body:not(:has(.modal)) .o_form_view div[name=introduction]",
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
                content: "Plain-words guidance for that provider",
                trigger: "div[name=preset_note]:contains(IMAP server name)",
            },
            {
                content: "A local test server without encryption",
                trigger: ".o_field_widget[name=security] select",
                run: `select "none"`,
            },
            {
                content: "No certificate to verify without encryption",
                trigger: ".o_form_view:not(:has(.o_field_widget[name=ssl_verify]))",
            },
            {
                content: "Server",
                trigger: ".o_field_widget[name=host] input",
                run: `edit ${server.host}`,
            },
            {
                content: "Port",
                trigger: ".o_field_widget[name=port] input",
                run: `edit ${server.port}`,
            },
            {
                content: "The port shows as typed, without a thousands separator",
                trigger: `.o_field_widget[name=port] input:value(${server.port})`,
            },
            {
                content: "Login",
                trigger: ".o_field_widget[name=login] input",
                run: `edit ${server.login}`,
            },
            {
                content: "A new mailbox has no saved password to keep",
                trigger: ".o_form_view:not(:contains(A password is saved))",
            },
            {
                content: "Password",
                trigger: ".o_field_widget[name=password] input",
                run: `edit ${server.password}`,
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
                content: "The saved password is kept when the field stays empty",
                trigger: ".o_form_view:contains(A password is saved)",
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
                content: "Open the Sales menu",
                trigger: "[data-menu-xmlid='crm.crm_menu_sales']",
                run: "click",
            },
            {
                content: "Open customers",
                trigger: "[data-menu-xmlid='crm.res_partner_menu_customer']",
                run: "click",
            },
            {
                content: "Open the contact",
                trigger: `.o_kanban_record:contains(${server.contact})`,
                run: "click",
            },
            {
                content: "Click the Emails smart button",
                trigger: "button[name=action_view_crm_emails]:contains(1)",
                run: "click",
            },
            {
                content: "The customer's email is there",
                trigger: `.o_data_row:contains(${server.subject})`,
            },
        ];
    },
});

registry.category("web_tour.tours").add("crm_mail_channel_mailbox_connected_tour", {
    url: "/odoo/my-mailbox",
    steps: () => [
        {
            content: "Opened by URL, My Mailbox keeps the CRM menu",
            trigger: ".o_main_navbar .o_menu_brand:contains(CRM)",
        },
        {
            content: "The connected mailbox, with its status badge",
            trigger: ".o_form_view .o_field_widget[name=state] .badge:contains(Connected)",
        },
        {
            content: "No New button",
            trigger: ".o_form_view:not(:has(.o_form_button_create))",
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
            content: "Open the user menu",
            trigger: ".o_user_menu button",
            run: "click",
        },
        {
            content: "Open the preferences",
            trigger: ".dropdown-item[data-menu=settings]",
            run: "click",
        },
        {
            content: "Open the Emails page",
            trigger: ".modal .nav-link:contains(Emails)",
            run: "click",
        },
        {
            content: "The preferences say who sees the mail, as the sharing mode decides",
            trigger: ".modal .o_field_widget[name=email_visibility_summary]:contains(seen by you only)",
        },
        {
            content: "The mailbox is connected: no Set up, but Open my mailbox",
            trigger:
                ".modal .o_field_widget[name=crm_mailbox_state] .badge:contains(Connected)",
        },
        {
            content: "Open my mailbox",
            trigger: ".modal button:contains(Open my mailbox)",
            run: "click",
        },
        {
            content: "Back on the mailbox",
            trigger: ".o_form_view .o_field_widget[name=state] .badge:contains(Connected)",
        },
    ],
});
