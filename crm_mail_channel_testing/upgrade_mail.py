"""The mail the upgrade test puts in Dovecot before the previous release syncs it."""

from __future__ import annotations

from email.message import EmailMessage


def _mail(sender, to, subject, body, message_id, references=None, attachment=None):
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Mon, 02 Nov 2026 09:00:00 +0000"
    msg["Message-ID"] = message_id
    if references:
        msg["In-Reply-To"] = references
        msg["References"] = references
    msg.set_content(body)
    if attachment:
        msg.add_attachment(attachment, maintype="application", subtype="pdf", filename="a.pdf")
    return msg.as_bytes()


def seed_messages(mailboxes):
    """``{(login, password, folder): [raw, ...]}`` for the victim, public and boss users."""
    victim, public, boss = mailboxes["victim"], mailboxes["public"], mailboxes["boss"]
    shared_copy = _mail(
        "joe@acme.example",
        "victim@ourco.example, pub@ourco.example",
        "Both of us",
        "seen by two mailboxes",
        "<both@acme.example>",
    )
    return {
        (*victim, "INBOX"): [
            _mail(
                "joe@acme.example",
                "victim@ourco.example",
                "Victim private",
                "secret v",
                "<v1@acme.example>",
                attachment=b"%PDF victim",
            ),
            _mail(
                "joe@acme.example",
                "victim@ourco.example",
                "Re: Victim private",
                "secret v2",
                "<v2@acme.example>",
                references="<v1@acme.example>",
            ),
            shared_copy,
        ],
        (*public, "INBOX"): [
            _mail(
                "ann@acme.example",
                "pub@ourco.example",
                "Public mail",
                "for all",
                "<p1@acme.example>",
            ),
            _mail(
                "pub@ourco.example",
                "carol@ourco.example",
                "Colleague plan",
                "internal",
                "<c1@ourco.example>",
            ),
            shared_copy,
        ],
        (*public, "Sent"): [
            _mail(
                "pub@ourco.example", "ann@acme.example", "Our offer", "offer", "<s1@ourco.example>"
            ),
        ],
        (*boss, "INBOX"): [
            _mail(
                "joe@acme.example", "boss@ourco.example", "Boss mail", "boss", "<b1@acme.example>"
            ),
        ],
    }
