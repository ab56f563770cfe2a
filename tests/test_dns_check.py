"""DNS lookups and DMARC against a real Knot server whose records change during the test."""

from __future__ import annotations

import time

import pytest

from crm_mail_channel_core.dmarc_check import (
    check_dmarc,
    dmarc_record_name,
    lookup_dmarc,
    recommended_dmarc,
)
from crm_mail_channel_core.dns_check import (
    CheckResult,
    lookup_txt,
    make_resolver,
    normalize_domain,
    parse_nameservers,
    resolve_records,
)
from crm_mail_channel_core.domain_errors import DnsTimeout, MailChannelError

from .dns_fixtures import (  # noqa: F401 - fixtures
    blackhole_fixture,
    domain_fixture,
    knot_fixture,
    resolver_fixture,
    slow_resolver_fixture,
)


class TestNameserverSetting:
    def test_parses_comma_separated_entries_with_ports(self):
        value = " 127.0.0.1:10053, 192.0.2.1 ,[2001:db8::1]:5353, 2001:db8::2 "
        assert parse_nameservers(value) == [
            "127.0.0.1:10053",
            "192.0.2.1",
            "[2001:db8::1]:5353",
            "2001:db8::2",
        ]

    def test_default_port_is_dropped_and_empty_means_system(self):
        assert parse_nameservers("10.0.0.1:53") == ["10.0.0.1"]
        assert parse_nameservers("") == []
        assert parse_nameservers(None) == []

    @pytest.mark.parametrize("value", ["dns.google", "127.0.0.1:0", "127.0.0.1:abc", "[::1"])
    def test_rejects_what_is_not_an_address(self, value):
        with pytest.raises(ValueError):
            parse_nameservers(value)

    def test_resolver_uses_given_servers_without_cache(self, knot):
        res = make_resolver([knot.nameserver, f"127.0.0.2:{knot.port}"], timeout=1.5)
        assert res.cache is None
        assert res.lifetime == 1.5
        assert [(ns.address, ns.port) for ns in res.nameservers] == [
            ("127.0.0.1", knot.port),
            ("127.0.0.2", knot.port),
        ]
        assert res.port == knot.port

    def test_servers_may_use_different_ports(self, knot):
        res = make_resolver([f"127.0.0.1:{knot.port}", "192.0.2.1"])
        assert [ns.port for ns in res.nameservers] == [knot.port, 53]

    def test_system_resolver_when_no_servers_given(self):
        res = make_resolver(None)
        assert res.cache is None
        assert res.nameservers  # read from /etc/resolv.conf


class TestLookupTxt:
    def test_long_value_split_in_strings_comes_back_joined(self, knot, resolver, domain):
        value = "v=DKIM1; k=rsa; p=" + "A" * 600
        knot.set_txt(domain, value)
        records = resolve_records(resolver, domain, "TXT")
        assert [len(s) for s in records.rdatas[0].strings] == [255, 255, 108]
        assert lookup_txt(resolver, domain) == [value]

    def test_explicit_strings_and_several_records(self, knot, resolver, domain):
        knot.set_txt(domain, [["v=spf1 ", "mx -all"], ["other"]])
        assert sorted(lookup_txt(resolver, domain)) == ["other", "v=spf1 mx -all"]

    def test_absent_name_and_name_without_txt_give_none(self, knot, resolver, domain):
        assert lookup_txt(resolver, domain) is None
        knot.set_a(domain, "192.0.2.1")
        assert lookup_txt(resolver, domain) is None

    def test_changes_are_seen_at_once(self, knot, resolver, domain):
        knot.set_txt(domain, "first")
        assert lookup_txt(resolver, domain) == ["first"]
        knot.set_txt(domain, "second")
        assert lookup_txt(resolver, domain) == ["second"]
        knot.delete(domain, "TXT")
        assert lookup_txt(resolver, domain) is None

    def test_cname_in_same_zone_and_across_zones_is_followed(self, knot, resolver, domain):
        label = domain.split(".")[0]
        target_same = f"target.{domain}"
        target_other = f"{label}.other.test"
        knot.set_txt(target_same, "same zone")
        knot.set_txt(target_other, "other zone")
        knot.set_cname(f"a.{domain}", target_same)
        knot.set_cname(f"b.{domain}", target_other)
        assert lookup_txt(resolver, f"a.{domain}") == ["same zone"]
        assert lookup_txt(resolver, f"b.{domain}") == ["other zone"]
        found = resolve_records(resolver, f"b.{domain}", "TXT")
        assert found.canonical_name == target_other

    def test_cname_to_nothing_gives_none(self, knot, resolver, domain):
        knot.set_cname(domain, f"missing.{domain}")
        assert lookup_txt(resolver, domain) is None

    def test_added_zone_is_served(self, knot, resolver):
        knot.add_zone("late.test")
        knot.set_txt("late.test", "hello")
        assert lookup_txt(resolver, "late.test") == ["hello"]

    def test_silent_server_raises_dns_timeout_quickly(self, slow_resolver):
        started = time.monotonic()
        with pytest.raises(DnsTimeout) as info:
            lookup_txt(slow_resolver, "example.test")
        assert time.monotonic() - started < 2
        assert isinstance(info.value, MailChannelError)
        assert "did not answer" in info.value.user_message

    def test_refusing_server_raises_dns_timeout(self, resolver):
        # Knot refuses names outside its zones: no usable answer, so "not yet", not "absent".
        with pytest.raises(DnsTimeout):
            lookup_txt(resolver, "somewhere.invalid")

    @pytest.mark.parametrize("bad", ["", "user@example.com", "two words.com", "a..b"])
    def test_normalize_domain_rejects_non_names(self, bad):
        with pytest.raises(ValueError):
            normalize_domain(bad)

    def test_normalize_domain(self):
        assert normalize_domain(" Example.COM. ") == "example.com"
        assert normalize_domain("bücher.example") == "xn--bcher-kva.example"


class TestCheckResult:
    def test_status_is_validated(self):
        with pytest.raises(ValueError):
            CheckResult("ok", "x", "y")
        result = CheckResult("pending", "dns_timeout", "later")
        assert result.pending and not result.passed
        assert result.details == {}


class TestDmarc:
    def test_missing_then_published(self, knot, resolver, domain):
        assert lookup_dmarc(resolver, domain) is None
        result = check_dmarc(resolver, domain)
        assert (result.status, result.code) == ("fail", "dmarc_missing")
        assert "v=DMARC1; p=none" in result.message
        knot.set_txt(dmarc_record_name(domain), ["unrelated", "v=DMARC1; p=reject"])
        assert lookup_dmarc(resolver, domain) == "v=DMARC1; p=reject"
        assert check_dmarc(resolver, domain).code == "dmarc_ok"

    def test_recommended_record(self):
        assert recommended_dmarc("example.com") == "v=DMARC1; p=none"
        assert (
            recommended_dmarc("example.com", "mailto:dmarc@example.com")
            == "v=DMARC1; p=none; rua=mailto:dmarc@example.com"
        )
        assert recommended_dmarc("example.com", "r@example.com").endswith(
            "rua=mailto:r@example.com"
        )
        with pytest.raises(ValueError):
            recommended_dmarc("example.com", "not-an-address")

    def test_timeout_is_pending(self, slow_resolver):
        result = check_dmarc(slow_resolver, "example.test")
        assert (result.status, result.code) == ("pending", "dns_timeout")
