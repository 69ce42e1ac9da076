"""Two-tower recall: a user tower run on the live profile, an ANN index of item-tower vectors.

Training learns both towers from the interaction stream (``training.py``); then every item the
catalog can serve — with or without interactions, since the item tower reads category, tags and
creator too — is encoded once and indexed. A request runs the small user tower once on the
profile's recent items and interests (so a click recorded a moment ago moves the query) and
asks the index for the nearest items.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from ecorec.core.component import Component, NotTrainedError
from ecorec.core.contracts import Candidate, Request
from ecorec.core.profile import Profile
from ecorec.data.training import TrainingData
from ecorec.recall._embedding import serve
from ecorec.recall.ann import AnnIndex
from ecorec.recall.two_tower.config import TwoTowerConfig
from ecorec.recall.two_tower.features import FeatureSpace, InteractionStream, catalog_items
from ecorec.recall.two_tower.model import TowerSizes, TwoTowerModel
from ecorec.recall.two_tower.training import TrainingReport, encode_all, fit
from ecorec.recall.two_tower.vocab import OOV, PAD, IdVocab


class TwoTowerRecall(Component):
    """Items nearest to the user-tower vector of the live profile.

    Example:
        >>> import pyarrow as pa
        >>> from ecorec.data.training import TrainingData
        >>> table = pa.table({"user_id": ["a", "a", "b", "b"], "item_id": ["x", "y", "x", "z"],
        ...                   "rating": [1.0] * 4, "timestamp": [1.0, 2.0, 1.0, 2.0]})
        >>> two_tower = TwoTowerRecall({"n": 5, "epochs": 2, "ann": {"kind": "flat"}})
        >>> two_tower.train(TrainingData(table=table))
        >>> profile = Profile("a", recent=[("x", 1.0), ("y", 2.0)], seen={"x", "y"})
        >>> [c.item_id for c in two_tower(Request("a"), profile)]
        ['z']

    """

    name = "two_tower"
    personalized = True
    Config = TwoTowerConfig
    config: TwoTowerConfig

    def __init__(self, config: TwoTowerConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.model: TwoTowerModel | None = None
        self.space: FeatureSpace | None = None
        self.index: AnnIndex | None = None
        self.report = TrainingReport()
        # what the model was trained with, which a loaded model keeps whatever this config says
        self.history_length = self.config.history_length

    # -- training ---------------------------------------------------------------------------

    def train(self, data: TrainingData, options: dict[str, Any] | None = None) -> None:
        """Learn both towers from ``data``'s interactions, then index every servable item.

        Raises:
            ValueError: when ``data`` has no interaction.

        """
        tables = [t.select(["user_id", "item_id", "ts"]) for t in data.interactions()]
        table = pa.concat_tables(tables) if tables else None
        if table is None or table.num_rows == 0:
            raise ValueError(
                "two_tower: no interactions to learn from: the dataset is empty "
                "(ingest or generate data first)"
            )
        space, items = FeatureSpace.build(table, catalog_items(data.item_entities()), self.config)
        stream = InteractionStream.build(table, space, items)
        sizes = TowerSizes(
            users=space.users.n_rows,
            items=space.items.n_rows,
            categories=len(space.categories),
            tags=len(space.tags),
            creators=space.creators.n_rows,
            embedding_size=self.config.embedding_size,
            hidden_sizes=tuple(self.config.hidden_sizes),
            user_features=tuple(self.config.user_features),
        )
        model = TwoTowerModel.create(sizes, torch.Generator().manual_seed(self.config.seed))
        rng = np.random.default_rng(self.config.seed)
        threads = torch.get_num_threads()
        if self.config.num_threads is not None:
            torch.set_num_threads(self.config.num_threads)
        try:
            self.report = fit(model, stream, items, self.config, rng)
            servable = np.flatnonzero(~items.deleted)
            vectors = encode_all(model, items, servable)
        finally:
            if self.config.num_threads is not None:
                torch.set_num_threads(threads)
        index = AnnIndex(self.config.ann)
        index.build(items.item_ids[servable], vectors)
        self.model, self.space, self.index = model, space, index
        self.history_length = self.config.history_length

    def is_trained(self) -> bool:
        return self.index is not None

    # -- serving ----------------------------------------------------------------------------

    def user_vector(self, profile: Profile) -> np.ndarray | None:
        """The user-tower vector of ``profile``, or None when it carries no signal at all.

        A user unknown at training time, with no known recent item and no interest (among the
        features the tower reads), would get one generic vector for everybody: that is the
        popular channel's job, not this one's.
        """
        if self.model is None or self.space is None:
            raise NotTrainedError(self)
        inputs = self.space.profile_inputs(profile, self.history_length)
        read = self.model.sizes.user_features
        signal = {
            "user_id": inputs.user[0] != OOV,
            "history": bool((inputs.history != PAD).any()),
            "interests": bool(inputs.interests.any()),
        }
        if not any(signal[feature] for feature in read):
            return None
        with torch.inference_mode():
            vector: np.ndarray = self.model.encode_users(inputs).numpy()[0]
        return vector

    def __call__(self, request: Request, profile: Profile) -> list[Candidate]:
        if self.index is None:
            raise NotTrainedError(self)
        query = self.user_vector(profile)
        return serve(self.index, query, profile, self.config.n, self.config.exclude_seen, self.name)

    # -- persistence ------------------------------------------------------------------------

    def save(self, folder: Path) -> dict[str, Any]:
        if self.model is None or self.space is None or self.index is None:
            raise NotTrainedError(self)
        folder = Path(folder)
        torch.save(self.model.state_dict(), folder / "two_tower.pt")
        self.space.users.save(folder, "users")
        self.space.items.save(folder, "items")
        self.space.creators.save(folder, "creators")
        self.index.save(folder, "ann")
        metrics = {
            "items": len(self.index),
            "users": len(self.space.users),
            "samples": self.report.samples,
            "samples_per_s": round(self.report.samples_per_s, 1),
            "final_loss": self.report.losses[-1] if self.report.losses else None,
        }
        meta = {
            "sizes": self.model.sizes.to_dict(),
            "categories": self.space.categories,
            "tags": self.space.tags,
            "config": self.config.model_dump(mode="json"),
            "metrics": metrics,
        }
        (folder / "two_tower.json").write_text(json.dumps(meta))
        return metrics

    def load(self, folder: Path) -> None:
        folder = Path(folder)
        meta = json.loads((folder / "two_tower.json").read_text())
        sizes = TowerSizes.from_dict(meta["sizes"])
        model = TwoTowerModel.create(sizes)
        model.load_state_dict(torch.load(folder / "two_tower.pt", weights_only=True))
        model.eval()
        space = FeatureSpace(
            users=IdVocab.load(folder, "users", sizes.users),
            items=IdVocab.load(folder, "items", sizes.items),
            creators=IdVocab.load(folder, "creators", sizes.creators),
            categories=list(meta["categories"]),
            tags=list(meta["tags"]),
        )
        index = AnnIndex.load(folder, "ann")
        self.history_length = int(meta["config"]["history_length"])
        self.model, self.space, self.index = model, space, index
