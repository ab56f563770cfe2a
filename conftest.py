"""pytest-odoo support: mark the test thread as Odoo's own runner does.

Odoo's runner sets ``threading.current_thread().testing``; code paths that commit (crons)
check it, as Odoo's core crons do. Without it, a cron called from a test under pytest-odoo
would commit the test's transaction. This file sits at the top of the repository, outside the
addon, so that pytest does not import the addon as a plain package; layer 1 is unaffected.
"""

import threading

import pytest


@pytest.fixture(autouse=True, scope="session")
def odoo_testing_thread():
    thread = threading.current_thread()
    previous = getattr(thread, "testing", False)
    thread.testing = True
    yield
    thread.testing = previous
