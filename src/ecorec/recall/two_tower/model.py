"""The two towers (Yi et al. 2019, "Sampling-bias-corrected neural modeling"), as named blocks.

Each tower is an MLP over the concatenated embeddings of its features and ends in L2
normalisation, so a user-item score is a cosine; the softmax temperature lives in the loss
(``training.py``), not here. The item-id and category tables are shared: the user tower pools
the ids of the user's recent items and weighs category rows by the user's interests, which
puts users and the items they consume in one space from the first epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - the name PyTorch code always uses
from torch import Tensor, nn

from ecorec.recall.two_tower.features import ItemInputs, UserInputs
from ecorec.recall.two_tower.vocab import PAD

#: What the user tower can read: the user's id, their recent items, their category interests.
USER_FEATURES = ("user_id", "history", "interests")


@dataclass(frozen=True)
class TowerSizes:
    """Table sizes and widths that fix the shape of every parameter (saved as JSON)."""

    users: int
    items: int
    categories: int
    tags: int
    creators: int
    embedding_size: int
    hidden_sizes: tuple[int, ...]
    user_features: tuple[str, ...] = USER_FEATURES

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TowerSizes:
        fields: dict[str, Any] = dict(raw)
        for key in ("hidden_sizes", "user_features"):  # JSON has lists, the shape wants tuples
            if key in fields:
                fields[key] = tuple(fields[key])
        return cls(**fields)


class Tower(nn.Module):
    """MLP (ReLU between layers) followed by L2 normalisation."""

    def __init__(self, in_features: int, hidden_sizes: Sequence[int], out_features: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden_sizes:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, out_features))
        self.mlp = nn.Sequential(*layers)

    def forward(self, features: Tensor) -> Tensor:
        return F.normalize(self.mlp(features), dim=-1)


def masked_mean(table: nn.Embedding, rows: Tensor) -> Tensor:
    """Mean of the embeddings of ``rows`` (B, L), skipping :data:`PAD`; zeros if all padding."""
    return F.embedding_bag(rows, table.weight, mode="mean", padding_idx=PAD, sparse=table.sparse)


class TwoTowerModel(nn.Module):
    """Feature embeddings plus a user tower and an item tower into one ``embedding_size`` space.

    Example:
        >>> sizes = TowerSizes(10, 10, 3, 4, 5, embedding_size=8, hidden_sizes=(16,))
        >>> model = TwoTowerModel(sizes)
        >>> model.item_tower.mlp[0].in_features, model.user_tower.mlp[0].in_features
        (32, 24)

    """

    def __init__(self, sizes: TowerSizes) -> None:
        super().__init__()
        d = sizes.embedding_size
        self.sizes = sizes
        # id tables can have millions of rows: sparse gradients update only the rows a batch
        # touched, where dense ones would make every step O(catalog)
        self.user_id = nn.Embedding(sizes.users, d, padding_idx=PAD, sparse=True)
        self.item_id = nn.Embedding(sizes.items, d, padding_idx=PAD, sparse=True)
        self.creator = nn.Embedding(sizes.creators, d, padding_idx=PAD, sparse=True)
        self.category = nn.Embedding(sizes.categories + 1, d, padding_idx=PAD)
        self.tag = nn.Embedding(sizes.tags + 1, d, padding_idx=PAD)
        self.item_tower = Tower(4 * d, sizes.hidden_sizes, d)
        self.user_tower = Tower(len(sizes.user_features) * d, sizes.hidden_sizes, d)

    def encode_items(self, item: ItemInputs) -> Tensor:
        """Unit vectors (B, d) of items from id, category, mean tag and creator embeddings."""
        parts = [
            self.item_id(torch.from_numpy(item.item)),
            self.category(torch.from_numpy(item.category)),
            masked_mean(self.tag, torch.from_numpy(item.tags)),
            self.creator(torch.from_numpy(item.creator)),
        ]
        vectors: Tensor = self.item_tower(torch.cat(parts, dim=-1))
        return vectors

    def encode_users(self, user: UserInputs) -> Tensor:
        """Unit vectors (B, d) of users from id, pooled recent items and interests.

        Interests weigh the category table's rows, so they land where the item tower puts
        those categories.
        """
        wanted = self.sizes.user_features
        parts = []
        if "user_id" in wanted:
            parts.append(self.user_id(torch.from_numpy(user.user)))
        if "history" in wanted:
            parts.append(masked_mean(self.item_id, torch.from_numpy(user.history)))
        if "interests" in wanted:
            parts.append(torch.from_numpy(user.interests) @ self.category.weight)
        vectors: Tensor = self.user_tower(torch.cat(parts, dim=-1))
        return vectors

    def sparse_parameters(self) -> list[Tensor]:
        """The id tables (sparse gradients); everything else is dense."""
        return [table.weight for table in (self.user_id, self.item_id, self.creator)]

    def dense_parameters(self) -> list[Tensor]:
        sparse = {id(p) for p in self.sparse_parameters()}
        return [p for p in self.parameters() if id(p) not in sparse]

    @classmethod
    def create(cls, sizes: TowerSizes, generator: torch.Generator | None = None) -> TwoTowerModel:
        """A model initialised from ``generator`` (uninitialised when None: about to be loaded).

        Modules are built on the meta device first because ``nn.Linear``/``nn.Embedding``
        initialise themselves from torch's global generator, which library code leaves alone.
        """
        with torch.device("meta"):
            model = cls(sizes)
        model = model.to_empty(device="cpu")
        if generator is not None:
            model.reset_parameters(generator)
        return model

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Initialise every weight from ``generator`` (library code never seeds torch globally)."""
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, nn.Embedding):
                    nn.init.normal_(module.weight, std=0.05, generator=generator)
                    module.weight[PAD].zero_()
                elif isinstance(module, nn.Linear):
                    nn.init.xavier_uniform_(module.weight, generator=generator)
                    nn.init.zeros_(module.bias)
