/** @odoo-module **/

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

/**
 * A sales user connects their mailbox and finds a customer's email on the contact.
 * The test stores the server details in sessionStorage under "cmc_mailbox_tour".
 */
function serverDetails() {
    return JSON.parse(sessionStorage.getItem("cmc_mailbox_tour") || "{}");
}

registry.category("web_tour.tours").add("crm_mail_channel_mailbox_tour", {
    url: "/odoo",
    steps: () => {
        const server = serverDetails();
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
            {
                content: "Choose an unencrypted local server",
                trigger: ".o_field_widget[name=security] select",
                run: `select "none"`,
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
                content: "Login",
                trigger: ".o_field_widget[name=login] input",
                run: `edit ${server.login}`,
            },
            {
                content: "Password",
                trigger: ".o_field_widget[name=password] input",
                run: `edit ${server.password}`,
            },
            {
                content: "Test the connection",
                trigger: "button[name=action_test_connection]",
                run: "click",
            },
            {
                content: "The connection works",
                trigger: ".o_notification:contains(Connection works)",
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
                content: "Open the email",
                trigger: `.o_data_row:contains(${server.subject}) td[name=subject]`,
                run: "click",
            },
            {
                content: "The email shows its body",
                trigger: `.o_form_view .o_field_widget[name=subject]:contains(${server.subject})`,
            },
            {
                content: "The body is there",
                trigger: ".o_form_view .o_field_widget[name=body_html]",
            },
        ];
    },
});
