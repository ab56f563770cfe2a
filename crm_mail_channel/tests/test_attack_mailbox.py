"""Attacks on someone else's mailbox, by a colleague and by an administrator.

The attacker is an ordinary salesman with their own mailbox in the test Dovecot, calling the
methods any internal user can call over RPC (``with_user``); an administrator tries to make
a user's saved password travel to a server of their own.
"""

import base64
import socket
import threading

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .deal_common import DealCommon, make_mail


class RecordingImapServer:
    """A loopback server that answers like IMAP and records every byte clients send, so a
    test can tell whether a password was offered to it (test fixture)."""

    def __init__(self):
        self.connections = 0
        self.received = b""
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(5)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _addr = self._sock.accept()
            except OSError:
                continue
            self.connections += 1
            with conn:
                conn.settimeout(2)
                self._talk(conn)

    def _talk(self, conn):
        conn.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n")
        try:
            for line in conn.makefile("rb"):
                self.received += line
                tag = line.split(b" ", 1)[0]
                if b"CAPABILITY" in line.upper():
                    conn.sendall(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK\r\n")
                elif b"LOGOUT" in line.upper():
                    conn.sendall(b"* BYE\r\n" + tag + b" OK\r\n")
                    return
                else:
                    conn.sendall(tag + b" NO [AUTHENTICATIONFAILED] refused\r\n")
        except OSError:
            return

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestAttackMailbox(DealCommon):
    """Alice is the victim, Bob the attacking colleague; both have a Dovecot mailbox."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.victim, cls.attacker = cls.user_a, cls.user_b
        cls.admin = cls.env.ref("base.user_admin")

    def setUp(self):
        super().setUp()
        self.victim_box, self.victim_login, self.victim_pw = self.make_mailbox(self.victim)
        self.attacker_box, self.attacker_login, self.attacker_pw = self.make_mailbox(self.attacker)

    def sent_folder(self, login, password):
        client = self.imap(login, password)
        try:
            client.select_folder("Sent", readonly=True)
            uids = client.search("ALL")
            data = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
            return [data[uid][b"BODY[]"] for uid in uids]
        finally:
            client.logout()

    def state_of(self, mailbox):
        mailbox = mailbox.sudo()
        mailbox.invalidate_recordset()
        return (mailbox.user_id, mailbox.state, mailbox.last_sync_date, mailbox.has_password)

    # ------------------------------------------------------------------ handover
    def test_handing_my_mailbox_to_a_colleague_is_refused(self):
        mine = self.attacker_box.with_user(self.attacker)
        before = self.state_of(self.attacker_box)
        with self.assertRaises(AccessError):
            mine.write({"user_id": self.victim.id})
        with self.assertRaises(AccessError):
            mine.write({"user_id": self.victim.id, "name": "Looks harmless"})
        with self.assertRaises(AccessError):
            self.env["crm.mailbox"].with_user(self.attacker).create(
                {
                    "user_id": self.victim.id,
                    "host": "127.0.0.1",
                    "port": self.dovecot.imap_port,
                    "security": "none",
                    "login": self.attacker_login,
                    "password": self.attacker_pw,
                }
            )
        self.assertEqual(self.state_of(self.attacker_box), before)
        self.assertEqual(
            self.env["crm.mailbox"].sudo().search([("user_id", "=", self.victim.id)]),
            self.victim_box,
        )
        # The victim sends mail from CRM: its Sent copy goes to the victim's own mailbox only.
        message = self.deal_1.with_user(self.victim).message_post(
            body="<p>Our offer</p>",
            subject="Offer for Joe",
            partner_ids=self.joe.ids,
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
        )
        Pending = self.env["crm.mailbox.pending.append"].sudo()
        pending = Pending.search([("message_id", "=", message.message_id)])
        self.assertEqual(pending.mailbox_id, self.victim_box)
        raw = make_mail(self.victim_login, "joe@acme.example", subject="Offer for Joe")
        Pending._crm_on_sent(message.message_id, raw)
        self.assertEqual(pending.state, "done", pending.last_error)
        self.assertEqual(len(self.sent_folder(self.victim_login, self.victim_pw)), 1)
        self.assertEqual(self.sent_folder(self.attacker_login, self.attacker_pw), [])

    # ------------------------------------------------------------------ buttons
    def test_buttons_on_a_colleagues_mailbox_are_refused(self):
        victim_box = self.env["crm.mailbox"].with_user(self.attacker).browse(self.victim_box.id)
        before = self.state_of(self.victim_box)
        for action in (
            "action_pause",
            "action_sync_now",
            "action_test_connection",
            "action_retry_sent_copies",
        ):
            with self.subTest(action=action), self.assertRaises(AccessError) as caught:
                getattr(victim_box, action)()
            self.assertNotIn(self.victim_login, str(caught.exception))
        self.assertEqual(self.state_of(self.victim_box), before)
        self.victim_box.with_user(self.victim).action_pause()
        with self.assertRaises(AccessError):
            victim_box.action_resume()
        self.assertEqual(self.victim_box.sudo().state, "paused")
        with self.assertRaises(AccessError):
            victim_box.write({"state": "connected"})
        self.assertEqual(self.victim_box.sudo().state, "paused")

    def test_quarantine_of_a_colleague_is_out_of_reach(self):
        Quarantine = self.env["crm.mailbox.quarantine"].sudo()
        folder = (
            self.env["crm.mailbox.folder"]
            .sudo()
            .create({"mailbox_id": self.victim_box.id, "name": "INBOX", "role": "inbox"})
        )
        theirs = Quarantine.create(
            {"mailbox_id": self.victim_box.id, "folder_id": folder.id, "uid": 7, "reason": "Big"}
        )
        mine = Quarantine.create({"mailbox_id": self.attacker_box.id, "uid": 8, "reason": "Mine"})
        as_attacker = theirs.with_user(self.attacker)
        for action in ("action_skip", "action_retry"):
            with self.subTest(action=action), self.assertRaises(AccessError):
                getattr(as_attacker, action)()
        with self.assertRaises(AccessError):
            as_attacker.write({"state": "skipped"})
        # Nor can a row of one's own be moved onto the colleague's mailbox.
        with self.assertRaises(AccessError):
            mine.with_user(self.attacker).write({"mailbox_id": self.victim_box.id})
        with self.assertRaises(AccessError):
            mine.with_user(self.attacker).write({"folder_id": folder.id})
        self.assertEqual((theirs.state, theirs.attempts), ("pending", 1))
        self.assertEqual((mine.mailbox_id, mine.folder_id), (self.attacker_box, folder.browse()))
        # An administrator sees the row (Mailbox Health) but does not act for the owner.
        with self.assertRaises(AccessError):
            theirs.with_user(self.admin).action_skip()
        self.assertEqual(theirs.state, "pending")
        theirs.with_user(self.victim).action_skip()
        self.assertEqual(theirs.state, "skipped")

    # ------------------------------------------------------------------ password
    def test_admin_cannot_send_a_users_password_to_their_own_server(self):
        trap = RecordingImapServer()
        self.addCleanup(trap.stop)
        as_admin = self.victim_box.with_user(self.admin)
        as_admin.write({"host": "localhost", "port": trap.port})
        self.assertFalse(as_admin.has_password)
        # Test connection: refused before connecting.
        with self.assertRaises(UserError) as caught:
            as_admin.action_test_connection()
        self.assertIn("password again", str(caught.exception))
        # The scheduled sync: stops on the same plain error.
        self.env["crm.mailbox"]._cron_sync_mailboxes()
        self.assertEqual(self.victim_box.sudo().state, "error")
        self.assertIn("password again", self.victim_box.sudo().last_error)
        # A copy of sent mail waiting for the Sent folder.
        email = self.make_email(self.joe, owner=self.victim, subject="Sent from CRM")
        pending = (
            self.env["crm.mailbox.pending.append"]
            .sudo()
            .create(
                {
                    "mailbox_id": self.victim_box.id,
                    "email_id": email.id,
                    "message_id": email.message_id,
                    "state": "failed",
                    "raw": base64.b64encode(make_mail(self.victim_login, "joe@acme.example")),
                }
            )
        )
        pending._crm_append()
        self.assertEqual(pending.state, "failed")
        self.assertIn("password again", pending.last_error)
        # Pointing it back does not bring the password back either.
        as_admin.write({"host": "127.0.0.1", "port": self.dovecot.imap_port})
        self.assertFalse(as_admin.has_password)
        self.assertEqual(trap.connections, 0)
        self.assertNotIn(self.victim_pw.encode(), trap.received)

    def test_password_never_follows_a_server_changed_outside_write(self):
        """Whatever path moves the server (SQL, a script), the saved password stays home."""
        trap = RecordingImapServer()
        self.addCleanup(trap.stop)
        self.env.cr.execute(
            "UPDATE crm_mailbox SET host = 'localhost', port = %s WHERE id = %s",
            [trap.port, self.victim_box.id],
        )
        self.victim_box.invalidate_recordset()
        self.victim_box.sudo()._sync()
        self.assertEqual(self.victim_box.sudo().state, "error")
        self.assertIn("password again", self.victim_box.sudo().last_error)
        self.assertEqual(trap.connections, 0)
        self.assertNotIn(self.victim_pw.encode(), trap.received)
