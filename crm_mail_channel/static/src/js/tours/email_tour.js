/** @odoo-module **/

import { registry } from "@web/core/registry";

/**
 * Email lists and the conversation view (test_email_tour.py sets up the mail):
 * - Joe's "Quote request" (unread, with specs.pdf) and our reply "Re: Quote request" (read,
 *   in Sent) form one thread; Ann's "Training dates" is unread.
 */
const tours = registry.category("web_tour.tours");

const incomingRow = ".o_data_row td[name=subject]:contains(Quote request):not(:contains(Re:))";
const firstMessage = ".o_crm_email_thread .o_crm_email_thread_message:first-child";
const lastMessage = ".o_crm_email_thread .o_crm_email_thread_message:last-child";

tours.add("crm_mail_channel_email_tour", {
    steps: () => [
        {
            content: "Unread mail is bold",
            trigger: ".o_crm_email_list .o_data_row.fw-bold:contains(Training dates)",
        },
        {
            content: "Our reply is read, and reads as ours",
            trigger:
                ".o_data_row:not(.fw-bold):contains(Re: Quote request) td[name=participants]:contains(You → Joe Customer)",
        },
        {
            content: "Dates show no seconds",
            trigger: ".o_data_row td[name=date]",
            run() {
                for (const cell of document.querySelectorAll(".o_data_row td[name=date]")) {
                    if (/\d:\d\d:\d\d/.test(cell.textContent)) {
                        throw new Error(`Date with seconds: ${cell.textContent}`);
                    }
                }
            },
        },
        {
            content: "Joe's email is unread",
            trigger: `.o_data_row.fw-bold ${incomingRow.replace(".o_data_row ", "")}`,
        },
        {
            content: "Open it",
            trigger: incomingRow,
            run: "click",
        },
        {
            content: "The conversation starts with Joe's email, the one opened",
            trigger: `${firstMessage}.o_current.o_expanded:contains(Could you send a quote)`,
        },
        {
            content: "Its attachment is offered",
            trigger: `${firstMessage} .o_crm_email_thread_attachments a:contains(specs.pdf)`,
        },
        {
            content: "Our reply comes next, expanded as the latest",
            trigger: `${lastMessage}.o_outgoing.o_expanded:contains(Here is our quote)`,
        },
        {
            content: "Opening marked it read in my mailbox",
            trigger: ".o_form_statusbar button[name=action_mark_unread]",
        },
        {
            content: "Collapse Joe's email",
            trigger: `${firstMessage} .o_crm_email_thread_header`,
            run: "click",
        },
        {
            content: "It shows one line",
            trigger: `${firstMessage}:not(.o_expanded):not(:has(.o_crm_email_thread_body))`,
        },
        {
            content: "Expand it again",
            trigger: `${firstMessage} .o_crm_email_thread_header`,
            run: "click",
        },
        {
            content: "Its body is back",
            trigger: `${firstMessage}.o_expanded .o_crm_email_thread_body:contains(Could you send a quote)`,
        },
        {
            content: "Back to the list",
            trigger: ".o_breadcrumb .breadcrumb-item a:contains(Emails)",
            run: "click",
        },
        {
            content: "Joe's email is no longer bold",
            trigger: `.o_data_row:not(.fw-bold) ${incomingRow.replace(".o_data_row ", "")}`,
        },
        {
            content: "Open the search options",
            trigger: ".o_searchview_dropdown_toggler",
            run: "click",
        },
        {
            content: "Internal fields are not offered for grouping",
            trigger:
                ".o_add_custom_group_menu:has(option:contains(Contacts)):not(:has(option:contains(Thread key))):not(:has(option:contains(Message-ID)))",
        },
        {
            content: "Group by company",
            trigger: ".o_group_by_menu .o_menu_item:contains(Company)",
            run: "click",
        },
        {
            content: "The contacts' company is a group",
            trigger: ".o_group_header:contains(Acme Corp)",
        },
    ],
});

tours.add("crm_mail_channel_email_open_tour", {
    steps: () => [
        {
            content: "The conversation is shown",
            trigger: `${firstMessage}.o_current.o_expanded:contains(Could you send a quote)`,
        },
        {
            content: "Our reply is there too",
            trigger: `${lastMessage}:contains(Here is our quote)`,
        },
        {
            content: "Not my mail: no read state to change",
            trigger:
                ".o_form_view:not(:has(button[name=action_mark_unread])):not(:has(button[name=action_mark_read]))",
        },
    ],
});

