"""Delivery reports: recognised in the shapes real servers send, and nothing else."""

import pytest

from crm_mail_channel_core import mime
from crm_mail_channel_core.bounces import bounced_recipients, parse_report


def crlf(text):
    return text.strip("\n").replace("\n", "\r\n").encode() + b"\r\n"


POSTFIX = crlf("""
Return-Path: <>
From: MAILER-DAEMON@mx.ourco.example (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: alice@ourco.example
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="ABC123"
Message-Id: <20261130.ABC@mx.ourco.example>
Date: Mon, 30 Nov 2026 10:00:00 +0000 (UTC)

This is a MIME-encapsulated message.

--ABC123
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<joe@acme.example>: host mx.acme.example said: 550 5.1.1 User unknown

--ABC123
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.ourco.example

Final-Recipient: rfc822; joe@acme.example
Original-Recipient: rfc822;joe@acme.example
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 User unknown

Final-Recipient: rfc822; ann@acme.example
Action: delivered
Status: 2.0.0

--ABC123
Content-Description: Undelivered Message
Content-Type: message/rfc822

From: Alice <alice@ourco.example>
To: Joe <joe@acme.example>, ann@acme.example
Subject: Our offer
Message-Id: <orig-123@ourco.example>
Date: Mon, 30 Nov 2026 09:59:00 +0000

Here is our offer.

--ABC123--
""")

GMAIL = crlf("""
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: alice@ourco.example
Subject: Delivery Status Notification (Failure)
In-Reply-To: <orig-456@ourco.example>
References: <orig-456@ourco.example>
Message-ID: <gmail-dsn-1@mx.google.com>
Date: Mon, 30 Nov 2026 10:00:00 -0800
MIME-Version: 1.0
Content-Type: multipart/report; boundary="000"; report-type=delivery-status

--000
Content-Type: text/plain; charset="UTF-8"

Address not found
Your message wasn't delivered to nobody@acme.example because the address couldn't be found.

--000
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com

Final-Recipient: rfc822; nobody@acme.example
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does not exist.

--000
Content-Type: text/rfc822-headers

From: Alice <alice@ourco.example>
To: nobody@acme.example
Subject: Hello
Message-ID: <orig-456@ourco.example>
Date: Mon, 30 Nov 2026 09:59:00 -0800

--000--
""")

QMAIL = crlf("""
Return-Path: <>
From: MAILER-DAEMON@mail.acme.example
To: alice@ourco.example
Subject: failure notice
Message-ID: <qmail-1@mail.acme.example>
Date: Mon, 30 Nov 2026 10:00:00 +0000

Hi. This is the qmail-send program at mail.acme.example.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<joe@acme.example>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

Return-Path: <alice@ourco.example>
From: Alice <alice@ourco.example>
To: joe@acme.example
Subject: Our offer
Message-ID: <orig-789@ourco.example>

Here is our offer.
""")

EXIM = crlf("""
From: Mail Delivery System <Mailer-Daemon@mx.acme.example>
To: alice@ourco.example
Subject: Mail delivery failed: returning message to sender
X-Failed-Recipients: ann@acme.example
Message-ID: <exim-1@mx.acme.example>
Date: Mon, 30 Nov 2026 10:00:00 +0000

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error.

------ This is a copy of the message, including all the headers. ------

From: Alice <alice@ourco.example>
To: joe@acme.example, ann@acme.example
Message-Id:
 <orig-999@ourco.example>
Subject: Our offer

Here is our offer.
""")

DELAYED = crlf("""
From: MAILER-DAEMON@mx.ourco.example (Mail Delivery System)
Subject: Delayed Mail (still being retried)
To: alice@ourco.example
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="D1"
Message-Id: <delay-1@mx.ourco.example>

--D1
Content-Type: text/plain

Your message could not be delivered for 4 hours. It will be retried.

--D1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.ourco.example

Final-Recipient: rfc822; joe@acme.example
Action: delayed
Status: 4.4.1

--D1
Content-Type: text/rfc822-headers

Message-Id: <orig-delay@ourco.example>

--D1--
""")

READ_RECEIPT = crlf("""
From: Joe <joe@acme.example>
To: alice@ourco.example
Subject: Read: Our offer
Message-ID: <mdn-1@acme.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=disposition-notification; boundary="R1"

--R1
Content-Type: text/plain

Your message was read.

--R1
Content-Type: message/disposition-notification

Final-Recipient: rfc822; joe@acme.example
Original-Message-ID: <orig-123@ourco.example>
Disposition: manual-action/MDN-sent-manually; displayed

--R1--
""")

