"""Prepares the demo: a persistent local Dovecot with a sample mailbox, the database with the
addon, demo contacts matching the sample mail, the admin's mailbox, and a first sync.

Run by scripts/demo; safe to run again (every step checks what is already there).
"""

import argparse
import json
import random
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The test-support package (server launchers) lives at the repository root, not installed.
sys.path.insert(0, str(REPO))
DEMO_DIR = REPO / ".run" / "demo"
SERVER_INFO = DEMO_DIR / "dovecot.json"
MAILBOX_LOGIN, MAILBOX_PASSWORD = "sales@demo.test", "demo-password"
OWN_ADDRESS = "sales@demo.test"

COMPANIES = [
    ("Northwind Traders", "northwind.test", ["Nancy Davolio", "Andrew Fuller", "Janet Leverling"]),
    ("Globex Corporation", "globex.test", ["Hank Scorpio", "Mindy Simmons"]),
    ("Initech", "initech.test", ["Bill Lumbergh", "Peter Gibbons"]),
]
STRANGERS = ["newsletter@deals.example", "noreply@shipping.example", "friend@personal.example"]
TOPICS = [
    ("Quote for 40 office chairs", "Could you send us an updated quote for 40 ergonomic chairs?"),
    ("Delivery schedule", "Can we move the delivery to the first week of next month?"),
    ("Contract renewal", "Our contract ends soon. What are the options for renewal?"),
    ("Invoice question", "We received invoice 2026/118, the VAT number seems wrong."),
    ("Meeting next Tuesday", "Would Tuesday 10:00 work for a call about the roll-out?"),
]


def contact_address(name, domain):
    return f"{name.split()[0].lower()}.{name.split()[-1].lower()}@{domain}"


def make_mail(sender, recipient, subject, text, when, reply_to_id=None):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, recipient, subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(domain=sender.split("@")[-1].strip(">"))
    if reply_to_id:
        msg["In-Reply-To"] = msg["References"] = reply_to_id
    msg.set_content(text)
    msg.add_alternative(f"<p>{text}</p><p>Best regards</p>", subtype="html")
    return msg


