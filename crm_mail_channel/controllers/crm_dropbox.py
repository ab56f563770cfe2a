"""The current user's BCC dropbox as a vCard, to add it to an address book once."""

from odoo import http
from odoo.http import request


def vcard_text(name, address):
    """A vCard 3.0 for ``address`` (RFC 6350 escaping of the name)."""
    clean = "".join(ch for ch in (name or "") if ch >= " ")
    escaped = clean.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")
    return (
        "BEGIN:VCARD\r\nVERSION:3.0\r\n"
        f"FN:{escaped}\r\nN:{escaped};;;;\r\n"
        f"EMAIL;TYPE=INTERNET:{address}\r\nEND:VCARD\r\n"
    )


class CrmDropboxController(http.Controller):
    @http.route("/crm_mail_channel/dropbox/vcard", type="http", auth="user", methods=["GET"])
    def dropbox_vcard(self):
        # Always the logged-in user's own dropbox: no id in the URL, nothing to guess.
        user = request.env.user
        address = user.crm_dropbox_email
        if not address:
            return request.not_found()
        name = request.env._("CRM dropbox (%s)", user.name)
        body = vcard_text(name, address).encode("utf-8")
        return request.make_response(
            body,
            headers=[
                ("Content-Type", "text/vcard; charset=utf-8"),
                ("Content-Disposition", 'attachment; filename="crm-dropbox.vcf"'),
                ("Cache-Control", "no-store"),
            ],
        )
