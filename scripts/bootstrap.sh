#!/usr/bin/env bash
# Installs what crm_mail_channel's demo and tests need on a fresh Debian machine:
# the real servers the tests talk to (Dovecot, Knot, Chromium) and the Python packages.
# Idempotent: each step is skipped when already done. Odoo 18 itself is a prerequisite
# (see README.md): this script does not install it.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[bootstrap] %s\n' "$*"; }

need_apt=()
command -v dovecot >/dev/null 2>&1 || need_apt+=(dovecot-imapd dovecot-pop3d)
command -v knotd >/dev/null 2>&1 || [ -x /usr/sbin/knotd ] || need_apt+=(knot)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v createdb >/dev/null 2>&1 || need_apt+=(postgresql-client)
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

stamp=.run/bootstrap.stamp
mkdir -p .run
# Reinstall when setup.py changed, or when the installed package is another checkout's.
installed_from=$(cd /tmp && python3 -c \
    'import crm_mail_channel_core as m, os; print(os.path.dirname(os.path.dirname(m.__file__)))' \
    2>/dev/null || true)
if [ ! -f "$stamp" ] || [ setup.py -nt "$stamp" ] || [ "$installed_from" != "$(pwd)" ]; then
    log "installing Python packages (pip install -e .[test,lint])"
    python3 -m pip install -q --disable-pip-version-check -e ".[test,lint]"
    touch "$stamp"
fi
