"""Takes the README's screenshots of a running demo (scripts/demo) with headless Chromium.

    python3 scripts/screenshots.py [--url http://localhost:8069] [--out docs/screenshots]

Drives Chromium through the DevTools protocol (websocket-client), logs in as admin/admin and
captures the main screens.
"""

import argparse
import base64
import json
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import websocket

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1400,900",
]


class Browser:
    def __init__(self, port=9333):
        self.profile = tempfile.mkdtemp(prefix="cmc-shots-")
        self.proc = subprocess.Popen(
            [
                "chromium",
                *CHROMIUM_FLAGS,
                f"--remote-debugging-port={port}",
                f"--user-data-dir={self.profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json"))
                page = next(t for t in targets if t["type"] == "page")
                break
            except (OSError, StopIteration):
                time.sleep(0.1)
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60)
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.next_id:
                return reply.get("result", {})

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True)
        return result.get("result", {}).get("value")

    def goto(self, url, settle=2.5):
        self.call("Page.navigate", url=url)
        time.sleep(settle)

    def wait_for(self, selector, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.evaluate(f"!!document.querySelector({json.dumps(selector)})"):
                return True
            time.sleep(0.25)
        return False

    def click(self, selector):
        self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        Path(path).write_bytes(base64.b64decode(data))
        print(f"saved {path}")

    def close(self):
        self.ws.close()
        self.proc.terminate()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://localhost:8069")
    parser.add_argument("--out", default="docs/screenshots")
    parser.add_argument("--database", default="crm_mail_demo")
    parser.add_argument("--company", default="Northwind Traders")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    browser = Browser()
    try:
        browser.call("Page.enable")
        browser.goto(f"{args.url}/web/login")
        browser.evaluate(
            "fetch('/web/session/authenticate', {method: 'POST', headers: {'Content-Type': "
            "'application/json'}, body: JSON.stringify({jsonrpc: '2.0', method: 'call', params: "
            f"{{db: {json.dumps(args.database)}, login: 'admin', password: 'admin'}}}})}})"
            ".then(r => r.json())"
            ".then(r => r.result ? 'ok' : JSON.stringify(r.error))"
        )
        time.sleep(4)
        company_id = browser.evaluate(
            "fetch('/web/dataset/call_kw', {method: 'POST', headers: {'Content-Type': "
            "'application/json'}, body: JSON.stringify({jsonrpc: '2.0', method: 'call', params: "
            "{model: 'res.partner', method: 'search', args: [[['name', '=', "
            f"{json.dumps(args.company)}]]], kwargs: {{limit: 1}}}}}})}})"
            ".then(r => r.json()).then(r => r.result[0])"
        )
        shots = [
            ("company-emails", f"/odoo/contacts/{company_id}", ".o_form_view", "emails"),
            ("email-list", "/odoo/action-crm_mail_channel.crm_email_action", ".o_list_view", None),
            (
                "my-mailbox",
                "/odoo/my-mailbox",
                ".o_form_view",
                None,
            ),
            (
                "mailbox-health",
                "/odoo/action-crm_mail_channel.crm_mailbox_action_health",
                ".o_list_view",
                None,
            ),
            ("settings-sharing", "/odoo/settings#crm", ".o_setting_container", "@Email Sharing"),
            (
                "email-domains",
                "/odoo/action-crm_mail_channel.crm_mail_domain_action",
                ".o_view_controller",
                None,
            ),
            (
                "sales-inbox",
                "/odoo/action-crm_mail_channel.action_sales_inbox",
                ".o_action_manager .o_action",
                None,
            ),
        ]
        for name, path, selector, tab in shots:
            browser.goto(f"{args.url}{path}", settle=3)
            browser.wait_for(selector)
            if tab and tab.startswith("@"):  # scroll a settings block into view
                browser.evaluate(
                    "[...document.querySelectorAll('h2, .o_setting_box, .o_form_label')]"
                    f".find(e => e.textContent.trim() === {json.dumps(tab[1:])})"
                    "?.scrollIntoView({block: 'start'})"
                )
                time.sleep(1)
            elif tab:
                browser.evaluate(
                    "[...document.querySelectorAll('.o_notebook .nav-link')]"
                    f".find(a => a.textContent.trim().toLowerCase() === {json.dumps(tab)})?.click()"
                )
                time.sleep(1.5)
            browser.screenshot(out / f"{name}.png")
        # An email's own form: open the first row of the list.
        browser.goto(f"{args.url}/odoo/action-crm_mail_channel.crm_email_action", settle=3)
        browser.wait_for(".o_data_row")
        browser.click(".o_data_row .o_data_cell")
        time.sleep(3)
        browser.screenshot(out / "email-form.png")
    finally:
        browser.close()


if __name__ == "__main__":
    main()
