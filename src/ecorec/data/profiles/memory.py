"""In-process ProfileStore with an optional JSON-lines snapshot on disk.

The embedded default of DESIGN.md §4: no server, profiles live in a dict, and a snapshot file
lets a restarted process pick up where it stopped.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ecorec.core.profile import Profile, ProfileDelta


def profile_to_dict(profile: Profile) -> dict[str, Any]:
    """Turn ``profile`` into a JSON-ready dict; sets are sorted so snapshots are reproducible."""
    return {
        "user_id": profile.user_id,
        "recent": [[item_id, ts] for item_id, ts in profile.recent],
        "seen": sorted(profile.seen),
        "negatives": sorted(profile.negatives),
        "blocked_creators": sorted(profile.blocked_creators),
        "interests": dict(profile.interests),
        "consent": dict(profile.consent),
    }


def profile_from_dict(data: dict[str, Any]) -> Profile:
    """Invert :func:`profile_to_dict`."""
    return Profile(
        user_id=str(data["user_id"]),
        recent=[(str(item_id), float(ts)) for item_id, ts in data.get("recent", [])],
        seen=set(data.get("seen", [])),
        negatives=set(data.get("negatives", [])),
        blocked_creators=set(data.get("blocked_creators", [])),
        interests={str(k): float(v) for k, v in data.get("interests", {}).items()},
        consent={str(k): bool(v) for k, v in data.get("consent", {}).items()},
    )


def copy_profile(profile: Profile) -> Profile:
    """Copy ``profile`` sharing no mutable container (callers may mutate what they get)."""
    return Profile(
        user_id=profile.user_id,
        recent=list(profile.recent),
        seen=set(profile.seen),
        negatives=set(profile.negatives),
        blocked_creators=set(profile.blocked_creators),
        interests=dict(profile.interests),
        consent=dict(profile.consent),
    )


class MemoryProfileStore:
    """ProfileStore keeping every profile in a dict guarded by one lock.

    Args:
        snapshot_path: where :meth:`snapshot` writes and :meth:`restore` reads by default. When
            the file exists it is restored on construction, and :meth:`close` writes it.

    Example:
        >>> store = MemoryProfileStore()
        >>> store.apply("u1", ProfileDelta(negatives={"i1"})).negatives
        {'i1'}

    """

    def __init__(self, snapshot_path: str | Path | None = None) -> None:
        self.snapshot_path = Path(snapshot_path) if snapshot_path is not None else None
        self._profiles: dict[str, Profile] = {}
        self._lock = threading.Lock()
        if self.snapshot_path is not None and self.snapshot_path.exists():
            self.restore()

    def get(self, user_id: str) -> Profile:
        """Return the profile of ``user_id``; an unknown user gets an empty profile."""
        with self._lock:
            profile = self._profiles.get(user_id)
            return copy_profile(profile) if profile is not None else Profile(user_id)

    def apply(self, user_id: str, delta: ProfileDelta) -> Profile:
        """Fold ``delta`` into the user's profile atomically and return the result (a copy)."""
        with self._lock:
            profile = self._profiles.get(user_id)
            if profile is None:
                profile = self._profiles[user_id] = Profile(user_id)
            profile.apply(delta)
            return copy_profile(profile)

    def put(self, profile: Profile) -> None:
        """Replace a user's profile whole with one kept elsewhere (a simulation worker's)."""
        with self._lock:
            self._profiles[profile.user_id] = copy_profile(profile)

    def delete(self, user_id: str) -> None:
        """Forget ``user_id`` entirely (right to erasure); unknown users are ignored."""
        with self._lock:
            self._profiles.pop(user_id, None)

    def user_ids(self) -> Iterator[str]:
        """Iterate over the users that have a profile (a copy of the ids taken now)."""
        with self._lock:
            ids = list(self._profiles)
        return iter(ids)

    def snapshot(self, path: str | Path | None = None) -> Path:
        """Write every profile to a JSON-lines file, atomically.

        The file is written next to its target and moved over it with ``os.replace`` so a
        crash mid-write leaves the previous snapshot intact.

        Args:
            path: target file; defaults to ``snapshot_path``.

        Returns:
            The path written.

        """
        target = self._target(path)
        with self._lock:
            lines = [json.dumps(profile_to_dict(p)) + "\n" for p in self._profiles.values()]
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.writelines(lines)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def restore(self, path: str | Path | None = None) -> int:
        """Replace the store's content with a snapshot written by :meth:`snapshot`.

        Args:
            path: snapshot file; defaults to ``snapshot_path``.

        Returns:
            How many profiles were loaded.

        """
        target = self._target(path)
        profiles: dict[str, Profile] = {}
        with target.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    profile = profile_from_dict(json.loads(line))
                    profiles[profile.user_id] = profile
        with self._lock:
            self._profiles = profiles
        return len(profiles)

    def close(self) -> None:
        """Write the snapshot when the store was given a ``snapshot_path``."""
        if self.snapshot_path is not None:
            self.snapshot()

    def __len__(self) -> int:
        with self._lock:
            return len(self._profiles)

    def _target(self, path: str | Path | None) -> Path:
        if path is not None:
            return Path(path)
        if self.snapshot_path is None:
            raise ValueError("no path given and the store has no snapshot_path")
        return self.snapshot_path
