"""Layer 1: deal linking and threading decisions (no Odoo)."""

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from crm_mail_channel_core.linking import (
    NO_LINK,
    LinkDecision,
    ancestors,
    decide_deal,
    normalize_message_id,
    parse_message_ids,
    reply_headers,
    thread_key,
)


def test_normalize_message_id():
    assert normalize_message_id(" <a@x> ") == "<a@x>"
    assert normalize_message_id("a@x") == "<a@x>"
    assert normalize_message_id("") is None
    assert normalize_message_id(None) is None


def test_parse_message_ids_folded_and_deduplicated():
    header = "<root@x>\r\n <mid@y>  <root@x>\t<last@z>"
    assert parse_message_ids(header) == ["<root@x>", "<mid@y>", "<last@z>"]
    assert parse_message_ids("a@x b@y") == ["<a@x>", "<b@y>"]
    assert parse_message_ids(["<a@x>", "a@x"]) == ["<a@x>"]
    assert parse_message_ids(None) == []


def test_thread_key_root_of_references():
    assert thread_key("<c@x>", "<b@x>", "<a@x> <b@x>") == "<a@x>"


def test_thread_key_in_reply_to_without_references():
    assert thread_key("<c@x>", "<b@x>", None) == "<b@x>"


def test_thread_key_own_message_id():
    assert thread_key("<c@x>") == "<c@x>"
    assert thread_key("c@x", "", "") == "<c@x>"


def test_ancestors_nearest_first():
    assert ancestors("<c@x>", "<a@x> <b@x> <c@x>") == ["<c@x>", "<b@x>", "<a@x>"]


def test_sent_from_deal_wins():
    decision = decide_deal(
        message_id="<m@x>",
        sent_from_lead_id=7,
        open_lead_ids=[1, 2],
        thread_links={"<p@x>": 3},
        in_reply_to="<p@x>",
    )
    assert decision == LinkDecision(7, "sent_from_deal", False)


def test_reply_joins_thread_deal():
    decision = decide_deal(
        message_id="<r@x>",
        in_reply_to="<p@x>",
        references="<root@x> <p@x>",
        thread_links={"<root@x>": 5},
        open_lead_ids=[5, 6],
    )
    assert decision == LinkDecision(5, "thread", False)


def test_nearest_linked_ancestor_wins():
    decision = decide_deal(
        message_id="<r@x>",
        references="<root@x> <p@x>",
        thread_links={"<root@x>": 5, "<p@x>": 9},
    )
    assert decision.lead_id == 9


def test_own_message_id_is_not_its_own_thread():
    decision = decide_deal(message_id="<m@x>", references="<m@x>", thread_links={"<m@x>": 4})
    assert decision == NO_LINK


def test_single_open_deal_only_when_enabled():
    assert decide_deal(message_id="<m@x>", open_lead_ids=[4]) == NO_LINK
    assert decide_deal(message_id="<m@x>", open_lead_ids=[4], single_open_deal=True) == (
        LinkDecision(4, "single_open_deal", False)
    )


def test_several_open_deals_need_a_person():
    for setting in (True, False):
        decision = decide_deal(message_id="<m@x>", open_lead_ids=[4, 8], single_open_deal=setting)
        assert decision == LinkDecision(None, None, True)


def test_no_open_deal_no_link():
    assert decide_deal(message_id="<m@x>", single_open_deal=True) == NO_LINK


def test_decision_invariants():
    with pytest.raises(ValueError):
        LinkDecision(3, None)
    with pytest.raises(ValueError):
        LinkDecision(3, "guess")
    with pytest.raises(ValueError):
        LinkDecision(3, "thread", True)


def test_reply_headers():
    assert reply_headers("<p@x>", "<a@x> <p@x>") == {
        "In-Reply-To": "<p@x>",
        "References": "<a@x> <p@x>",
    }
    assert reply_headers("<p@x>", None) == {"In-Reply-To": "<p@x>", "References": "<p@x>"}
    assert reply_headers(None) == {}


_ids = st.from_regex(r"<[a-z0-9]{1,8}@[a-z]{1,5}\.test>", fullmatch=True)


@given(
    own=_ids,
    refs=st.lists(_ids, max_size=6),
    links=st.dictionaries(_ids, st.integers(1, 50), max_size=6),
    open_ids=st.lists(st.integers(1, 50), max_size=5),
    setting=st.booleans(),
)
@example(  # an id listed twice counts where it is nearest the parent
    own="<z@x.test>",
    refs=["<a@x.test>", "<b@x.test>", "<a@x.test>"],
    links={"<a@x.test>": 1, "<b@x.test>": 2},
    open_ids=[],
    setting=False,
)
def test_property_never_guesses_among_several_deals(own, refs, links, open_ids, setting):
    decision = decide_deal(
        message_id=own,
        references=" ".join(refs),
        thread_links=links,
        open_lead_ids=open_ids,
        single_open_deal=setting,
    )
    linked_ancestors = [r for r in refs if r != own and r in links]
    if linked_ancestors:
        # Certain: the thread decides, and it picks the nearest linked ancestor.
        assert decision.reason == "thread"
        assert decision.lead_id == links[linked_ancestors[-1]]
    elif len(set(open_ids)) > 1:
        assert decision.lead_id is None and decision.needs_deal
    elif len(set(open_ids)) == 1 and setting:
        assert decision == LinkDecision(open_ids[0], "single_open_deal")
    else:
        assert decision == NO_LINK


@given(chain=st.lists(_ids, min_size=1, max_size=8, unique=True))
def test_property_thread_key_stable_along_a_chain(chain):
    """Every reply built with reply_headers has the thread's first message as its key."""
    root = chain[0]
    refs = None
    parent = None
    for message_id in chain:
        headers = reply_headers(parent, refs) if parent else {}
        key = thread_key(message_id, headers.get("In-Reply-To"), headers.get("References"))
        assert key == root
        parent, refs = message_id, headers.get("References")
