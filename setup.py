"""The Odoo-free core distribution, crm-mail-channel-core, plus the development extras.

The two addons are packaged separately, the OCA way: each addon folder has a pyproject.toml
built by `whool` into an `odoo-addon-<name>` wheel that installs under the `odoo.addons`
namespace and requires this distribution (listed in the addon's external_dependencies).
`crm_mail_channel_testing/` (server launchers, sample mail, the sharing reference model) is
test support: it stays in the repository and is not part of any distribution.

Development: `python3 -m pip install -e .[test,lint] --config-settings editable_mode=compat`
(scripts/bootstrap.sh does it); compat mode puts the repository root on sys.path, so the
test-support package is importable by Odoo's runner started from any folder.
"""

from pathlib import Path

from setuptools import setup

setup(
    name="crm-mail-channel-core",
    version="18.0.1.0.0",
    description="Plain-Python core of the crm_mail_channel Odoo addon: IMAP/POP3 sync driver, "
    "MIME parsing, deal linking, DNS/SPF/DKIM checks",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="LGPL-3.0-only",
    python_requires=">=3.10",
    packages=["crm_mail_channel_core"],
    install_requires=[
        "imapclient>=3.0",
        "aioimaplib>=2.0",  # push service (crm_mail_channel_core.push)
        "dnspython>=2.4",
        "dkimpy>=1.1",
        "pyspf>=2.0.14",
        "cryptography>=3.4",
    ],
    extras_require={
        "test": [
            "pytest>=7",
            "pytest-odoo>=2.0",
            "hypothesis>=6",
            "aiosmtpd>=1.4",
            "websocket-client>=1.6",
            "psutil>=5.9",
        ],
        "lint": ["ruff>=0.5", "pylint-odoo>=9"],
    },
    classifiers=[
        "Framework :: Odoo",
        "Framework :: Odoo :: 18.0",
        "License :: OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)",
        "Programming Language :: Python :: 3",
    ],
)
