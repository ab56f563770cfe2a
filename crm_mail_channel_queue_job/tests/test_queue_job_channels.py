"""Channel capacities: queue_job's own job runner channels, configured with the line the
README recommends, and the channels of the jobs the bridge really creates."""

import re
from pathlib import Path

from odoo.addons.queue_job.jobrunner.channels import ChannelManager
from odoo.tests import tagged

from crm_mail_channel_core.presets import PROVIDER_FAMILIES

from .common import QueueJobCommon

README = Path(__file__).resolve().parents[1] / "README.rst"


def recommended_channels():
    """The ``channels = ...`` line of the addon's README."""
    match = re.search(r"^\s*channels = (\S+)$", README.read_text(encoding="utf-8"), re.M)
    assert match, "README.rst gives no channels line"
    return match.group(1)


@tagged("post_install", "-at_install")
class TestQueueJobChannels(QueueJobCommon):
    def setUp(self):
        super().setUp()
        self.manager = ChannelManager()
        self.manager.simple_configure(recommended_channels())
        self.seq = 0

    def notify(self, channel, state="pending", uuid=None):
        self.seq += 1
        uuid = uuid or f"job-{self.seq}"
        self.manager.notify(self.env.cr.dbname, channel, uuid, self.seq, 0, 10, None, state)
        return uuid

    def test_at_most_two_gmail_syncs_run_at_once(self):
        for _ in range(10):
            self.notify("root.crm_mail.gmail")
        first = [job.uuid for job in self.manager.get_jobs_to_run(now=100)]
        self.assertEqual(len(first), 2)
        self.assertEqual(list(self.manager.get_jobs_to_run(now=101)), [])
        # Other providers still run while Gmail is full.
        self.notify("root.crm_mail.microsoft")
        self.assertEqual(len(list(self.manager.get_jobs_to_run(now=102))), 1)
        # One Gmail sync ends: exactly one more starts.
        self.notify("root.crm_mail.gmail", state="done", uuid=first[0])
        self.assertEqual(len(list(self.manager.get_jobs_to_run(now=103))), 1)
        self.assertEqual(list(self.manager.get_jobs_to_run(now=104)), [])

    def test_all_providers_together_stay_within_root_crm_mail(self):
        for family in PROVIDER_FAMILIES:
            for _ in range(5):
                self.notify(f"root.crm_mail.{family}")
        running = list(self.manager.get_jobs_to_run(now=100))
        capacity = self.manager.get_channel_by_name("root.crm_mail").capacity
        self.assertEqual(len(running), capacity)
        per_channel = {}
        for job in running:
            per_channel[job.channel.fullname] = per_channel.get(job.channel.fullname, 0) + 1
        for name, count in per_channel.items():
            self.assertLessEqual(count, self.manager.get_channel_by_name(name).capacity)

    def test_the_jobs_the_bridge_creates_go_to_configured_channels(self):
        mailboxes = self.Mailbox.browse()
        for family in PROVIDER_FAMILIES:
            preset = "other_imap" if family == "other" else family
            mailboxes |= self.make_mailbox(self.user_a, preset=preset)[0]
        # A mailbox without a preset counts against the provider its server belongs to.
        scripted = self.make_mailbox(self.user_b)[0]
        scripted.sudo().host = "imap.gmail.com"  # sudo: test fixture (no password check)
        self.Mailbox._cron_sync_mailboxes()
        jobs = self.jobs_of(mailboxes | scripted)
        self.assertEqual(len(jobs), len(PROVIDER_FAMILIES) + 1)
        self.assertEqual(
            set(jobs.mapped("channel")),
            {f"root.crm_mail.{family}" for family in PROVIDER_FAMILIES},
        )
        self.assertEqual(self.jobs_of(scripted).channel, "root.crm_mail.gmail")
        for job in jobs:
            channel = self.manager.get_channel_by_name(job.channel, parent_fallback=True)
            self.assertEqual(channel.fullname, job.channel)  # configured, not a fallback
            self.assertTrue(channel.capacity)
            self.notify(job.channel, uuid=job.uuid)
        # Seven mailboxes of six providers: root.crm_mail's capacity (6) is the bound.
        capacity = self.manager.get_channel_by_name("root.crm_mail").capacity
        self.assertEqual(len(list(self.manager.get_jobs_to_run(now=100))), capacity)
        # The channel records exist for the job queue's screens.
        names = set(
            self.env["queue.job.channel"]
            .search([("complete_name", "=like", "root.crm_mail.%")])
            .mapped("complete_name")
        )
        self.assertEqual(names, {f"root.crm_mail.{family}" for family in PROVIDER_FAMILIES})
