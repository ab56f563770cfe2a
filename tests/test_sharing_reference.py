"""Layer 1: the reference sharing model and the excluded-domain policy (no Odoo)."""

from crm_mail_channel_core import sharing_domains
from crm_mail_channel_testing import sharing_reference as sharing
from crm_mail_channel_testing.sharing_reference import Email, Lead, Organisation, Partner, User


def org(**users):
    return Organisation(
        users=users,
        partners={"client": Partner(None), "far": Partner(2)},
        leads={"deal": Lead(user="owner")},
        excluded_domains=["ourco.test"],
    )


def six():
    return {
        "owner": User(mode="public", addresses={"owner@ourco.test"}, manager="manager"),
        "peer_in": User(sales="all"),
        "peer_out": User(sales="all"),
        "manager": User(manager="boss", sales="all"),
        "boss": User(sales="all"),
        "salesman": User(sales="own"),
    }


MAIL = Email(
    owners={"owner"}, participants=["x@client.test", "owner@ourco.test"], partners={"client"}
)


def test_public_everyone_and_private_default():
    users = six()
    result = sharing.readable(org(**users), {"m": MAIL})
    assert {u for u, seen in result.items() if "m" in seen} == set(users)
    users["owner"].mode = "private"
    result = sharing.readable(org(**users), {"m": MAIL})
    assert {u for u, seen in result.items() if "m" in seen} == {"owner"}


def test_audience_and_hierarchy_at_any_depth():
    users = six()
    users["owner"].audience_users = {"peer_in"}
    result = sharing.readable(org(**users), {"m": MAIL})
    assert {u for u, seen in result.items() if "m" in seen} == {
        "owner",
        "peer_in",
        "manager",
        "boss",
    }
    assert sharing.superiors(org(**users), "owner") == {"manager", "boss"}


def test_deal_hidden_from_salesman_and_levels():
    users = six()
    o = org(**users)
    o.visibility_level = "metadata"
    mail = Email(owners={"owner"}, participants=["x@client.test"], partners={"client"}, lead="deal")
    result = sharing.readable(o, {"m": mail})
    assert "m" not in result["salesman"]
    assert result["owner"]["m"] == "full" and result["peer_in"]["m"] == "metadata"


def test_excluded_domains_overrides_and_custom():
    users = six()
    internal = Email(
        owners={"owner"}, participants=["a@ourco.test", "owner@ourco.test"], partners={"client"}
    )
    assert sharing.readable(org(**users), {"m": internal})["peer_in"] == {}
    internal.overrides = {"owner": "shared"}
    assert "m" in sharing.readable(org(**users), {"m": internal})["peer_in"]
    users["owner"].mode = "custom"
    assert sharing.readable(org(**users), {"m": MAIL})["peer_in"] == {}
    users["owner"].shared_contacts = {"client"}
    assert "m" in sharing.readable(org(**users), {"m": MAIL})["peer_in"]


def test_sent_from_crm_and_other_company_contact():
    users = six()
    users["owner"].mode = "private"
    sent = Email(owners=set(), participants=["x@far.test"], partners={"far"}, sent_from_crm=True)
    assert sharing.readable(org(**users), {"m": sent})["peer_in"] == {}
    users["peer_in"].companies = {1, 2}
    assert "m" in sharing.readable(org(**users), {"m": sent})["peer_in"]


def test_domain_policy():
    assert sharing_domains.parse_domain_list("A.com, @b.org\nx@c.net a.com") == [
        "a.com",
        "b.org",
        "c.net",
    ]
    assert sharing_domains.is_excluded(["x@mail.a.com"], [], ["a.com"])
    assert not sharing_domains.is_excluded(["x@a.com", "y@b.com"], [], ["a.com"])
    assert sharing_domains.is_excluded(["me@a.com"], ["me@a.com"], [])
    assert sharing_domains.addresses_of('"X" <X@A.com>, y@b.com', None) == ["x@a.com", "y@b.com"]
