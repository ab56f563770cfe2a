"""The emailed verification code: generation, hashing and the attempt/lockout rules."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from crm_mail_channel_core.verification_code import (
    CODE_ALPHABET,
    DEFAULT_POLICY,
    CodePolicy,
    can_resend,
    code_matches,
    generate_code,
    hash_code,
    is_expired,
    is_locked,
    lock_after_failure,
    new_salt,
    remaining_attempts,
    resend_wait,
    window_expired,
)

NOW = datetime(2026, 11, 27, 12, 0, 0)


def test_codes_are_random_and_unambiguous():
    codes = {generate_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(len(code) == 8 and set(code) <= set(CODE_ALPHABET) for code in codes)
    assert not set("01OIL") & set(CODE_ALPHABET)
    assert len(generate_code(12)) == 12
    with pytest.raises(ValueError):
        generate_code(4)


def test_hash_is_salted_and_matches_what_the_user_types():
    salt = new_salt()
    stored = hash_code("AB23CD45", salt)
    assert stored.startswith("pbkdf2_sha256$") and "AB23CD45" not in stored
    assert hash_code("AB23CD45", new_salt()) != stored
    assert code_matches("AB23CD45", stored, salt)
    assert code_matches(" ab23-cd45 ", stored, salt)  # pasted with spaces, typed in lower case
    assert not code_matches("AB23CD46", stored, salt)
    assert not code_matches("AB23CD45", stored, new_salt())
    assert not code_matches("", stored, salt)
    assert not code_matches("AB23CD45", "garbage", salt)
    assert not code_matches("AB23CD45", "", salt)


def test_policy_defaults():
    assert (
        CodePolicy(
            validity=timedelta(days=15),
            max_attempts=5,
            attempt_window=timedelta(hours=24),
            lockout=timedelta(hours=1),
            resend_cooldown=timedelta(seconds=60),
        )
        == DEFAULT_POLICY
    )


def test_expiry_after_fifteen_days():
    assert not is_expired(NOW, NOW + timedelta(days=14, hours=23))
    assert is_expired(NOW, NOW + timedelta(days=15))
    assert is_expired(NOW, NOW + timedelta(hours=2), CodePolicy(validity=timedelta(hours=1)))


def test_resend_cooldown():
    assert can_resend(None, NOW)
    assert not can_resend(NOW, NOW + timedelta(seconds=59))
    assert can_resend(NOW, NOW + timedelta(seconds=60))
    assert resend_wait(NOW, NOW + timedelta(seconds=20)) == timedelta(seconds=40)
    assert resend_wait(NOW, NOW + timedelta(minutes=5)) == timedelta(0)
    assert resend_wait(None, NOW) == timedelta(0)


def test_five_failures_in_a_day_lock_for_an_hour():
    for failures in range(1, 5):
        assert lock_after_failure(failures, NOW) is None
        assert remaining_attempts(failures) == 5 - failures
    locked_until = lock_after_failure(5, NOW)
    assert locked_until == NOW + timedelta(hours=1)
    assert remaining_attempts(5) == 0
    assert is_locked(locked_until, NOW + timedelta(minutes=59))
    assert not is_locked(locked_until, NOW + timedelta(hours=1))
    assert not is_locked(None, NOW)
    # past the fifth, every wrong try within the day locks again: one guess an hour at most
    assert lock_after_failure(6, NOW + timedelta(hours=2)) == NOW + timedelta(hours=3)
    assert remaining_attempts(9) == 0


def test_count_window_is_a_day_from_the_first_wrong_try():
    assert window_expired(None, NOW)
    assert not window_expired(NOW, NOW + timedelta(hours=23, minutes=59))
    assert window_expired(NOW, NOW + timedelta(hours=24))
    assert window_expired(
        NOW, NOW + timedelta(minutes=2), CodePolicy(attempt_window=timedelta(minutes=1))
    )


def test_aware_datetimes_work_too():
    now = NOW.replace(tzinfo=timezone.utc)
    assert not is_expired(now, now + timedelta(days=1))
    assert lock_after_failure(5, now) == now + timedelta(hours=1)
    assert not window_expired(now, now + timedelta(hours=1))
