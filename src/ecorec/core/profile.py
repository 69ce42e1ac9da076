"""The online state of one user, and the changes events make to it.

The same :func:`Profile.apply` logic runs in every ProfileStore backend so that the in-process
store and Redis cannot drift apart: a backend only persists what this module computes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Consent(StrEnum):
    """What a user allows; absent flags default to allowed (see :attr:`Profile.allows`)."""

    PERSONALIZATION = "personalization"
    ADS_PERSONALIZATION = "ads_personalization"
    TRAINING = "training"


#: How many recent items a profile keeps.
RECENT_LIMIT = 200


@dataclass(slots=True)
class ProfileDelta:
    """A change to one user's profile, built from events (see ``data.profiles.delta``).

    Args:
        recent: ``(item_id, ts)`` pairs consumed, oldest first.
        negatives: items marked not-interested.
        blocked_creators: creators the user blocked.
        interests: category -> weight to add to the interest counts.
        consent: flags to set.

    """

    recent: list[tuple[str, float]] = field(default_factory=list)
    negatives: set[str] = field(default_factory=set)
    blocked_creators: set[str] = field(default_factory=set)
    interests: dict[str, float] = field(default_factory=dict)
    consent: dict[str, bool] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not (
            self.recent or self.negatives or self.blocked_creators or self.interests or self.consent
        )


@dataclass(slots=True)
class Profile:
    """Online state of one user: what they saw lately, what they rejected, what they like.

    ``recent`` is newest last and capped at :data:`RECENT_LIMIT` (the behaviour sequence models
    read); ``seen`` is every item ever consumed, uncapped, for the "already consumed" filter.
    """

    user_id: str
    recent: list[tuple[str, float]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    negatives: set[str] = field(default_factory=set)
    blocked_creators: set[str] = field(default_factory=set)
    interests: dict[str, float] = field(default_factory=dict)
    consent: dict[str, bool] = field(default_factory=dict)

    def allows(self, flag: Consent | str) -> bool:
        """Whether the user allows ``flag``; a flag never set counts as allowed."""
        return self.consent.get(str(flag), True)

    @property
    def recent_item_ids(self) -> list[str]:
        return [item_id for item_id, _ in self.recent]

    def is_new(self) -> bool:
        """A user with no history at all (cold start)."""
        return not self.seen and not self.interests

    def apply(self, delta: ProfileDelta) -> None:
        """Fold ``delta`` into this profile in place."""
        if delta.recent:
            merged = self.recent + delta.recent
            merged.sort(key=lambda pair: pair[1])
            self.recent = merged[-RECENT_LIMIT:]
            self.seen.update(item_id for item_id, _ in delta.recent)
        self.negatives |= delta.negatives
        self.blocked_creators |= delta.blocked_creators
        for category, weight in delta.interests.items():
            self.interests[category] = self.interests.get(category, 0.0) + weight
        self.consent.update(delta.consent)
