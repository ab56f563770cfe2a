"""Best time to contact: a weekly profile per contact, in the contact's local time.

Plain Python (no Odoo). A profile has 168 slots (weekday 0 = Monday × hour 0–23, local time of
the contact). Evidence is weighted by kind and channel, old evidence fades (half-life), machine
events carry no time-of-day value, and a contact with little evidence leans on their company's
profile, then the organisation's, then a business-hours prior (hierarchical shrinkage, like
Dirichlet pseudo-counts). The contact's own part blends the joint weekday×hour counts with the
product of its hour-of-day and weekday marginals, which borrows strength across weekdays when
evidence is thin.

Time zone: the partner's, else inferred from the UTC offsets in the Date headers of the
contact's own mail (``infer_timezone``), else the company's.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEK = 168
CHANNELS = ("email", "call")
HUMAN_ORIGINS = ("human",)
# proxy opens count as opens elsewhere, but an image proxy says nothing about the hour
MACHINE_ORIGINS = ("proxy", "prefetch", "scanner", "self")

# Weight of one piece of evidence by channel and kind.
WEIGHTS = {
    "email": {
        "open": 1.0,
        "click": 1.5,
        "reply": 2.0,
        "own_email": 2.0,
        "call_done": 0.3,
        "call_event": 0.3,
    },
    "call": {
        "call_done": 3.0,
        "call_event": 2.0,
        "reply": 0.5,
        "own_email": 0.5,
        "open": 0.2,
        "click": 0.2,
    },
}

# Zones tried, in this order, when a time zone is inferred from Date-header offsets.
CANDIDATE_ZONES = (
    "Europe/London",
    "Europe/Paris",
    "Europe/Helsinki",
    "Europe/Moscow",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires",
    "America/Mexico_City",
    "America/Bogota",
    "America/Halifax",
    "America/St_Johns",
    "Pacific/Honolulu",
    "Atlantic/Azores",
    "Africa/Lagos",
    "Africa/Johannesburg",
    "Africa/Cairo",
    "Africa/Nairobi",
    "Asia/Dubai",
    "Asia/Karachi",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Dhaka",
    "Asia/Bangkok",
    "Asia/Shanghai",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Perth",
    "Australia/Adelaide",
    "Australia/Brisbane",
    "Australia/Sydney",
    "Pacific/Auckland",
    "UTC",
)


@dataclass(frozen=True)
class Evidence:
    """One observed moment of activity.

    ``when`` is UTC (naive means UTC). ``utc_offset`` (minutes) is the offset of the Date
    header of the contact's own mail: its wall-clock hour is the contact's own.
    """

    when: datetime
    kind: str
    origin: str = "human"
    utc_offset: int | None = None


@dataclass(frozen=True)
class Settings:
    half_life_days: float = 90.0
    smoothing: tuple[float, ...] = (0.15, 0.5, 1.0, 0.5, 0.15)  # over neighbouring hours
    contact_strength: float = 3.0  # pseudo-weight of the company profile in a contact's
    company_strength: float = 3.0  # pseudo-weight of the organisation in a company's
    prior_strength: float = 2.0  # pseudo-weight of the business-hours prior
    factor_blend: float = 0.8  # share of the marginals' product in the contact's own part
    soon_ratio: float = 0.9  # next_best_slot: earliest slot scoring this share of the best


@dataclass
class Profile:
    """Faded, weighted evidence of one contact (or a sum of contacts) in local time."""

    weights: list[float] = field(default_factory=lambda: [0.0] * WEEK)

    @property
    def mass(self) -> float:
        return sum(self.weights)

    def __add__(self, other: Profile) -> Profile:
        return Profile([a + b for a, b in zip(self.weights, other.weights, strict=True)])

    @classmethod
    def total(cls, profiles: Iterable[Profile]) -> Profile:
        result = cls()
        for profile in profiles:
            result = result + profile
        return result


def get_zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def local_slot(when: datetime, zone: ZoneInfo, utc_offset: int | None = None) -> int:
    """Slot index (weekday*24 + hour) of ``when`` in the contact's local time."""
    when = _utc(when)
    if utc_offset is not None:
        local = when + timedelta(minutes=utc_offset)
    else:
        local = when.astimezone(zone)
    return local.weekday() * 24 + local.hour


