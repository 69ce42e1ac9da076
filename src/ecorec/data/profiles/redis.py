"""ProfileStore on Redis, with one native structure per part of a profile.

Keys of user ``u`` under prefix ``p`` (the ``{u}`` hash tag keeps a user's keys in one cluster
slot, so a transaction over them is legal on Redis Cluster too):

- ``p:profile:{u}:recent`` list of JSON ``[item_id, ts]``, sorted by ts, newest last, capped
- ``p:profile:{u}:seen``, ``p:profile:{u}:negatives`` and ``p:profile:{u}:blocked`` sets
- ``p:profile:{u}:interests`` hash category -> weight, ``p:profile:{u}:consent`` hash flag -> 0/1

``apply`` is optimistic: it WATCHes the keys whose new value depends on the old one (recent and
interests), computes the new values with :meth:`Profile.apply`, and writes them in one
MULTI/EXEC; a concurrent writer makes EXEC fail and the fold is retried. Interests are written
with HSET of the value Python computed rather than HINCRBYFLOAT because Redis adds in long
double and prints 17 digits (0.1 + 0.2 reads back as 0.3), which would let this store drift
from the in-process one.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis

from ecorec.core.profile import RECENT_LIMIT, Profile, ProfileDelta

#: How many times ``apply`` retries when another writer touched the same user meanwhile.
MAX_RETRIES = 100
#: Seconds a call waits for the server (connect, read) unless the URL sets ``socket_timeout``:
#: a hung server must turn into an error the service can fall back from, not a hung request.
TIMEOUT_S = 1.0


class _Keys(NamedTuple):
    recent: str
    seen: str
    negatives: str
    blocked: str
    interests: str
    consent: str


def split_prefix(url: str) -> tuple[str, str | None]:
    """Take the ``prefix`` query parameter out of a Redis URL.

    Returns:
        The URL without ``prefix`` (what ``redis.from_url`` accepts) and the prefix, if any.

    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefixes = [value for key, value in query if key == "prefix"]
    rest = [(key, value) for key, value in query if key != "prefix"]
    clean = urlunsplit(parts._replace(query=urlencode(rest)))
    return clean, (prefixes[-1] if prefixes else None)


