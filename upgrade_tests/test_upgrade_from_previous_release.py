"""A database made by an earlier release, updated with ``-u`` by this one.

Each earlier release listed in PREVIOUS_RELEASE (commit and version, oldest first) is taken
from git into a scratch folder, so every release users may still run is updated in one step.
With that code, Odoo installs the addon and a seed script fills the database the way users
do: mailboxes in the test Dovecot, private, public and colleague mail, mail sent from CRM, a
deal link. Then this checkout's code updates the database with ``-u crm_mail_channel`` and a
check script asserts: nothing lost, nobody sees more than before, and the first syncs
afterwards (incremental, then a full re-read) duplicate nothing.
Needs Odoo 18 importable and git history (a clone has it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RELEASES = [
    tuple(line.split()[:2])
    for line in Path(__file__).with_name("PREVIOUS_RELEASE").read_text().splitlines()
    if line.strip()
]
SCRIPTS = Path(__file__).resolve().parent


def odoo_addons_path() -> str:
    import odoo

    package = Path(odoo.__file__).parent
    for candidate in (package.parent / "addons", package / "addons"):
        if (candidate / "crm").is_dir():
            return str(candidate)
    raise RuntimeError("Odoo's own addons (crm, mail) were not found")


def run(cmd, env, cwd="/tmp", stdin=None, log=None):
    result = subprocess.run(
        cmd, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=900
    )
    if log is not None:
        log.write_text(result.stdout + "\n" + result.stderr)
    assert result.returncode == 0, f"{cmd[:6]} failed:\n{result.stderr[-4000:]}"
    return result


def db_args():
    return [
        f"--db_host={os.environ.get('CMC_DB_HOST', '127.0.0.1')}",
        f"--db_port={os.environ.get('CMC_DB_PORT', '5432')}",
        f"--db_user={os.environ.get('CMC_DB_USER', os.environ.get('USER', 'root'))}",
    ]


@pytest.fixture(params=RELEASES, ids=[version for _commit, version in RELEASES])
def previous_release(request, tmp_path_factory):
    commit, version = request.param
    target = tmp_path_factory.mktemp("previous")
    archive = target / "prev.tar"
    subprocess.run(
        [
            "git",
            "-C",
            str(ROOT),
            "archive",
            "--format=tar",
            f"--output={archive}",
            commit,
            "crm_mail_channel",
            "crm_mail_channel_hr",
            "crm_mail_channel_core",
        ],
        check=True,
    )
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    # That release listed its own distribution as an external dependency; here its code comes
    # from this folder instead, so the check is dropped (the libraries it imports stay).
    manifest = target / "crm_mail_channel" / "__manifest__.py"
    manifest.write_text(manifest.read_text().replace(', "crm_mail_channel"]', "]"))
    return target, version


def test_update_from_previous_release(previous_release, tmp_path):
    previous_release, previous_version = previous_release
    from crm_mail_channel_testing.dovecot import ensure_dovecot

    dovecot = ensure_dovecot()
    database = f"cmc_upgrade_{uuid.uuid4().hex[:8]}"
    addons = odoo_addons_path()
    mailboxes = {name: dovecot.new_user(f"up{name}") for name in ("victim", "public", "boss")}
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "mailboxes": mailboxes,
                "host": dovecot.host,
                "port": dovecot.imap_port,
                "result": str(tmp_path / "before.json"),
            }
        )
    )
    from crm_mail_channel_testing.upgrade_mail import seed_messages

    for name, raws in seed_messages(mailboxes).items():
        login, password, folder = name
        dovecot.append_messages(login, password, folder, raws)

    base_env = dict(os.environ, CMC_UPGRADE_PLAN=str(plan), CMC_UPGRADE_FROM=previous_version)
    old_env = dict(base_env, PYTHONPATH=f"{previous_release}:{ROOT}")
    new_env = dict(base_env, PYTHONPATH=str(ROOT))
    odoo = [sys.executable, "-m", "odoo", "-d", database, *db_args(), "--stop-after-init"]
    subprocess.run(["dropdb", "--if-exists", database], check=False)
    try:
        run(
            [*odoo, f"--addons-path={addons},{previous_release}", "-i", "crm_mail_channel"],
            old_env,
            log=tmp_path / "install.log",
        )
        shell = [sys.executable, "-m", "odoo", "shell", "-d", database, *db_args(), "--no-http"]
        run(
            [*shell, f"--addons-path={addons},{previous_release}"],
            old_env,
            stdin=(SCRIPTS / "seed_previous_release.py").read_text(),
            log=tmp_path / "seed.log",
        )
        run(
            [*odoo, f"--addons-path={addons},{ROOT}", "-u", "crm_mail_channel"],
            new_env,
            log=tmp_path / "update.log",
        )
        result = run(
            [*shell, f"--addons-path={addons},{ROOT}"],
            new_env,
            stdin=(SCRIPTS / "check_after_update.py").read_text(),
            log=tmp_path / "check.log",
        )
        assert "UPGRADE CHECK OK" in result.stdout, result.stdout[-4000:] + result.stderr[-4000:]
    finally:
        subprocess.run(["dropdb", "--if-exists", database], check=False)
