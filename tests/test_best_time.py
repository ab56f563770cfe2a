"""Best time to contact: the weekly profile model (plain Python)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from crm_mail_channel_core import best_time
from crm_mail_channel_core.best_time import Evidence, Profile
from crm_mail_channel_core.mime import parse_message

NOW = datetime(2026, 3, 2, 6, 0)  # a Monday, 06:00 UTC


def _local(tz, weekday, hour, weeks_ago=1, minute=10):
    """Naive UTC of the given local weekday/hour ``weeks_ago`` weeks before NOW's week."""
    zone = ZoneInfo(tz)
    monday = datetime(2026, 3, 2, tzinfo=zone) - timedelta(weeks=weeks_ago)
    local = (monday + timedelta(days=weekday)).replace(hour=hour, minute=minute)
    return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def _answer(evidence, tz="Europe/Paris", channel="email", **kwargs):
    profile = best_time.build_profile(evidence, tz, NOW, channel)
    return best_time.answer(profile, tz, **kwargs)


def test_human_opens_make_the_peak_in_local_time():
    evidence = [Evidence(_local("Asia/Tokyo", 2, 9, w), "open") for w in range(1, 6)]
    slots = _answer(evidence, "Asia/Tokyo").slots(3)
    assert (slots[0].weekday, slots[0].hour, slots[0].tz) == (2, 9, "Asia/Tokyo")
    assert slots[0].score > slots[1].score
    assert set(slots[0].as_dict()) == {"weekday", "hour", "tz", "score", "confidence"}


def test_machine_events_are_ignored_proxy_has_no_hour():
    human = [Evidence(_local("Europe/Paris", 1, 15, w), "open") for w in range(1, 4)]
    machine = [
        Evidence(_local("Europe/Paris", 3, 4, w), "open", origin)
        for w in range(1, 4)
        for origin in ("prefetch", "scanner", "proxy", "self")
    ] + [Evidence(_local("Europe/Paris", 3, 4, w), "click", "scanner") for w in range(1, 4)]
    only_human = _answer(human)
    with_machines = _answer(human + machine)
    assert with_machines.probabilities == only_human.probabilities
    assert (with_machines.slots(1)[0].weekday, with_machines.slots(1)[0].hour) == (1, 15)


def test_weights_reply_and_click_over_open():
    opens = [Evidence(_local("UTC", 0, 8, w), "open") for w in (1, 2)]
    click = [Evidence(_local("UTC", 3, 16, 1), "click")]
    reply = [Evidence(_local("UTC", 4, 11, 1), "reply")]
    profile = best_time.build_profile(opens + click + reply, "UTC", NOW, "email")
    assert (
        profile.weights[4 * 24 + 11]
        > profile.weights[3 * 24 + 16]
        > profile.weights[0 * 24 + 8] / 2
    )


def test_old_evidence_fades_with_half_life():
    settings = best_time.Settings(half_life_days=30)
    old = [Evidence(NOW - timedelta(days=30), "open")]
    recent = [Evidence(NOW - timedelta(hours=1), "open")]
    w_old = best_time.build_profile(old, "UTC", NOW, "email", settings).mass
    w_new = best_time.build_profile(recent, "UTC", NOW, "email", settings).mass
    assert abs(w_old - 0.5) < 1e-6
    assert abs(w_new - 1.0) < 0.01
    # recent habits win over old ones of the same size
    before = [Evidence(_local("UTC", 0, 9, 20), "open") for _ in range(4)]
    now_habit = [Evidence(_local("UTC", 3, 14, 1), "open") for _ in range(3)]
    top = _answer(before + now_habit, "UTC").slots(1)[0]
    assert (top.weekday, top.hour) == (3, 14)


def test_calls_use_call_evidence():
    calls = [Evidence(_local("UTC", 4, 16, w), "call_done") for w in (1, 2, 3)]
    opens = [Evidence(_local("UTC", 1, 8, w), "open") for w in (1, 2, 3)]
    call_top = _answer(calls + opens, "UTC", "call").slots(1)[0]
    email_top = _answer(calls + opens, "UTC", "email").slots(1)[0]
    assert (call_top.weekday, call_top.hour) == (4, 16)
    assert (email_top.weekday, email_top.hour) == (1, 8)


def test_new_contact_leans_on_company_then_organisation():
    colleague = best_time.build_profile(
        [Evidence(_local("UTC", 2, 14, w), "reply") for w in range(1, 6)], "UTC", NOW
    )
    new = Profile()
    with_company = best_time.answer(new, "UTC", company=colleague)
    top = with_company.slots(1)[0]
    assert (top.weekday, top.hour) == (2, 14)
    assert with_company.confidence < 0.5
    # Nothing at all: business hours on a weekday, no confidence.
    empty = best_time.answer(new, "UTC")
    top = empty.slots(1)[0]
    assert top.weekday < 5 and 9 <= top.hour <= 17
    assert empty.confidence == 0
    # The organisation's profile shapes a new company.
    org = best_time.build_profile(
        [Evidence(_local("UTC", 4, 7, w), "own_email") for w in range(1, 9)], "UTC", NOW
    )
    top = best_time.answer(new, "UTC", organisation=org).slots(1)[0]
    assert (top.weekday, top.hour) == (4, 7)


