"""Packaging for crm_mail_channel: the Odoo 18 addon and its Odoo-free core package.

Odoo 18 itself is a prerequisite that is not on PyPI; see README.md.
"""

from pathlib import Path

from setuptools import find_packages, setup

ADDON_DATA = [
    "__manifest__.py",
    "*.xml",
    "data/*.xml",
    "demo/*.xml",
    "i18n/*.pot",
    "i18n/*.po",
    "security/*.xml",
    "security/*.csv",
    "views/*.xml",
    "wizard/*.xml",
    "static/description/*",
    "static/src/**/*",
]

setup(
    name="crm-mail-channel",
    version="18.0.1.0.0",
    description="Odoo 18 CRM email channel: mailbox sync, sharing, deal linking, "
    "domain authentication",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="LGPL-3.0-only",
    python_requires=">=3.10",
    packages=find_packages(
        include=[
            "crm_mail_channel",
            "crm_mail_channel.*",
            "crm_mail_channel_hr",
            "crm_mail_channel_hr.*",
            "crm_mail_channel_core",
            "crm_mail_channel_core.*",
        ]
    ),
    package_data={"crm_mail_channel": ADDON_DATA, "crm_mail_channel_hr": ADDON_DATA},
    include_package_data=True,
    install_requires=[
        "imapclient>=3.0",
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