class RedisProfileStore:
    """ProfileStore backed by Redis; every process sharing the server sees the same profiles.

    ``unavailable`` names the errors that mean the server cannot be reached, which
    :class:`~ecorec.data.profiles.fallback.FallbackProfileStore` turns into its fallback path.

    Args:
        url: ``redis://host:port/db``, optionally with ``?prefix=name`` which overrides
            ``prefix`` (so one URL fully describes where the profiles live).
        prefix: namespace of every key, so several platforms or tests can share one server.

    Example:
        >>> store = RedisProfileStore("redis://127.0.0.1:6379/0?prefix=demo")  # doctest: +SKIP
        >>> store.apply("u1", ProfileDelta(interests={"music": 1.0})).interests  # doctest: +SKIP
        {'music': 1.0}

    """

    unavailable: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError)

    def __init__(self, url: str, prefix: str = "ecorec") -> None:
        clean_url, url_prefix = split_prefix(url)
        self.prefix = url_prefix or prefix
        timeouts = (
            {}
            if "socket_timeout" in clean_url
            else {
                "socket_timeout": TIMEOUT_S,
                "socket_connect_timeout": TIMEOUT_S,
            }
        )
        self._client: redis.Redis = redis.Redis.from_url(
            clean_url, decode_responses=True, **timeouts
        )

    def _keys(self, user_id: str) -> _Keys:
        base = f"{self.prefix}:profile:{{{user_id}}}"
        return _Keys(
            f"{base}:recent",
            f"{base}:seen",
            f"{base}:negatives",
            f"{base}:blocked",
            f"{base}:interests",
            f"{base}:consent",
        )

    def get(self, user_id: str) -> Profile:
        """Read the profile of ``user_id`` in one transaction; unknown users are empty."""
        keys = self._keys(user_id)
        with self._client.pipeline(transaction=True) as pipe:
            pipe.lrange(keys.recent, 0, -1)
            pipe.hgetall(keys.interests)
            pipe.smembers(keys.negatives)
            pipe.smembers(keys.blocked)
            pipe.hgetall(keys.consent)
            pipe.smembers(keys.seen)
            recent, interests, negatives, blocked, consent, seen = pipe.execute()
        return Profile(
            user_id=user_id,
            recent=_decode_recent(recent),
            seen=set(seen),
            negatives=set(negatives),
            blocked_creators=set(blocked),
            interests=_decode_interests(interests),
            consent=_decode_consent(consent),
        )

    def apply(self, user_id: str, delta: ProfileDelta) -> Profile:
        """Fold ``delta`` into the user's profile atomically and return the result.

        Returns:
            Exactly what :meth:`Profile.apply` computes from the state the transaction saw.

        Raises:
            RuntimeError: when other writers kept changing this user for ``MAX_RETRIES`` tries.

        """
        keys = self._keys(user_id)
        with self._client.pipeline(transaction=True) as pipe:
            for _ in range(MAX_RETRIES):
                try:
                    return self._apply_once(pipe, keys, user_id, delta)
                except redis.WatchError:
                    continue
        raise RuntimeError(f"profile of {user_id!r} changed {MAX_RETRIES} times during apply")

    def _apply_once(self, pipe: Any, keys: _Keys, user_id: str, delta: ProfileDelta) -> Profile:
        pipe.watch(keys.recent, keys.interests)
        # After WATCH the pipeline runs commands immediately: these reads are the base state.
        old_recent = _decode_recent(pipe.lrange(keys.recent, 0, -1)) if delta.recent else []
        old_interests = _decode_interests(pipe.hgetall(keys.interests))
        folded = Profile(user_id, recent=list(old_recent), interests=dict(old_interests))
        folded.apply(ProfileDelta(recent=delta.recent, interests=delta.interests))

        pipe.multi()
        if delta.recent:
            _queue_recent(pipe, keys.recent, old_recent, delta.recent, folded.recent)
            pipe.sadd(keys.seen, *{item_id for item_id, _ in delta.recent})
        if delta.interests:
            pipe.hset(
                keys.interests,
                mapping={name: repr(folded.interests[name]) for name in delta.interests},
            )
        if delta.negatives:
            pipe.sadd(keys.negatives, *delta.negatives)
        if delta.blocked_creators:
            pipe.sadd(keys.blocked, *delta.blocked_creators)
        if delta.consent:
            pipe.hset(keys.consent, mapping={k: int(v) for k, v in delta.consent.items()})
        if not delta.recent:
            pipe.lrange(keys.recent, 0, -1)
        pipe.smembers(keys.negatives)
        pipe.smembers(keys.blocked)
        pipe.hgetall(keys.consent)
        pipe.smembers(keys.seen)
        replies = pipe.execute()
        negatives, blocked, consent, seen = replies[-4:]
        recent = folded.recent if delta.recent else _decode_recent(replies[-5])
        return Profile(
            user_id=user_id,
            recent=recent,
            seen=set(seen),
            negatives=set(negatives),
            blocked_creators=set(blocked),
            interests=folded.interests,
            consent=_decode_consent(consent),
        )

    def delete(self, user_id: str) -> None:
        """Remove every key of ``user_id`` (right to erasure)."""
        self._client.delete(*self._keys(user_id))

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()


def _queue_recent(
    pipe: Any,
    key: str,
    old: list[tuple[str, float]],
    added: list[tuple[str, float]],
    folded: list[tuple[str, float]],
) -> None:
    """Queue the cheapest write that turns ``old`` into ``folded``.

    The common case, events arriving in time order, only appends and trims; an out-of-order
    delta rewrites the list (at most ``RECENT_LIMIT`` entries).
    """
    ordered = sorted(added, key=lambda pair: pair[1])
    if not old or ordered[0][1] >= old[-1][1]:
        pipe.rpush(key, *(_encode_pair(pair) for pair in ordered[-RECENT_LIMIT:]))
        pipe.ltrim(key, -RECENT_LIMIT, -1)
    else:
        pipe.delete(key)
        pipe.rpush(key, *(_encode_pair(pair) for pair in folded))


def _encode_pair(pair: tuple[str, float]) -> str:
    return json.dumps([pair[0], pair[1]])


def _decode_recent(raw: list[str]) -> list[tuple[str, float]]:
    pairs = (json.loads(entry) for entry in raw)
    return [(str(item_id), float(ts)) for item_id, ts in pairs]


def _decode_interests(raw: dict[str, str]) -> dict[str, float]:
    return {name: float(value) for name, value in raw.items()}


def _decode_consent(raw: dict[str, str]) -> dict[str, bool]:
    return {flag: value == "1" for flag, value in raw.items()}