def test_own_evidence_sharpens_and_overrides_company():
    colleague = best_time.build_profile(
        [Evidence(_local("UTC", 2, 14, w), "reply") for w in range(1, 4)], "UTC", NOW
    )
    confidences = []
    own_items = []
    for week in range(1, 7):
        own_items.append(Evidence(_local("UTC", 0, 10, week), "reply"))
        own = best_time.build_profile(own_items, "UTC", NOW)
        confidences.append(best_time.answer(own, "UTC", company=colleague + own).confidence)
    assert confidences == sorted(confidences) and confidences[-1] > confidences[0]
    top = best_time.answer(own, "UTC", company=colleague + own).slots(1)[0]
    assert (top.weekday, top.hour) == (0, 10)


def test_smoothing_neighbouring_hours():
    evidence = [Evidence(_local("UTC", 1, 10, 1), "open")]
    probs = _answer(evidence, "UTC").probabilities
    assert probs[24 + 9] > probs[24 + 7] and probs[24 + 11] > probs[24 + 13]


def test_slots_are_spread():
    evidence = [Evidence(_local("UTC", 1, h, w), "open") for h in (9, 10, 11) for w in (1, 2)]
    slots = _answer(evidence, "UTC").slots(3)
    starts = [s.weekday * 24 + s.hour for s in slots]
    assert all(best_time.slot_distance(a, b) > 1 for a in starts for b in starts if a != b)


def test_own_email_hour_from_date_header_offset():
    # Written at 9:00 in +05:30, the zone unknown: binned at 9 local.
    when = datetime(2026, 2, 24, 3, 30)  # Tuesday 03:30 UTC = Tuesday 09:00 +05:30
    evidence = [Evidence(when, "own_email", utc_offset=330)]
    profile = best_time.build_profile(evidence, "UTC", NOW)
    assert profile.weights[1 * 24 + 9] > 0


def test_infer_timezone_from_offsets():
    winter = datetime(2026, 1, 15, 10, 0)
    summer = datetime(2026, 7, 15, 10, 0)
    assert best_time.infer_timezone([(winter, 60), (summer, 120)]) == "Europe/Paris"
    assert best_time.infer_timezone([(winter, -300), (summer, -240)]) == "America/New_York"
    assert best_time.infer_timezone([(winter, 330)]) == "Asia/Kolkata"
    # consistent with the fallback: the fallback stays
    assert best_time.infer_timezone([(winter, 60)], "Europe/Berlin") == "Europe/Berlin"
    assert best_time.infer_timezone([], "Europe/Berlin") == "Europe/Berlin"
    assert best_time.infer_timezone([(winter, 60)], None) in best_time.CANDIDATE_ZONES


def test_date_header_offset_parsed():
    raw = (
        b"From: a@example.com\r\nTo: b@example.com\r\nSubject: x\r\n"
        b"Date: Tue, 24 Feb 2026 09:00:00 +0530\r\nMessage-ID: <x@example.com>\r\n\r\nhi\r\n"
    )
    parsed = parse_message(raw)
    assert parsed.date_utc_offset == 330
    assert parsed.date == datetime(2026, 2, 24, 3, 30)
    no_zone = raw.replace(b"+0530", b"-0000")
    assert parse_message(no_zone).date_utc_offset is None


def test_next_best_slot_in_utc_within_a_week():
    evidence = [Evidence(_local("America/New_York", 3, 10, w), "reply") for w in range(1, 5)]
    ans = _answer(evidence, "America/New_York")
    slot = ans.next_best_slot(NOW, timedelta(days=7))
    assert slot.tzinfo is None and NOW < slot <= NOW + timedelta(days=7)
    local = slot.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo("America/New_York"))
    assert (local.weekday(), local.hour, local.minute) == (3, 10, 0)
    # a window too short for Thursday: the best hour inside it
    short = ans.next_best_slot(NOW, timedelta(days=1))
    assert NOW < short <= NOW + timedelta(days=1)


def test_next_best_slot_half_hour_zone_starts_on_local_hour():
    evidence = [Evidence(_local("Asia/Kolkata", 2, 11, w), "reply") for w in range(1, 4)]
    slot = _answer(evidence, "Asia/Kolkata").next_best_slot(NOW)
    local = slot.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo("Asia/Kolkata"))
    assert (local.weekday(), local.hour, local.minute) == (2, 11, 0)


def test_next_best_slot_prefers_a_nearly_as_good_sooner_slot():
    # Tuesday and Friday 10:00 equally good: Tuesday (sooner) wins from Monday.
    evidence = [Evidence(_local("UTC", d, 10, w), "open") for d in (1, 4) for w in (1, 2)]
    slot = _answer(evidence, "UTC").next_best_slot(NOW)
    assert (slot.weekday(), slot.hour) == (1, 10)


def test_unknown_zone_falls_back_to_utc():
    evidence = [Evidence(_local("UTC", 0, 9, 1), "open")]
    top = _answer(evidence, "Nowhere/City").slots(1)[0]
    assert (top.weekday, top.hour) == (0, 9)