tours.add("crm_mail_channel_email_open_tour_owner", {
    steps: () => [
        {
            content: "The conversation is shown",
            trigger: `${firstMessage}.o_current.o_expanded:contains(Could you send a quote)`,
        },
        {
            content: "Opening marked it read in my mailbox",
            trigger: ".o_form_statusbar button[name=action_mark_unread]",
        },
    ],
});

tours.add("crm_mail_channel_email_reply_tour", {
    steps: () => [
        {
            content: "Reply to Joe's email from the conversation",
            trigger: `${firstMessage}.o_expanded .o_crm_email_thread_reply`,
            run: "click",
        },
        {
            content: "Write the answer",
            trigger: ".modal .o_field_html[name=body] .odoo-editor-editable",
            run: "editor Thanks Joe, the terms follow.",
        },
        {
            content: "Send",
            trigger: ".modal .o_mail_send",
            run: "click",
        },
        {
            content: "The answer ends the conversation, as ours",
            trigger: `${lastMessage}.o_outgoing.o_expanded:contains(Thanks Joe, the terms follow.)`,
        },
        {
            content: "The conversation still starts with Joe's email",
            trigger: `${firstMessage}:contains(Joe Customer)`,
        },
    ],
});

tours.add("crm_mail_channel_shared_list_tour", {
    steps: () => [
        {
            content: "Open the company's Emails page",
            trigger: ".o_notebook a[name=crm_emails]",
            run: "click",
        },
        {
            content: "Shared mail unread in its owner's mailbox is not bold for me",
            trigger:
                ".o_field_widget[name=crm_email_ids] .o_data_row:not(.fw-bold):contains(Training dates)",
        },
    ],
});

tours.add("crm_mail_channel_partner_emails_tour", {
    steps: () => [
        {
            content: "Open the company's Emails page",
            trigger: ".o_notebook a[name=crm_emails]",
            run: "click",
        },
        {
            content: "Our reply reads as ours, to Joe",
            trigger:
                ".o_field_widget[name=crm_email_ids] .o_data_row:contains(Re: Quote request) td[name=participants]:contains(You → Joe Customer)",
        },
        {
            content: "Ann's unread email is bold",
            trigger: ".o_field_widget[name=crm_email_ids] .o_data_row.fw-bold:contains(Training dates)",
        },
        {
            content: "Open it",
            trigger: ".o_field_widget[name=crm_email_ids] .o_data_row td:contains(Training dates)",
            run: "click",
        },
        {
            content: "It opens in its conversation",
            trigger: ".modal .o_crm_email_thread_message.o_current:contains(See you in March)",
        },
        {
            content: "Close it",
            trigger: ".modal .btn-close",
            run: "click",
        },
    ],
});

tours.add("crm_mail_channel_empty_contact_tour", {
    steps: () => [
        {
            content: "Open the Emails page",
            trigger: ".o_notebook a[name=crm_emails]",
            run: "click",
        },
        {
            content: "It says what will appear and why it may be empty",
            trigger:
                ".o_crm_email_empty_state:contains(No emails with this contact yet):contains(keep private)",
        },
    ],
});

tours.add("crm_mail_channel_no_mailbox_list_tour", {
    steps: () => [
        {
            content: "The empty Emails list calls to connect a mailbox",
            trigger: ".o_view_nocontent:contains(Connect your mailbox) a.o_crm_email_connect_mailbox",
        },
    ],
});

tours.add("crm_mail_channel_no_mailbox_deal_tour", {
    steps: () => [
        {
            content: "Open the deal's Emails page",
            trigger: ".o_notebook a[name=crm_emails]",
            run: "click",
        },
        {
            content: "The deal's empty page calls to connect a mailbox",
            trigger:
                ".o_crm_email_empty_state:contains(Connect your mailbox) a.o_crm_email_connect_mailbox",
            run: "click",
        },
        {
            content: "My Mailbox opens",
            trigger:
                ".o_breadcrumb:contains(My Mailbox), .o_form_view .o_field_widget[name=preset], .o_form_view .o_field_widget[name=login]",
        },
    ],
});
