/** @odoo-module **/

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

/**
 * An administrator reviews the CRM email settings, then Mailbox Health. The test stores what
 * to look for in sessionStorage under "cmc_settings_tour".
 */
function details() {
    return JSON.parse(sessionStorage.getItem("cmc_settings_tour") || "{}");
}

registry.category("web_tour.tours").add("crm_mail_channel_settings_tour", {
    url: "/odoo/settings#crm",
    steps: () => {
        const expected = details();
        return [
            {
                content: "The email blocks of the CRM settings",
                trigger: ".o_setting_container:contains(Email Sharing):contains(Emails and Deals)",
            },
            {
                content: "Labels in plain words",
                trigger:
                    ".o_setting_box:contains(What colleagues see of shared emails):contains(Everything)",
            },
            {
                content: "The excluded domains box is a text area as wide as its setting",
                trigger: ".o_field_widget[name=crm_email_excluded_domains] textarea",
                run() {
                    const box = this.anchor.getBoundingClientRect().width;
                    const setting = this.anchor.closest(".o_setting_box").getBoundingClientRect()
                        .width;
                    if (box < setting / 2) {
                        throw new Error(`Excluded domains box too narrow: ${box}px of ${setting}px`);
                    }
                },
            },
            {
                content: "Type the excluded domains",
                trigger: ".o_field_widget[name=crm_email_excluded_domains] textarea",
                run: `edit ${expected.domains}`,
            },
            {
                content: "Save",
                trigger: ".o_control_panel .o_form_button_save",
                run: "click",
            },
            {
                content: "Saved: the count follows",
                trigger: `.o_field_widget[name=crm_email_excluded_domain_count]:contains(${expected.domain_count})`,
            },
            stepUtils.showAppsMenuItem(),
            {
                content: "Open CRM",
                trigger: ".o_app[data-menu-xmlid='crm.crm_menu_root']",
                run: "click",
            },
            {
                content: "Open the configuration menu",
                trigger: "[data-menu-xmlid='crm.crm_menu_config']",
                run: "click",
            },
            {
                content: "Open Mailbox Health",
                trigger: "[data-menu-xmlid='crm_mail_channel.crm_mail_channel_menu_mailbox_health']",
                run: "click",
            },
            {
                content: "The mailbox whose password was refused shows the error on its line",
                trigger: `.o_data_row:contains(${expected.login}):has(.badge:contains(Error)) td[name=last_error]:contains(${expected.error})`,
            },
            {
                content: "No New button on Mailbox Health",
                trigger: ".o_list_view:not(:has(.o_list_button_add))",
            },
        ];
    },
});
