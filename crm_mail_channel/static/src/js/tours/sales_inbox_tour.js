/** @odoo-module **/

import { registry } from "@web/core/registry";

/**
 * SalesInbox (test_sales_inbox_tour.py sets up the mail): Joe's "Quote request" on the deal
 * "Joe: 10 licences" (unread), Ann's "Training dates" without a deal, "Interested in a demo"
 * (Nora) and "Pricing please" (Paul) from senders not in CRM, a colleague's "Lunch on Friday?".
 */
const column = (kind) => `.o_crm_sales_inbox_column[data-kind=${kind}]`;
const card = (kind, subject) =>
    `${column(kind)} .o_crm_sales_inbox_card:has(.o_crm_sales_inbox_subject:contains(${subject}))`;
const backToInbox = {
    content: "Back to SalesInbox",
    trigger: ".o_breadcrumb .breadcrumb-item a:contains(SalesInbox)",
    run: "click",
};

registry.category("web_tour.tours").add("crm_mail_channel_sales_inbox_tour", {
    steps: () => [
        // ------------------------------------------------------------ the columns
        {
            content: "Joe's mail is in Deals, unread, with its deal",
            trigger: `${card("deals", "Quote request")}.o_unread .o_crm_sales_inbox_deal_mark`,
        },
        {
            content: "The deal card shows stage, expected revenue and closing",
            trigger: `${card("deals", "Quote request")} .o_crm_sales_inbox_deal:contains(Joe: 10 licences) .o_crm_sales_inbox_stage`,
        },
        {
            content: "The expected revenue",
            trigger: `${card("deals", "Quote request")} .o_crm_sales_inbox_revenue:contains(12,000)`,
        },
        {
            content: "Ann's mail is in Contacts",
            trigger: card("contacts", "Training dates"),
        },
        {
            content: "Senders not in CRM, read live from the mailbox",
            trigger: `${card("not_in_crm", "Interested in a demo")}:contains(Nora New):contains(next week)`,
        },
        {
            content: "Paul's too",
            trigger: card("not_in_crm", "Pricing please"),
        },
        {
            content: "Mail between colleagues",
            trigger: card("colleagues", "Lunch on Friday?"),
        },
        {
            content: "Counts",
            trigger: `${column("not_in_crm")} .o_crm_sales_inbox_count:contains(2)`,
        },
        // ------------------------------------------------------------ keyboard
        {
            content: "The first card has the focus",
            trigger: `${card("deals", "Quote request")}.o_focused`,
        },
        {
            content: "j: next card",
            trigger: "body",
            run: "press j",
        },
        {
            content: "Ann's card has the focus",
            trigger: `${card("contacts", "Training dates")}.o_focused`,
        },
        {
            content: "k: previous card",
            trigger: "body",
            run: "press k",
        },
        {
            content: "Joe's card has the focus again",
            trigger: `${card("deals", "Quote request")}.o_focused`,
        },
        // ------------------------------------------------------------ read state
        {
            content: "Mark it read",
            trigger: `${card("deals", "Quote request")} .o_crm_sales_inbox_toggle_read:contains(Mark read)`,
            run: "click",
        },
        {
            content: "Read now",
            trigger: `${card("deals", "Quote request")}:not(.o_unread) .o_crm_sales_inbox_toggle_read:contains(Mark unread)`,
            run: "click",
        },
        {
            content: "Unread again",
            trigger: `${card("deals", "Quote request")}.o_unread .o_crm_sales_inbox_toggle_read:contains(Mark read)`,
            run: "click",
        },
        {
            content: "Read for good",
            trigger: `${card("deals", "Quote request")}:not(.o_unread)`,
        },
        // ------------------------------------------------------------ reply (r)
        {
            content: "r: reply to the focused card",
            trigger: `${card("deals", "Quote request")}.o_focused`,
            run: "press r",
        },
        {
            content: "Odoo's composer, answering Joe",
            trigger: ".modal .o_field_html[name=body] .odoo-editor-editable",
            run: "editor Thanks Joe, the quote follows.",
        },
        {
            content: "Send",
            trigger: ".modal .o_mail_send",
            run: "click",
        },
        {
            content: "The answer is on the deal, in Deals",
            trigger: `body:not(:has(.modal)) ${card("deals", "Re: Quote request")}`,
        },
        // ------------------------------------------------------------ open
        {
            content: "Open Joe's mail",
            trigger: `${card("deals", "Quote request")}:not(:contains(Re:)) .o_crm_sales_inbox_open`,
            run: "click",
        },
        {
            content: "The email's form",
            trigger: ".o_form_view .o_crm_email_thread:contains(Could you send a quote)",
        },
        backToInbox,
        // ------------------------------------------------------------ link to a deal
        {
            content: "Link Ann's mail to a deal",
            trigger: `${card("contacts", "Training dates")} .o_crm_sales_inbox_relink:contains(Link to a deal)`,
            run: "click",
        },
        {
            content: "Choose Ann's deal",
            trigger: ".modal .o_field_widget[name=lead_id] input",
            run: "edit Ann: training",
        },
        {
            content: "Pick it",
            trigger: ".o-autocomplete--dropdown-item:contains(Ann: training)",
            run: "click",
        },
        {
            content: "Apply",
            trigger: ".modal button[name=action_apply]",
            run: "click",
        },
        {
            content: "The deal opens",
            trigger: ".o_breadcrumb:contains(Ann: training)",
        },
        backToInbox,
        {
            content: "Ann's mail is in Deals now",
            trigger: card("deals", "Training dates"),
        },
        // ------------------------------------------------------------ not in CRM
        {
            content: "Create a contact for Nora",
            trigger: `${card("not_in_crm", "Interested in a demo")} .o_crm_sales_inbox_create_contact`,
            run: "click",
        },
        {
            content: "Her past mail is in CRM at once",
            trigger: `${card("contacts", "Interested in a demo")}`,
        },
        {
            content: "She is no longer 'not in CRM'",
            trigger: `${column("not_in_crm")}:not(:contains(Interested in a demo))`,
        },
        {
            content: "Create a lead for Paul",
            trigger: `${card("not_in_crm", "Pricing please")} .o_crm_sales_inbox_create_lead`,
            run: "click",
        },
        {
            content: "The lead opens",
            trigger: ".o_breadcrumb:contains(Pricing please)",
        },
        backToInbox,
        {
            content: "Paul's mail is on the new lead",
            trigger: `${card("deals", "Pricing please")} .o_crm_sales_inbox_deal_mark`,
        },
        // ------------------------------------------------------------ columns
        {
            content: "Hide Colleagues",
            trigger: `${column("colleagues")} .o_crm_sales_inbox_hide`,
            run: "click",
        },
        {
            content: "Gone",
            trigger: `.o_crm_sales_inbox_board:not(:has(${column("colleagues")}))`,
        },
        {
            content: "Open the column settings",
            trigger: ".o_crm_sales_inbox_columns_toggle",
            run: "click",
        },
        {
            content: "Show Colleagues again",
            trigger: ".o_crm_sales_inbox_column_option:contains(Colleagues) input",
            run: "click",
        },
        {
            content: "Back",
            trigger: card("colleagues", "Lunch on Friday?"),
        },
        {
            content: "Move Contacts to the left",
            trigger: `${column("contacts")} .o_crm_sales_inbox_move_left`,
            run: "click",
        },
        {
            content: "Contacts comes first",
            trigger: `.o_crm_sales_inbox_column:first-child[data-kind=contacts]`,
        },
        {
            content: "Add a column (the column settings are still open)",
            trigger: ".o_crm_sales_inbox_columns_menu .o_crm_sales_inbox_add_column",
            run: "click",
        },
        {
            content: "Use an example",
            trigger: ".modal .o_crm_sales_inbox_preset:contains(Awaiting my reply)",
            run: "click",
        },
        {
            content: "Save",
            trigger: ".modal .o_crm_sales_inbox_column_save:enabled",
            run: "click",
        },
        {
            content: "The new column, last",
            trigger: `.o_crm_sales_inbox_column:last-child[data-kind=custom] .o_crm_sales_inbox_column_title:contains(Awaiting my reply)`,
        },
    ],
});
