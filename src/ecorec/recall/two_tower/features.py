"""The inputs of both towers, built the same way at training and at request time.

Training cuts one sample per interaction out of the time-ordered stream: the user's features
are computed from what they consumed strictly before it (point-in-time correct, so the model
never learns from the future it is asked to predict); at request time the same features come
from the live :class:`~ecorec.core.profile.Profile`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ecorec.core.entities import Item
from ecorec.core.profile import Profile
from ecorec.recall.two_tower.config import TwoTowerConfig
from ecorec.recall.two_tower.vocab import PAD, IdVocab


@dataclass
class UserInputs:
    """A batch of user-tower inputs.

    Attributes:
        user: (B,) user-id embedding rows.
        history: (B, N) item-id rows of recent items, :data:`PAD` where there is none.
        interests: (B, C + 1) category weights summing to 1 (column 0, "no category", unused).

    """

    user: np.ndarray
    history: np.ndarray
    interests: np.ndarray


@dataclass
class ItemInputs:
    """A batch of item-tower inputs (rows of :class:`ItemFeatures`)."""

    item: np.ndarray
    category: np.ndarray
    tags: np.ndarray
    creator: np.ndarray


@dataclass
class ItemFeatures:
    """Every item the model knows, by row: ids sorted, features aligned.

    Attributes:
        item_ids: sorted unicode ids.
        id_rows: item-id embedding rows (OOV for items without interactions).
        category: category index (0 = none).
        tags: (items, max_tags) tag indices, 0-padded.
        creator: creator-id embedding rows (PAD when the creator is unknown).
        deleted: items the catalog marks deleted: trained on as history, never indexed.

    """

    item_ids: np.ndarray
    id_rows: np.ndarray
    category: np.ndarray
    tags: np.ndarray
    creator: np.ndarray
    deleted: np.ndarray

    def rows_of(self, item_ids: np.ndarray) -> np.ndarray:
        """Row of each id (every id must be present)."""
        return np.searchsorted(self.item_ids, item_ids)

    def inputs(self, rows: np.ndarray) -> ItemInputs:
        return ItemInputs(
            self.id_rows[rows], self.category[rows], self.tags[rows], self.creator[rows]
        )


@dataclass
class FeatureSpace:
    """Vocabularies shared by training and serving.

    Attributes:
        users, items, creators: id vocabularies (items: those with interactions).
        categories, tags: names; index ``k`` has embedding row ``k + 1``.

    """

    users: IdVocab
    items: IdVocab
    creators: IdVocab
    categories: list[str]
    tags: list[str]

    def __post_init__(self) -> None:
        self._category_index = {name: k + 1 for k, name in enumerate(self.categories)}

    @classmethod
    def build(
        cls, table: pa.Table, metadata: dict[str, Item], config: TwoTowerConfig
    ) -> tuple[FeatureSpace, ItemFeatures]:
        """Vocabularies from the interactions ``table``, and features of every item.

        Creators, categories and tags get a row only when an item with interactions carries
        them: a row no sample ever trains would be noise, where the out-of-vocabulary row (or
        "none") at least means "unknown" to the towers.

        Returns:
            the space, and features of every item with interactions or metadata.

        """
        column = table.column("item_id").to_numpy(zero_copy_only=False)
        interacted = np.unique(np.asarray(column, dtype=str))
        learned = [metadata[i] for i in interacted.tolist() if i in metadata]
        users = table.column("user_id").to_numpy(zero_copy_only=False)
        space = cls(
            users=IdVocab.build(np.asarray(users, dtype=str), config.user_buckets),
            items=IdVocab.build(interacted, config.item_buckets),
            creators=IdVocab.build(
                [i.creator_id for i in learned if i.creator_id is not None],
                config.creator_buckets,
            ),
            categories=sorted({i.category for i in learned if i.category}),
            tags=sorted({t for i in learned for t in i.tags}),
        )
        every = np.union1d(interacted, np.asarray(list(metadata), dtype=str))
        return space, space.item_features(every, metadata, config.max_tags)

    def item_features(
        self, item_ids: np.ndarray, metadata: dict[str, Item], max_tags: int
    ) -> ItemFeatures:
        """Features of ``item_ids`` (sorted unique) from their catalog ``metadata``."""
        tag_index = {name: k + 1 for k, name in enumerate(self.tags)}
        category = np.zeros(len(item_ids), dtype=np.int64)
        tags = np.zeros((len(item_ids), max_tags), dtype=np.int64)
        creators = np.empty(len(item_ids), dtype=object)
        deleted = np.zeros(len(item_ids), dtype=bool)
        for row, item_id in enumerate(item_ids.tolist()):
            item = metadata.get(item_id)
            if item is None:
                continue
            category[row] = self._category_index.get(item.category or "", 0)
            known = [tag_index[t] for t in dict.fromkeys(item.tags) if t in tag_index]
            tags[row, : len(known[:max_tags])] = known[:max_tags]
            creators[row] = item.creator_id
            deleted[row] = item.deleted
        # an item without a creator has nothing to say (padding); a creator unseen in training
        # is a new creator (the out-of-vocabulary row, trained through id dropout)
        has_creator = np.array([c is not None for c in creators], dtype=bool)
        creator = np.full(len(item_ids), PAD, dtype=np.int64)
        creator[has_creator] = self.creators.rows_of(creators[has_creator].astype(str))
        return ItemFeatures(
            item_ids, self.items.rows_of(item_ids), category, tags, creator, deleted
        )

    def profile_inputs(self, profile: Profile, history_length: int) -> UserInputs:
        """The user-tower inputs of one live profile (recent items newest last)."""
        recent = [item_id for item_id, _ in profile.recent[-history_length:]]
        history = np.full((1, history_length), PAD, dtype=np.int64)
        if recent:
            rows = self.items.rows_of(recent, unknown=PAD)
            history[0, : len(rows)] = rows
        interests = np.zeros((1, len(self.categories) + 1), dtype=np.float32)
        for name, weight in profile.interests.items():
            column = self._category_index.get(name)
            if column is not None and weight > 0:  # not-interested clicks push weights below 0
                interests[0, column] = weight
        total = interests.sum()
        if total > 0:
            interests /= total
        return UserInputs(self.users.rows_of([profile.user_id]), history, interests)


@dataclass
class InteractionStream:
    """Interactions sorted by (user, time): the positions training samples are cut from.

    Attributes:
        user: user-id row per position.
        item: :class:`ItemFeatures` row per position (the positive item).
        start: first position of the position's user.
        cut: first position of the user's interactions at the same timestamp: history ends
            there, so simultaneous interactions never see each other.
        history_rows: item-id row per position (what pooled history reads).
        category_keys: ``category * n + position`` of every position whose item has a
            category, sorted: counts a category over a range of positions by binary search.

    """

    user: np.ndarray
    item: np.ndarray
    start: np.ndarray
    cut: np.ndarray
    history_rows: np.ndarray
    category_keys: np.ndarray

    @classmethod
    def build(cls, table: pa.Table, space: FeatureSpace, items: ItemFeatures) -> InteractionStream:
        """Sort ``table`` (user_id, item_id, ts) and resolve every id to its rows."""
        users = pc.dictionary_encode(table.column("user_id")).combine_chunks()
        codes = users.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        ts = table.column("ts").to_numpy(zero_copy_only=False).astype(np.float64)
        order = np.lexsort((ts, codes))
        codes, ts = codes[order], ts[order]
        item_ids = np.asarray(table.column("item_id").to_numpy(zero_copy_only=False), dtype=str)
        item = items.rows_of(item_ids[order])
        positions = np.arange(len(codes))
        new_user = np.ones(len(codes), dtype=bool)
        new_user[1:] = codes[1:] != codes[:-1]
        new_moment = new_user.copy()
        new_moment[1:] |= ts[1:] != ts[:-1]
        user_rows = space.users.rows_of(np.asarray(users.dictionary.to_pylist(), dtype=str))
        category = items.category[item]
        has_category = np.flatnonzero(category > 0)
        return cls(
            user=user_rows[codes],
            item=item,
            start=np.maximum.accumulate(np.where(new_user, positions, 0)),
            cut=np.maximum.accumulate(np.where(new_moment, positions, 0)),
            history_rows=items.id_rows[item],
            category_keys=np.sort(category[has_category] * len(codes) + has_category),
        )

    def __len__(self) -> int:
        return len(self.user)

    def item_counts(self, n_items: int) -> np.ndarray:
        """Interactions per item row: the in-batch sampling frequency log-Q corrects for."""
        return np.bincount(self.item, minlength=n_items).astype(np.float64)

    def user_inputs(
        self,
        positions: np.ndarray,
        history_length: int,
        n_categories: int,
        horizon: int = 1,
        rng: np.random.Generator | None = None,
    ) -> UserInputs:
        """Inputs of the users at ``positions`` as they were before those interactions.

        Args:
            positions: the samples (their interaction is the positive).
            history_length: recent items pooled.
            n_categories: width of the interest vector.
            horizon: ``1``: the user's state just before the interaction (next-item
                prediction). ``h > 1``: the state just before one of the ``h`` interactions
                up to and including it, drawn at random, so the positive lies up to ``h - 1``
                interactions in the future. ``0``: anywhere in the user's past.
            rng: draws the cut when ``horizon != 1``.

        """
        start, cut = self.start[positions], self.cut[positions]
        if horizon != 1 and rng is not None:
            # the state is read strictly before the chosen cut, which is never after the
            # positive: still point-in-time correct, only further from the positive
            earliest = start if horizon == 0 else np.maximum(start, cut - horizon + 1)
            cut = cut - np.floor(rng.random(len(cut)) * (cut - earliest + 1)).astype(np.int64)
        back = cut[:, None] - np.arange(history_length, 0, -1)[None, :]
        valid = back >= start[:, None]
        history = np.where(valid, self.history_rows[np.maximum(back, 0)], PAD)
        return UserInputs(self.user[positions], history, self._interests(start, cut, n_categories))

    def _interests(self, start: np.ndarray, cut: np.ndarray, n_categories: int) -> np.ndarray:
        # count each category among positions [start, cut) with two binary searches per
        # category on sorted (category, position) keys: O(B C log n), no per-user loops
        keys = self.category_keys
        n = len(self.user)
        offsets = np.arange(1, n_categories + 1, dtype=np.int64)[None, :] * n
        counts = np.searchsorted(keys, offsets + cut[:, None]) - np.searchsorted(
            keys, offsets + start[:, None]
        )
        out = np.zeros((len(start), n_categories + 1), dtype=np.float32)
        out[:, 1:] = counts
        total = out.sum(axis=1, keepdims=True)
        np.divide(out, total, out=out, where=total > 0)
        return out


def catalog_items(items: Iterable[Item]) -> dict[str, Item]:
    """Item metadata by id (the last entity wins when a source repeats one)."""
    return {item.item_id: item for item in items}
