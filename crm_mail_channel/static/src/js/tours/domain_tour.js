/** @odoo-module **/

import { registry } from "@web/core/registry";

/**
 * An administrator adds an email domain: the title follows the address, the code is emailed,
 * a wrong code is refused in plain words, the right one (test_domain_tour.py reads it from the
 * SMTP sink between the two tours) shows the records to publish. The test stores the details in
 * sessionStorage under "cmc_domain_tour".
 */
const tours = registry.category("web_tour.tours");

function details() {
    return JSON.parse(sessionStorage.getItem("cmc_domain_tour") || "{}");
}

function enterCode(code) {
    return [
        {
            content: "Enter the code",
            trigger: ".o_form_statusbar button[name=action_open_code_wizard]",
            run: "click",
        },
        {
            content: "The dialog says where the code was sent",
            trigger: `.modal:contains(Type the code emailed to) .o_field_widget[name=code] input`,
        },
        {
            content: "Type the code",
            trigger: ".modal .o_field_widget[name=code] input",
            run: `edit ${code}`,
        },
        {
            content: "Verify",
            trigger: ".modal button[name=action_confirm]",
            run: "click",
        },
    ];
}

tours.add("crm_mail_channel_domain_add_tour", {
    url: "/odoo/settings#crm",
    steps: () => {
        const tour = details();
        return [
            {
                content: "Open the email domains from the CRM settings",
                trigger: "button[name='crm_mail_channel.crm_mail_domain_action']",
                run: "click",
            },
            {
                content: "New domain",
                trigger: ".o_control_panel .o_list_button_add",
                run: "click",
            },
            {
                content: "No title before an address is typed",
                trigger: `.o_form_view .oe_title:not(:contains(${tour.domain}))`,
            },
            {
                content: "Type the address to verify, and leave the field",
                trigger: ".o_field_widget[name=verification_email] input",
                run: `edit ${tour.address} && click body`,
            },
            {
                content: "The title shows the domain",
                trigger: `.o_form_view .oe_title .o_field_widget[name=name]:contains(${tour.domain})`,
            },
            {
                content: "Save",
                trigger: ".o_form_button_save",
                run: "click",
            },
            {
                content: "Saved: send the code",
                trigger: ".o_form_statusbar button[name=action_send_code]:contains(Send code)",
                run: "click",
            },
            {
                content: "The form says the code was sent",
                trigger: ".o_form_view .alert-info:contains(A code was sent)",
            },
            ...enterCode(tour.wrong_code),
            {
                content: "A wrong code is refused in plain words, the dialog stays",
                trigger:
                    ".modal .o_field_widget[name=error_message]:contains(This code is not right)",
            },
            {
                content: "The code can be typed again",
                trigger: ".modal .o_field_widget[name=code] input",
            },
            {
                content: "Close the dialog to look for the email",
                trigger: ".modal .modal-footer button:contains(Cancel)",
                run: "click",
            },
            {
                content: "Back on the domain, still waiting for the code",
                trigger: "body:not(:has(.modal)) .o_form_statusbar button[name=action_open_code_wizard]",
            },
        ];
    },
});

tours.add("crm_mail_channel_domain_verify_tour", {
    steps: () => {
        const tour = details();
        return [
            {
                content: "The domain is open",
                trigger: `.o_breadcrumb:contains(${tour.domain})`,
            },
            ...enterCode(tour.code),
            {
                content: "The right code closes the dialog",
                trigger: "body:not(:has(.modal))",
            },
            {
                content: "The domain now waits for its DNS records",
                trigger: ".o_form_statusbar .o_arrow_button_current:contains(Waiting for DNS)",
            },
            {
                content: "The SPF record to publish, with a copy button",
                trigger: ".o_field_widget[name=spf_record_value] .o_clipboard_button",
            },
            {
                content: "The DKIM record name, with a copy button",
                trigger: ".o_field_widget[name=dkim_record_name] .o_clipboard_button",
            },
            {
                content: "The DKIM record value, with a copy button",
                trigger: ".o_field_widget[name=dkim_record_value] .o_clipboard_button",
            },
        ];
    },
});
