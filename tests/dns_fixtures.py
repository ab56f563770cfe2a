"""Fixtures for the domain-authentication tests: a real Knot DNS and a real SMTP sink.

Test modules import the fixtures they use (``from .dns_fixtures import knot_fixture``; pytest
registers it under its ``name=``, ``knot``), so conftest.py stays untouched and the test
arguments do not shadow the imports. Every test gets its own names under the shared zones, so tests
need no clean-up and can run in any order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import dns.resolver
import pytest

from crm_mail_channel_core.dkim_sign import generate_key_pair
from crm_mail_channel_core.dns_check import make_resolver
from crm_mail_channel_testing.knot import (
    Blackhole,
    KnotServer,
    blackhole_nameserver,
    ensure_knot,
)
from crm_mail_channel_testing.smtp_sink import SmtpSink, ensure_smtp_sink

ZONES = ("example.test", "customer.test", "acme.test", "other.test")
PROVIDER_SPF = "spf.example.test"  # the "ESP" include every customer must add
PROVIDER_IPS = "192.0.2.0/24"
SENDING_IP = "192.0.2.25"
FOREIGN_IP = "198.51.100.7"


@pytest.fixture(scope="session", name="knot")
def knot_fixture() -> KnotServer:
    server = ensure_knot(ZONES)
    server.set_txt(PROVIDER_SPF, f"v=spf1 ip4:{PROVIDER_IPS} -all")
    return server


@pytest.fixture(name="resolver")
def resolver_fixture(knot: KnotServer) -> dns.resolver.Resolver:
    return make_resolver([knot.nameserver], timeout=2.0)


@pytest.fixture(name="domain")
def domain_fixture(knot: KnotServer) -> str:
    """A fresh customer domain (a unique name under customer.test)."""
    return f"d{uuid.uuid4().hex[:10]}.customer.test"


@pytest.fixture(name="blackhole")
def blackhole_fixture() -> Iterator[Blackhole]:
    with blackhole_nameserver() as hole:
        yield hole


@pytest.fixture(name="slow_resolver")
def slow_resolver_fixture(blackhole: Blackhole) -> dns.resolver.Resolver:
    """A resolver whose only server never answers."""
    return make_resolver([blackhole.nameserver], timeout=0.4)


@pytest.fixture(scope="session", name="smtp_sink")
def smtp_sink_fixture() -> SmtpSink:
    return ensure_smtp_sink()


@pytest.fixture(scope="session", name="key_pair")
def key_pair_fixture() -> tuple[bytes, str]:
    return generate_key_pair()


@pytest.fixture(scope="session", name="other_key_pair")
def other_key_pair_fixture() -> tuple[bytes, str]:
    return generate_key_pair()
