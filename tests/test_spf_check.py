"""SPF: record suggestions, structural checks and pyspf evaluation against a real Knot."""

from __future__ import annotations

import pytest
import spf

from crm_mail_channel_core import spf_check
from crm_mail_channel_core.spf_check import (
    check_spf,
    evaluate_spf,
    is_spf_record,
    parse_spf,
    suggest_spf_record,
)

from .dns_fixtures import (  # noqa: F401 - fixtures
    FOREIGN_IP,
    PROVIDER_SPF,
    SENDING_IP,
    blackhole_fixture,
    domain_fixture,
    knot_fixture,
    resolver_fixture,
    slow_resolver_fixture,
)

INCLUDE = f"include:{PROVIDER_SPF}"


class TestSuggestion:
    def test_no_record_gives_new_one_with_softfail(self):
        assert suggest_spf_record([], INCLUDE) == f"v=spf1 {INCLUDE} ~all"
        assert suggest_spf_record(["google-site-verification=x"], INCLUDE) == (
            f"v=spf1 {INCLUDE} ~all"
        )

    def test_merges_before_the_all_term_keeping_policy(self):
        assert suggest_spf_record(["v=spf1 mx include:_spf.google.com -all"], INCLUDE) == (
            f"v=spf1 mx include:_spf.google.com {INCLUDE} -all"
        )
        assert suggest_spf_record(["v=spf1 a ?all"], "ip4:192.0.2.1 ip4:192.0.2.2") == (
            "v=spf1 a ip4:192.0.2.1 ip4:192.0.2.2 ?all"
        )

    def test_already_present_is_unchanged(self):
        record = f"v=spf1 mx {INCLUDE} -all"
        assert suggest_spf_record([record], INCLUDE) == record
        # An ip4 network already covering the address counts as present.
        assert suggest_spf_record(["v=spf1 ip4:192.0.2.0/24 -all"], "ip4:192.0.2.9") == (
            "v=spf1 ip4:192.0.2.0/24 -all"
        )

    def test_mechanism_after_all_is_moved_before_it(self):
        assert suggest_spf_record([f"v=spf1 mx -all {INCLUDE}"], INCLUDE) == (
            f"v=spf1 mx {INCLUDE} -all"
        )

    def test_inserted_before_modifiers_when_there_is_no_all(self):
        assert suggest_spf_record(["v=spf1 mx redirect=_spf.example.org"], INCLUDE) == (
            f"v=spf1 mx {INCLUDE} redirect=_spf.example.org"
        )

    def test_two_records_are_merged_into_one(self):
        suggestion = suggest_spf_record(
            ["v=spf1 mx -all", "v=spf1 include:mailgun.org ~all", "other"], INCLUDE
        )
        assert suggestion == f"v=spf1 mx include:mailgun.org {INCLUDE} -all"

    def test_required_must_be_a_passing_mechanism(self):
        for bad in ("-all", "redirect=x.example", "-include:x.example", "bogus:x"):
            with pytest.raises(ValueError):
                suggest_spf_record([], bad)

    def test_parsing(self):
        assert is_spf_record("v=spf1 -all") and is_spf_record("V=SPF1")
        assert not is_spf_record("v=spf10 -all")
        terms = parse_spf("v=spf1 +a mx/24 ~include:X.example ip6:2001:db8::/32 exp=e.example")
        assert [(t.qualifier, t.name, t.value) for t in terms] == [
            ("+", "a", ""),
            ("+", "mx", "/24"),
            ("~", "include", "X.example"),
            ("+", "ip6", "2001:db8::/32"),
            ("", "exp", "e.example"),
        ]
        for bad in ("v=spf1 ip4:300.1.1.1", "v=spf1 include", "v=spf1 foo", "spf1 -all"):
            with pytest.raises(ValueError):
                parse_spf(bad)

    @pytest.mark.parametrize(
        ("term", "words"),
        [
            ("ip4:300.1.1.1", "not contain a valid IPv4 address"),
            ("include", "needs a domain"),
            ("ip6:2001:db8::/129", "network size"),
            ("a:192.0.2.1", "write ip4: instead"),
            ("-all:x", "'all' takes no value"),
            ("include=spf.example.com", "write include:value"),
        ],
    )
    def test_term_errors_in_plain_words(self, term, words):
        """pyspf decides what is invalid; the admin reads why in words."""
        with pytest.raises(ValueError, match=words):
            parse_spf(f"v=spf1 {term} -all")


