"""Configuration of the two-tower channel (its own module so training and serving share it)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ecorec.core.component import ComponentConfig
from ecorec.recall.ann import AnnConfig


class TwoTowerConfig(ComponentConfig):
    """Shape, training and serving parameters of :class:`TwoTowerRecall`.

    Attributes:
        n: candidates returned per request.
        exclude_seen: skip items the user already consumed (merge would drop them anyway).
        embedding_size: width of every feature embedding and of the output space.
        hidden_sizes: hidden layer widths of each tower's MLP (empty: a linear tower).
        user_features: what the user tower reads: the user id, the mean of their recent
            items, their category interests. Without ``history`` and ``interests`` the model
            is a collaborative two-tower that a click changes only through ``exclude_seen``.
        history_length: how many of the profile's most recent items the user tower pools.
        horizon: how far ahead of the user's state the positive may lie, in interactions.
            ``1`` (default) is next-item prediction from the state just before the
            interaction (YouTube's "predict the next watch"); ``h > 1`` reads the state before
            one of the last ``h`` interactions up to the positive; ``0`` anywhere before it
            (a PinnerFormer-like long-horizon objective). Always point-in-time correct.
        max_tags: tags per item read by the item tower (the rest are ignored).
        user_buckets, item_buckets, creator_buckets: embedding rows per id kind; ids get their
            own row while they fit, and share rows by a stable hash beyond.
        epochs, batch_size, learning_rate: Adam training schedule; every batch's other
            positives are its negatives, so a larger batch means more negatives.
        temperature: softmax temperature over cosine scores (smaller: sharper).
        logq_correction: subtract log(sampling probability) of each in-batch item from its
            logit, so popular items are not over-penalised as negatives (Yi et al. 2019).
        id_dropout: probability that a training sample's user, item and creator ids are
            each replaced by the out-of-vocabulary row, which teaches the towers to serve new
            users, cold items and new creators from their other features.
        history_dropout: probability that a training sample's history and interests are
            hidden, so the id path also learns alone and the tower serves thin profiles.
        seed: seeds initialisation, shuffling and dropout (local generators only).
        num_threads: torch CPU threads while training (None: leave torch's setting alone).
        ann: the index the item vectors are served from.

    """

    n: int = Field(200, gt=0)
    exclude_seen: bool = True
    embedding_size: int = Field(64, gt=0)
    hidden_sizes: tuple[int, ...] = (128,)
    user_features: tuple[Literal["user_id", "history", "interests"], ...] = Field(
        ("user_id", "history", "interests"), min_length=1
    )
    history_length: int = Field(50, gt=0)
    horizon: int = Field(1, ge=0)
    max_tags: int = Field(8, gt=0)
    user_buckets: int = Field(500_000, gt=0)
    item_buckets: int = Field(500_000, gt=0)
    creator_buckets: int = Field(100_000, gt=0)
    epochs: int = Field(10, ge=0)
    batch_size: int = Field(1024, gt=1)
    learning_rate: float = Field(0.005, gt=0)
    temperature: float = Field(0.2, gt=0)
    logq_correction: bool = True
    id_dropout: float = Field(0.1, ge=0, lt=1)
    history_dropout: float = Field(0.5, ge=0, le=1)
    seed: int = 0
    num_threads: int | None = Field(None, gt=0)
    ann: AnnConfig = Field(default_factory=AnnConfig)