def evidence_weight(item: Evidence, channel: str, now: datetime, settings: Settings) -> float:
    """Weight of ``item``: its kind's weight, faded by age; 0 for machine events."""
    if item.origin not in HUMAN_ORIGINS:
        return 0.0
    base = WEIGHTS[channel].get(item.kind, 0.0)
    if not base:
        return 0.0
    age_days = max(0.0, (_utc(now) - _utc(item.when)).total_seconds() / 86400.0)
    return base * 0.5 ** (age_days / settings.half_life_days)


def build_profile(
    evidence: Iterable[Evidence],
    tz: str | None,
    now: datetime,
    channel: str = "email",
    settings: Settings | None = None,
) -> Profile:
    settings = settings or Settings()
    zone = get_zone(tz) or ZoneInfo("UTC")
    profile = Profile()
    for item in evidence:
        weight = evidence_weight(item, channel, now, settings)
        if weight:
            profile.weights[local_slot(item.when, zone, item.utc_offset)] += weight
    return profile


def infer_timezone(
    samples: Iterable[tuple[datetime, int]], fallback: str | None = None
) -> str | None:
    """Zone whose UTC offset matched the Date headers of the contact's own mail best.

    ``samples`` are ``(UTC date, header offset in minutes)``. A zone that matches every
    sample wins (the fallback first, when it does), else the one matching most of them, else
    the fallback.
    """
    samples = [(_utc(when), offset) for when, offset in samples if offset is not None]
    if not samples:
        return fallback
    names = ([fallback] if fallback else []) + [z for z in CANDIDATE_ZONES if z != fallback]
    best, best_hits = None, 0
    for name in names:
        zone = get_zone(name)
        if zone is None:
            continue
        hits = sum(
            1
            for when, offset in samples
            if when.astimezone(zone).utcoffset() == timedelta(minutes=offset)
        )
        if hits > best_hits:
            best, best_hits = name, hits
        if hits == len(samples):
            return name
    if best:
        return best
    # No known zone matched: a fixed offset, when it is whole hours (Etc/GMT signs inverted).
    offset = Counter(o for _w, o in samples).most_common(1)[0][0]
    if offset % 60 == 0 and -12 <= offset // 60 <= 14:
        hours = offset // 60
        return "UTC" if not hours else "Etc/GMT%+d" % -hours
    return fallback


def _normalize(values: Sequence[float]) -> list[float]:
    total = sum(values)
    if total <= 0:
        return [1.0 / WEEK] * WEEK
    return [v / total for v in values]


def smooth(values: Sequence[float], kernel: Sequence[float]) -> list[float]:
    """Circular smoothing over neighbouring hours of the week (Sunday 23 h → Monday 0 h)."""
    half = len(kernel) // 2
    return [
        sum(kernel[k] * values[(i + k - half) % WEEK] for k in range(len(kernel)))
        for i in range(WEEK)
    ]


def business_hours_prior() -> list[float]:
    """Where nothing is known: weekdays 9–17 h, a little around them, weekends low."""
    prior = []
    for slot in range(WEEK):
        day, hour = divmod(slot, 24)
        value = 1.0 if 9 <= hour <= 17 else (0.3 if 7 <= hour <= 20 else 0.02)
        prior.append(value * (1.0 if day < 5 else 0.1))
    return _normalize(prior)