class TestCheck:
    def test_missing(self, knot, resolver, domain):
        result = check_spf(resolver, domain, [INCLUDE])
        assert (result.status, result.code) == ("fail", "spf_missing")
        knot.set_txt(domain, "google-site-verification=abc")
        result = check_spf(resolver, domain, [INCLUDE])
        assert result.code == "spf_missing"
        assert f"v=spf1 {INCLUDE} ~all" in result.message
        assert result.details["suggested"] == f"v=spf1 {INCLUDE} ~all"

    def test_two_records(self, knot, resolver, domain):
        knot.set_txt(domain, ["v=spf1 mx -all", f"v=spf1 {INCLUDE} -all"])
        result = check_spf(resolver, domain, [INCLUDE])
        assert (result.status, result.code) == ("fail", "spf_multiple")
        assert result.details["suggested"] == f"v=spf1 mx {INCLUDE} -all"
        assert "2 SPF records" in result.message

    def test_include_missing(self, knot, resolver, domain):
        knot.set_txt(domain, "v=spf1 mx -all")
        result = check_spf(resolver, domain, [INCLUDE])
        assert (result.status, result.code) == ("fail", "spf_include_missing")
        assert f"v=spf1 mx {INCLUDE} -all" in result.message

    @pytest.mark.parametrize("all_term", ["-all", "~all", "?all"])
    def test_all_before_include(self, knot, resolver, domain, all_term):
        knot.set_txt(domain, f"v=spf1 mx {all_term} {INCLUDE}")
        result = check_spf(resolver, domain, [INCLUDE])
        assert (result.status, result.code) == ("fail", "spf_all_before_include")
        assert all_term in result.message
        assert result.details["suggested"] == f"v=spf1 mx {INCLUDE} {all_term}"

    def test_pass_and_pyspf_confirms_the_sending_ip(self, knot, resolver, domain):
        knot.set_txt(domain, f"v=spf1 mx {INCLUDE} -all")
        knot.set_a(f"mx.{domain}", "203.0.113.5")
        result = check_spf(resolver, domain, [INCLUDE], test_ip=SENDING_IP)
        assert (result.status, result.code) == ("pass", "spf_ok")
        assert result.details["spf_result"] == "pass"
        assert result.details["found_via"] == {INCLUDE: [domain]}

    def test_pyspf_rejects_an_ip_outside_the_policy(self, knot, resolver, domain):
        knot.set_txt(domain, f"v=spf1 {INCLUDE} -all")
        result = check_spf(resolver, domain, [INCLUDE], test_ip=FOREIGN_IP)
        assert (result.status, result.code) == ("fail", "spf_ip_not_allowed")
        assert FOREIGN_IP in result.message and "fail" in result.message
        assert evaluate_spf(resolver, domain, FOREIGN_IP)[0] == "fail"
        assert evaluate_spf(resolver, domain, SENDING_IP)[0] == "pass"

    def test_ip_mechanism_required(self, knot, resolver, domain):
        knot.set_txt(domain, "v=spf1 ip4:192.0.2.25 ~all")
        assert check_spf(resolver, domain, ["ip4:192.0.2.25"], test_ip="192.0.2.25").passed
        result = check_spf(resolver, domain, ["ip4:192.0.2.26"], test_ip="192.0.2.26")
        assert result.code == "spf_include_missing"

    def test_required_mechanism_reached_through_a_nested_include(self, knot, resolver, domain):
        knot.set_txt(domain, f"v=spf1 include:_spf.{domain} -all")
        knot.set_txt(f"_spf.{domain}", f"v=spf1 mx {INCLUDE} -all")
        result = check_spf(resolver, domain, [INCLUDE], test_ip=SENDING_IP)
        assert result.passed, result.message
        assert result.details["found_via"][INCLUDE] == [domain, f"_spf.{domain}"]

    def test_redirect_is_followed(self, knot, resolver, domain):
        knot.set_txt(domain, f"v=spf1 redirect=_spf.{domain}")
        knot.set_txt(f"_spf.{domain}", f"v=spf1 {INCLUDE} -all")
        assert check_spf(resolver, domain, [INCLUDE], test_ip=SENDING_IP).passed

    def _chain(self, knot, domain, length):
        """domain -> provider include + c1 -> c2 -> ... -> c<length> (which does one 'a')."""
        knot.set_txt(domain, f"v=spf1 {INCLUDE} include:c1.{domain} -all")
        for n in range(1, length):
            knot.set_txt(f"c{n}.{domain}", f"v=spf1 include:c{n + 1}.{domain} -all")
        knot.set_txt(f"c{length}.{domain}", "v=spf1 a -all")

    def test_more_than_ten_lookups_through_chained_includes(self, knot, resolver, domain):
        self._chain(knot, domain, 10)  # 1 + 10 includes + 1 'a' = 12
        result = check_spf(resolver, domain, [INCLUDE], test_ip=SENDING_IP)
        assert (result.status, result.code) == ("fail", "spf_too_many_lookups")
        assert result.details["dns_lookups"] == 12
        assert "12 DNS lookups" in result.message
        # pyspf, evaluating as a receiver would, agrees once it has to read the whole chain.
        assert evaluate_spf(resolver, domain, FOREIGN_IP)[0] == "permerror"

    def test_exactly_ten_lookups_pass(self, knot, resolver, domain):
        self._chain(knot, domain, 8)  # 1 + 8 includes + 1 'a' = 10
        result = check_spf(resolver, domain, [INCLUDE], test_ip=SENDING_IP)
        assert result.passed, result.message
        assert result.details["dns_lookups"] == 10

    def test_include_loop_does_not_hang(self, knot, resolver, domain):
        knot.set_txt(domain, f"v=spf1 {INCLUDE} include:loop.{domain} -all")
        knot.set_txt(f"loop.{domain}", f"v=spf1 include:{domain} -all")
        result = check_spf(resolver, domain, [INCLUDE])
        assert (result.status, result.code) == ("fail", "spf_too_many_lookups")
        assert result.details["loop"] == [f"loop.{domain}", domain]
        assert "circle" in result.message
        assert evaluate_spf(resolver, domain, FOREIGN_IP)[0] == "permerror"

    def test_syntax_error(self, knot, resolver, domain):
        knot.set_txt(domain, f"v=spf1 {INCLUDE} ip4:192.0.2.300 -all")
        result = check_spf(resolver, domain, [INCLUDE])
        assert (result.status, result.code) == ("fail", "spf_syntax")
        assert "192.0.2.300" in result.message

    def test_timeout_is_pending_not_failure(self, slow_resolver):
        result = check_spf(slow_resolver, "example.test", [INCLUDE], test_ip=SENDING_IP)
        assert (result.status, result.code) == ("pending", "dns_timeout")
        assert "not a problem with your records" in result.message

    def test_pyspf_dns_hook_is_scoped_to_the_check(self, knot, resolver, domain):
        knot.set_txt(domain, f"v=spf1 {INCLUDE} -all")
        evaluate_spf(resolver, domain, SENDING_IP)
        assert spf.DNSLookup is spf_check._lookup
        assert spf_check._current_resolver.get() is None
