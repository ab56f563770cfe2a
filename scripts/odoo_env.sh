# Sourced by scripts/test and scripts/demo: finds Odoo 18 and sets ODOO_OK, ODOO_ADDONS,
# DB_ARGS. Odoo is found through the interpreter (`python3 -c "import odoo"`), never by path.
ODOO_OK=0
ODOO_PROBLEM=""
if python3 - <<'PY' 2>/dev/null
import odoo.release, sys
sys.exit(0 if odoo.release.version_info[:2] == (18, 0) else 1)
PY
then
    ODOO_OK=1
else
    if python3 -c "import odoo" 2>/dev/null; then
        ODOO_PROBLEM="python3 imports an Odoo that is not 18.0 ($(python3 -c 'import odoo.release as r; print(r.version)'))"
    else
        ODOO_PROBLEM="python3 cannot import odoo"
    fi
fi
if [ "$ODOO_OK" = 1 ]; then
    # Odoo's own addons: beside the odoo package in a source checkout, inside it in a package.
    ODOO_ADDONS=$(python3 - <<'PY'
import os, odoo
pkg = os.path.dirname(odoo.__file__)
dirs = [os.path.join(os.path.dirname(pkg), "addons"), os.path.join(pkg, "addons")]
print(",".join(d for d in dirs if os.path.isdir(os.path.join(d, "crm"))))
PY
)
    ODOO_ADDONS="${ODOO_ADDONS_PATH:-$ODOO_ADDONS}"
fi
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DB_ARGS=(--db_host="${CMC_DB_HOST:-127.0.0.1}" --db_port="${CMC_DB_PORT:-5432}" --db_user="${CMC_DB_USER:-$(id -un)}")
export PGHOST="${CMC_DB_HOST:-127.0.0.1}" PGPORT="${CMC_DB_PORT:-5432}" PGUSER="${CMC_DB_USER:-$(id -un)}"

odoo_missing_help() {
    cat >&2 <<MSG
Odoo 18 is needed for this step, and ${ODOO_PROBLEM}.
Set ODOO_PATH to an Odoo 18.0 checkout, for example:

    git clone --depth 1 --branch 18.0 https://github.com/odoo/odoo.git ~/odoo-18.0
    ODOO_PATH=~/odoo-18.0 $0

With ODOO_PATH set, Odoo's Python dependencies (scripts/odoo18-requirements.txt) and the
checkout are installed for this python3 ($(command -v python3)), then the command goes on.
MSG
}