def _factorized(values: Sequence[float]) -> list[float]:
    """Product of the hour-of-day profile and a weekday profile of ``values`` (same total).

    Each weekday is weighed by its evidence at the contact's usual hours (the hour profile
    as a matched filter), so stray evidence at odd hours does not pick the day.
    """
    total = sum(values)
    if total <= 0:
        return [0.0] * WEEK
    hours = [sum(values[d * 24 + h] for d in range(7)) for h in range(24)]
    days = [sum(values[d * 24 + h] * hours[h] for h in range(24)) for d in range(7)]
    hours_total, days_total = sum(hours), sum(days)
    if days_total <= 0:
        return [0.0] * WEEK
    return [total * hours[s % 24] / hours_total * days[s // 24] / days_total for s in range(WEEK)]


@dataclass(frozen=True)
class Slot:
    weekday: int
    hour: int
    tz: str
    score: float
    confidence: float

    def as_dict(self) -> dict:
        return {
            "weekday": self.weekday,
            "hour": self.hour,
            "tz": self.tz,
            "score": self.score,
            "confidence": self.confidence,
        }


@dataclass(frozen=True)
class Answer:
    """A contact's posterior weekly profile (probabilities summing to 1) and confidence."""

    probabilities: tuple[float, ...]
    tz: str
    confidence: float

    def top_slot(self) -> int:
        return max(range(WEEK), key=lambda s: (self.probabilities[s], -s))

    def slots(self, limit: int = 3) -> list[Slot]:
        """The best slots, each at least two hours from a better one the same day."""
        chosen: list[int] = []
        for slot in sorted(range(WEEK), key=lambda s: (-self.probabilities[s], s)):
            if len(chosen) >= limit:
                break
            if all(min(abs(slot - c), WEEK - abs(slot - c)) > 1 for c in chosen):
                chosen.append(slot)
        return [
            Slot(
                weekday=slot // 24,
                hour=slot % 24,
                tz=self.tz,
                score=round(self.probabilities[slot] * WEEK, 2),
                confidence=self.confidence,
            )
            for slot in chosen
        ]

    def next_best_slot(
        self,
        now: datetime,
        within: timedelta = timedelta(days=7),
        settings: Settings | None = None,
    ) -> datetime:
        """Naive UTC start of the best local hour after ``now`` and within ``within``.

        The earliest hour scoring at least ``soon_ratio`` of the best one wins: a slot almost
        as good tomorrow beats the best one next week.
        """
        settings = settings or Settings()
        zone = get_zone(self.tz) or ZoneInfo("UTC")
        now_utc = _utc(now)
        local = now_utc.astimezone(zone).replace(minute=0, second=0, microsecond=0)
        candidates = []
        for step in range(1, int(within.total_seconds() // 3600) + 1):
            start = (local + timedelta(hours=step)).astimezone(timezone.utc)
            if start <= now_utc or start > now_utc + within:
                continue
            start_local = start.astimezone(zone)
            slot = start_local.weekday() * 24 + start_local.hour
            candidates.append((start, self.probabilities[slot]))
        if not candidates:
            return (now_utc + timedelta(hours=1)).replace(tzinfo=None)
        best = max(p for _s, p in candidates)
        for start, probability in candidates:
            if probability >= settings.soon_ratio * best:
                return start.replace(tzinfo=None)
        return candidates[0][0].replace(tzinfo=None)  # pragma: no cover - best is reached


def _confidence(mass: float, strength: float) -> float:
    return mass / (mass + strength) if mass > 0 else 0.0


def answer(
    contact: Profile,
    tz: str,
    company: Profile | None = None,
    organisation: Profile | None = None,
    settings: Settings | None = None,
) -> Answer:
    """Shrink the contact's profile towards the company's, then the organisation's.

    ``company`` and ``organisation`` are sums of profiles (each contact in their own local
    time); they may include the contact itself.
    """
    settings = settings or Settings()
    kernel = settings.smoothing
    org = smooth((organisation or Profile()).weights, kernel)
    org_post = _normalize(
        [o + settings.prior_strength * p for o, p in zip(org, business_hours_prior(), strict=True)]
    )
    comp = smooth((company or Profile()).weights, kernel)
    comp_post = _normalize(
        [c + settings.company_strength * o for c, o in zip(comp, org_post, strict=True)]
    )
    own = smooth(contact.weights, kernel)
    blend = settings.factor_blend
    own = [(1 - blend) * j + blend * f for j, f in zip(own, _factorized(own), strict=True)]
    posterior = _normalize(
        [c + settings.contact_strength * p for c, p in zip(own, comp_post, strict=True)]
    )
    own_conf = _confidence(contact.mass, settings.contact_strength)
    company_conf = _confidence((company or Profile()).mass, settings.company_strength)
    confidence = own_conf + (1 - own_conf) * 0.5 * company_conf
    return Answer(tuple(posterior), tz, round(confidence, 2))


def slot_distance(a: int, b: int) -> int:
    """Hours between two slots of the week, around the week."""
    d = abs(a - b) % WEEK
    return min(d, WEEK - d)


def hours_of(probabilities: Sequence[float]) -> list[float]:
    """Hour-of-day marginal (for display and tests)."""
    return [sum(probabilities[d * 24 + h] for d in range(7)) for h in range(24)]


def fading(age_days: float, half_life_days: float) -> float:
    return math.pow(0.5, age_days / half_life_days)