def sample_mail(seed=7):
    """Inbox and Sent messages: customer threads, plus mail that must stay out of CRM."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    inbox, sent = [], []
    for _company, domain, people in COMPANIES:
        for name in people:
            address = contact_address(name, domain)
            for subject, text in rng.sample(TOPICS, 2):
                when = now - timedelta(days=rng.randint(1, 60), hours=rng.randint(0, 12))
                question = make_mail(f"{name} <{address}>", OWN_ADDRESS, subject, text, when)
                inbox.append(question)
                answer = make_mail(
                    OWN_ADDRESS,
                    f"{name} <{address}>",
                    f"Re: {subject}",
                    "Thanks, I am on it and will come back to you today.",
                    when + timedelta(hours=2),
                    reply_to_id=question["Message-ID"],
                )
                sent.append(answer)
    for address in STRANGERS:
        when = now - timedelta(days=rng.randint(1, 30))
        inbox.append(make_mail(address, OWN_ADDRESS, "Not a customer", "Stays out of CRM.", when))
    return [m.as_bytes() for m in inbox], [m.as_bytes() for m in sent]


def start_dovecot():
    from crm_mail_channel_testing.dovecot import DovecotServer

    if SERVER_INFO.exists():
        server = DovecotServer.attach(json.loads(SERVER_INFO.read_text()))
        if server.is_running():
            say(f"demo mailbox server already running (IMAP on {server.host}:{server.imap_port})")
            return server
    server = DovecotServer(base_dir=DEMO_DIR / "dovecot")
    if SERVER_INFO.exists():  # keep the ports the demo mailbox already points at
        info = json.loads(SERVER_INFO.read_text())
        server.imap_port, server.imaps_port = info["imap_port"], info["imaps_port"]
        server.pop3_port, server.pop3s_port = info["pop3_port"], info["pop3s_port"]
    server.start()
    say(f"demo mailbox server started: Dovecot, IMAP on {server.host}:{server.imap_port}")
    SERVER_INFO.write_text(json.dumps(server.info()))
    server.add_user(MAILBOX_LOGIN, MAILBOX_PASSWORD)
    client = server.imap_client(MAILBOX_LOGIN, MAILBOX_PASSWORD)
    try:
        empty = client.select_folder("INBOX", readonly=True)[b"EXISTS"] == 0
    finally:
        client.logout()
    if empty:
        say(f"filling the demo mailbox {MAILBOX_LOGIN}")
        inbox, sent = sample_mail()
        server.append_messages(MAILBOX_LOGIN, MAILBOX_PASSWORD, "INBOX", inbox)
        server.append_messages(MAILBOX_LOGIN, MAILBOX_PASSWORD, "Sent", sent, flags=[r"\Seen"])
        say(f"demo mailbox filled: {len(inbox)} messages in INBOX, {len(sent)} in Sent")
    return server


def stop_dovecot():
    from crm_mail_channel_testing.dovecot import DovecotServer

    if SERVER_INFO.exists():
        server = DovecotServer.attach(json.loads(SERVER_INFO.read_text()))
        if server.is_running():
            server.stop()


def database_exists(name):
    out = subprocess.run(
        ["psql", "-XAtc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'", "postgres"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() == "1"


def install(database, odoo_args, logfile):
    say(f"installing crm_mail_channel into a new database {database} (about a minute)")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "odoo",
            "-d",
            database,
            *odoo_args,
            "-i",
            "crm_mail_channel",
            "--stop-after-init",
            f"--logfile={logfile}",
        ],
        check=False,
        cwd="/tmp",
    )
    if done.returncode:
        lines = Path(logfile).read_text(errors="replace").splitlines()
        print("\n".join(lines[-25:]), file=sys.stderr)
        sys.exit(f"[demo] installing the addon failed; full log: {logfile}")
    say("addon installed")


def configure(database, odoo_args, server, logfile):
    import odoo
    from odoo.modules.registry import Registry
    from odoo.tools import config

    config.parse_config(["-d", database, *odoo_args, f"--logfile={logfile}"])
    odoo.netsvc.init_logger()  # Odoo's log to the file, the terminal keeps the progress lines
    say("adding demo contacts and connecting the admin's mailbox")
    registry = Registry(database)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        partners = env["res.partner"]
        for company_name, domain, people in COMPANIES:
            company = partners.search([("name", "=", company_name), ("is_company", "=", True)])
            if not company:
                company = partners.create(
                    {"name": company_name, "is_company": True, "website": f"https://{domain}"}
                )
            for name in people:
                address = contact_address(name, domain)
                if not partners.search_count([("email", "=ilike", address)]):
                    partners.create({"name": name, "email": address, "parent_id": company.id})
        admin = env.ref("base.user_admin")
        mailbox = env["crm.mailbox"].search([("user_id", "=", admin.id)], limit=1)
        values = {
            "user_id": admin.id,
            "protocol": "imap",
            "host": server.host,
            "port": server.imap_port,
            "security": "none",
            "login": MAILBOX_LOGIN,
            "password": MAILBOX_PASSWORD,
        }
        mailbox = mailbox.write(values) and mailbox if mailbox else mailbox.create(values)
        cr.commit()
        say("first sync of the admin's mailbox")
        mailbox.with_user(admin).action_sync_now()
        cr.commit()
        count = env["crm.email"].with_user(admin).search_count([])
        say(f"first sync done: {count} customer emails in CRM (mail from unknown senders left out)")


def say(text):
    print(f"[demo] {text}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="crm_mail_demo")
    parser.add_argument("--addons-path")
    parser.add_argument("--logfile", default=str(DEMO_DIR / "odoo.log"), help="Odoo's log")
    parser.add_argument(
        "--stop-mailbox", action="store_true", help="stop the demo Dovecot and exit"
    )
    args, db_args = parser.parse_known_args()
    if args.stop_mailbox:
        stop_dovecot()
        return
    if not args.addons_path:
        parser.error("--addons-path is required")
    odoo_args = [f"--addons-path={args.addons_path}", *db_args]
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    server = start_dovecot()
    if database_exists(args.database):
        say(f"database {args.database} already exists (scripts/demo --reset starts over)")
    else:
        install(args.database, odoo_args, args.logfile)
    configure(args.database, odoo_args, server, args.logfile)


if __name__ == "__main__":
    main()
