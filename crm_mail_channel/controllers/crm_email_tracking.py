"""Email Insights routes: the recipient's pixel and tracked links.

Every request is recorded, classified (crm_mail_channel_core.tracking_origin), machine or not:
unlike link_tracker's ``/r/<code>``, which ignores what ``is_a_bot()`` matches and answers
301 (cached by browsers, so later clicks are never seen), links answer 302 to the original
URL and the pixel is never cached. The token is the only key (unguessable, compared in
constant time); an unknown token records nothing.
"""

import base64
import logging

import psycopg2
from odoo import http
from odoo.http import request
from werkzeug.exceptions import NotFound

_logger = logging.getLogger(__name__)

PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_CACHE = [
    ("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0"),
    ("Pragma", "no-cache"),
    ("Expires", "0"),
]


def _hit(token, event_type, url=None):
    httprequest = request.httprequest
    try:
        with request.env.cr.savepoint():
            # sudo: public route; the unguessable token is the check (_crm_find_by_token).
            request.env["crm.email.tracking"].sudo()._crm_register_hit(
                token,
                event_type,
                method=httprequest.method,
                user_agent=httprequest.headers.get("User-Agent", ""),
                ip=httprequest.remote_addr or "",
                session_uid=request.session.uid,
                url=url,
            )
    except psycopg2.errors.SerializationFailure:
        raise  # Odoo retries the whole request
    except Exception:  # the reader gets the image or the page whatever happens here
        _logger.exception("Email Insights: could not record a %s", event_type)


class CrmEmailTrackingController(http.Controller):
    @http.route(
        "/crm_mail/t/<string:token>/o.gif",
        type="http",
        auth="public",
        methods=["GET", "HEAD"],
        csrf=False,
        save_session=False,
    )
    def crm_mail_open(self, token, **kwargs):
        _hit(token, "open")
        headers = [("Content-Type", "image/gif"), ("Content-Length", str(len(PIXEL_GIF)))]
        return request.make_response(PIXEL_GIF, headers + NO_CACHE)

    @http.route(
        "/crm_mail/t/<string:token>/c/<string:code>",
        type="http",
        auth="public",
        methods=["GET", "HEAD"],
        csrf=False,
        save_session=False,
    )
    def crm_mail_click(self, token, code, **kwargs):
        url = request.env["link.tracker"].get_url_from_code(code)
        if not url:
            raise NotFound()
        _hit(token, "click", url=url)
        response = request.redirect(url, code=302, local=False)
        for name, value in NO_CACHE:
            response.headers[name] = value
        return response