CUSTOMER = crlf("""
From: Joe <joe@acme.example>
To: alice@ourco.example
Subject: Re: Undeliverable parcels, returned mail and failure notice
Message-ID: <customer-1@acme.example>
In-Reply-To: <orig-123@ourco.example>

Our parcels came back. Message-ID: <orig-123@ourco.example> was our order.
""")


@pytest.fixture(params=[True, False], ids=["fast-path", "stdlib"])
def parse(request, monkeypatch):
    monkeypatch.setattr(mime, "FAST_PATH", request.param)
    return lambda raw: mime.parse_message(raw).delivery_report


def test_rfc3464_report_with_original_message(parse):
    report = parse(POSTFIX)
    assert report == parse_report(POSTFIX)
    assert report.original_message_ids == ("<orig-123@ourco.example>",)
    assert report.failed
    assert report.failed_addresses() == ("joe@acme.example",)
    assert "User unknown" in report.reason
    # Per recipient: only Joe bounced, Ann's copy was delivered.
    candidates = {"joe@acme.example", "ann@acme.example"}
    assert bounced_recipients(report, candidates) == {"joe@acme.example"}


def test_gmail_report_with_original_headers(parse):
    report = parse(GMAIL)
    assert report.original_message_ids == ("<orig-456@ourco.example>",)
    assert report.failed_addresses() == ("nobody@acme.example",)
    assert bounced_recipients(report, {"nobody@acme.example"}) == {"nobody@acme.example"}
    assert bounced_recipients(report, {"someone@else.example"}) == set()


def test_plain_qmail_notice(parse):
    report = parse(QMAIL)
    assert report.original_message_ids == ("<orig-789@ourco.example>",)
    assert report.failed and not report.recipients
    assert bounced_recipients(report, {"joe@acme.example", "x@y.example"}) == {"joe@acme.example"}


def test_plain_exim_notice_with_failed_recipients_header(parse):
    report = parse(EXIM)
    assert report.original_message_ids == ("<orig-999@ourco.example>",)
    assert report.failed_addresses() == ("ann@acme.example",)
    # Joe is named in the quoted copy, but the report says only Ann failed.
    candidates = {"joe@acme.example", "ann@acme.example"}
    assert bounced_recipients(report, candidates) == {"ann@acme.example"}


def test_delay_is_a_report_but_no_bounce(parse):
    report = parse(DELAYED)
    assert report is not None and not report.failed
    assert report.original_message_ids == ("<orig-delay@ourco.example>",)
    assert bounced_recipients(report, {"joe@acme.example"}) == set()


def test_read_receipt_and_customer_mail_are_not_reports(parse):
    assert parse(READ_RECEIPT) is None
    # A person writing about returned mail, quoting a Message-ID: customer mail.
    assert parse(CUSTOMER) is None


def test_single_recipient_report_naming_nobody():
    raw = crlf("""
From: postmaster@acme.example
To: alice@ourco.example
Subject: Undeliverable: Our offer
Message-ID: <x-1@acme.example>

Delivery has failed to these recipients or groups.

Original message headers:
Message-ID: <orig-1@ourco.example>
""")
    report = parse_report(raw)
    assert report.original_message_ids == ("<orig-1@ourco.example>",)
    assert bounced_recipients(report, {"joe@acme.example"}) == {"joe@acme.example"}
    # With several recipients and none named, nobody is marked.
    assert bounced_recipients(report, {"joe@acme.example", "ann@acme.example"}) == set()


@pytest.mark.parametrize(
    "headers",
    [
        "Auto-Submitted: auto-replied\r\nSubject: Re: Our offer\r\n",
        "Subject: Automatic reply: Our offer\r\n",
        "Subject: Out of Office: Our offer\r\n",
        "X-Autoreply: yes\r\nSubject: Re: Our offer\r\n",
        "Precedence: auto_reply\r\nSubject: Re: Our offer\r\n",
    ],
)
def test_auto_replies_are_recognised(parse, headers):
    raw = (
        "From: Joe <joe@acme.example>\r\nTo: alice@ourco.example\r\n"
        f"{headers}In-Reply-To: <orig-123@ourco.example>\r\n\r\nI am away until Monday.\r\n"
    ).encode()
    parsed = mime.parse_message(raw)
    assert parsed.auto_reply and parsed.delivery_report is None


def test_replies_written_by_people_are_not_auto_replies(parse):
    person = crlf(
        "From: joe@acme.example\nSubject: Re: Out of office hours?\nAuto-Submitted: no\n\n"
        "We are open."
    )
    for raw in (CUSTOMER, person):
        assert not mime.parse_message(raw).auto_reply
    assert mime.parse_message(POSTFIX).auto_reply  # a report is machine mail too
