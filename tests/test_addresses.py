from crm_mail_channel_core.addresses import email_domain, normalize_email, parse_address_list


def test_normalize_basic():
    assert normalize_email("  Bob.Smith@Example.COM ") == "bob.smith@example.com"
    assert normalize_email("Bob <BOB@example.com>") == "bob@example.com"
    assert normalize_email("mailto:a@b.org") == "a@b.org"


def test_normalize_idna_both_ways_equal():
    assert normalize_email("a@xn--bcher-kva.de") == normalize_email("A@BÜCHER.de") == "a@bücher.de"


def test_normalize_rejects_garbage():
    for bad in (None, "", "nobody", "a@", "@b.com", "a b@c.com", "a@b", "a..b@c.com", "a@-x.com"):
        assert normalize_email(bad) is None, bad


def test_email_domain():
    assert email_domain("X@Sub.Example.org") == "sub.example.org"
    assert email_domain("junk") is None


def test_parse_list_rfc2047_groups_and_garbage():
    header = (
        "=?utf-8?q?Doe=2C_J=C3=B6rg?= <JOERG@x.de>, team: a@b.com, c@d.com;, "
        '"Smith, Ann" <ann@e.org>, garbage, <>, JOERG@X.DE'
    )
    assert parse_address_list(header) == [
        ("Doe, Jörg", "joerg@x.de"),
        ("", "a@b.com"),
        ("", "c@d.com"),
        ("Smith, Ann", "ann@e.org"),
    ]


def test_parse_list_accepts_lists_and_none():
    assert parse_address_list(None) == []
    assert parse_address_list(["a@b.com", "C <c@d.com>"]) == [("", "a@b.com"), ("C", "c@d.com")]
