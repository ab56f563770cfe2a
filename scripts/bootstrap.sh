#!/usr/bin/env bash
# Installs what crm_mail_channel's demo and tests need on a fresh Debian machine: the real
# servers the tests talk to (Dovecot, Knot, Chromium), this project's Python packages and,
# when ODOO_PATH points at an Odoo 18.0 checkout, Odoo itself for this python3.
# Idempotent: each step is skipped when already done.
#
# Odoo is not on PyPI, and the pins of Odoo 18's own requirements.txt no longer all build on
# current Pythons, so its dependencies come from scripts/odoo18-requirements.txt, a list this
# project keeps and tests. The checkout is installed in setuptools' "compat" editable mode:
# a modern editable install hides the addons that pip installs into the odoo.addons namespace.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[bootstrap] %s\n' "$*"; }
export PIP_ROOT_USER_ACTION=ignore
pip_install() { python3 -m pip install -q --disable-pip-version-check "$@"; }

# ---- Odoo checkout (only with ODOO_PATH) ------------------------------------------------------
# Prints "ok" when python3 imports Odoo 18.0 from $1 with $1 itself on sys.path (compat mode).
odoo_installed_from() {
    (cd /tmp && python3 - "$1" <<'PY' 2>/dev/null) || true
import os, sys
want = os.path.realpath(sys.argv[1])
import odoo.release
here = os.path.realpath(os.path.dirname(os.path.dirname(odoo.__file__)))
on_path = any(os.path.realpath(p or ".") == want for p in sys.path)
print("ok" if here == want and on_path and odoo.release.version_info[:2] == (18, 0) else "")
PY
}

odoo_wanted=0
if [ -n "${ODOO_PATH:-}" ]; then
    ODOO_PATH=$(cd "$ODOO_PATH" 2>/dev/null && pwd) || {
        echo "ODOO_PATH: no such folder" >&2
        exit 1
    }
    if ! grep -qE "^version_info = \(18, 0," "$ODOO_PATH/odoo/release.py" 2>/dev/null; then
        echo "ODOO_PATH=$ODOO_PATH is not an Odoo 18.0 checkout (no odoo/release.py of 18.0)." >&2
        echo "Clone one with: git clone --depth 1 --branch 18.0 https://github.com/odoo/odoo.git" >&2
        exit 1
    fi
    [ "$(odoo_installed_from "$ODOO_PATH")" = ok ] || odoo_wanted=1
fi

# ---- Debian packages ----------------------------------------------------------------------------
need_apt=()
missing_deb() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed" || need_apt+=("$1"); }
command -v dovecot >/dev/null 2>&1 || need_apt+=(dovecot-imapd dovecot-pop3d)
command -v knotd >/dev/null 2>&1 || [ -x /usr/sbin/knotd ] || need_apt+=(knot)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v createdb >/dev/null 2>&1 || need_apt+=(postgresql-client)
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
if [ "$odoo_wanted" = 1 ] && command -v dpkg-query >/dev/null 2>&1; then
    # python-ldap and psycopg2 build from source against these.
    for deb in libldap2-dev libsasl2-dev libpq-dev; do missing_deb "$deb"; done
    command -v gcc >/dev/null 2>&1 || need_apt+=(build-essential)
    python3 -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
        || need_apt+=(python3-dev)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "installing Debian packages: ${need_apt[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >/dev/null
        apt-get install -y -q --no-install-recommends "${need_apt[@]}" >/dev/null
    else
        log "missing system packages: ${need_apt[*]} (install them with your package manager)"
        exit 1
    fi
fi

# Debian's own python3 refuses pip installs outside a virtualenv (PEP 668). Outside a
# virtualenv, as root, this machine's python3 is the one the project runs on: install into it.
if [ "$(id -u)" = 0 ] && python3 -c 'import sys; sys.exit(sys.prefix != sys.base_prefix)' \
    && [ -f "$(python3 -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')/EXTERNALLY-MANAGED" ]; then
    export PIP_BREAK_SYSTEM_PACKAGES=1
fi

# ---- Odoo's Python dependencies and the checkout ------------------------------------------------
if [ "$odoo_wanted" = 1 ]; then
    log "installing Odoo 18's Python dependencies (scripts/odoo18-requirements.txt; a few minutes the first time)"
    pip_install -r scripts/odoo18-requirements.txt
    log "installing the Odoo checkout $ODOO_PATH (editable, compat mode)"
    pip_install --no-deps -e "$ODOO_PATH" --config-settings editable_mode=compat
    if [ "$(odoo_installed_from "$ODOO_PATH")" != ok ]; then
        echo "python3 still does not import Odoo 18.0 from $ODOO_PATH after installing it." >&2
        exit 1
    fi
elif [ -n "${ODOO_PATH:-}" ]; then
    log "Odoo 18.0 from $ODOO_PATH is already installed for python3"
fi

# ---- OCA queue_job, for the bridge crm_mail_channel_queue_job (its tests are layer 2d) ----------
# --no-deps: the wheel requires "odoo", which pip would otherwise fetch from PyPI over the
# checkout; its one other requirement, requests, is in scripts/odoo18-requirements.txt. Newer
# 18.0 releases use odoo.api.private, which older Odoo 18.0 checkouts lack.
QUEUE_JOB_VERSION=18.0.1.7.0.1
queue_job_installed=$(cd /tmp && python3 -c \
    'import importlib.metadata as m; print(m.version("odoo-addon-queue-job"))' 2>/dev/null || true)
if (cd /tmp && python3 -c "import odoo.release" 2>/dev/null) \
    && [ "$queue_job_installed" != "$QUEUE_JOB_VERSION" ]; then
    log "installing odoo-addon-queue-job==$QUEUE_JOB_VERSION (no dependencies)"
    pip_install --no-deps "odoo-addon-queue-job==$QUEUE_JOB_VERSION"
fi

# ---- this project ------------------------------------------------------------------------------
stamp=.run/bootstrap.stamp
mkdir -p .run
# Reinstall when setup.py changed, when the installed core is another checkout's, or when the
# test-support package at the repository root is not importable from elsewhere (compat mode).
installed_from=$(cd /tmp && python3 -c '
import os, crm_mail_channel_core as m, crm_mail_channel_testing  # noqa: F401
print(os.path.dirname(os.path.dirname(m.__file__)))' 2>/dev/null || true)
if [ ! -f "$stamp" ] || [ setup.py -nt "$stamp" ] || [ "$installed_from" != "$(pwd)" ]; then
    # The project was once one distribution named crm-mail-channel: drop it if still there.
    if python3 -c 'import importlib.metadata as m; m.version("crm-mail-channel")' 2>/dev/null; then
        python3 -m pip uninstall -y -q crm-mail-channel
    fi
    log "installing Python packages (pip install -e .[test,lint], compat mode)"
    pip_install -e ".[test,lint]" --config-settings editable_mode=compat
    touch "$stamp"
fi
