"""One embedding block for a whole :class:`~ecorec.features.schema.Schema`.

Every id-valued field (sparse, multi, sequence) reads from a single ``nn.Embedding`` that holds
each table at an offset, so a batch costs one gather instead of one lookup per field: on CPU,
with a dozen small fields, per-field lookups and their backward passes dominate a CTR model's
step. Row 0 of the shared table is the one :data:`~ecorec.features.schema.PAD` row, fixed at
zero (``padding_idx``), so padding adds nothing to a pooled bag and needs no mask there.

A field whose ``embed`` names another field reads that field's table (the history of a
``sequence`` shares the target item's vectors). Multi fields, and sequence fields that are not
attended to, are mean-pooled over their real (non-PAD) ids. The attended sequence comes back
unpooled with its mask, cut to the batch's longest real history (trailing all-PAD columns
change nothing and only cost time); when asked and every row holds the same history (one
user's serving request against many candidates) it is looked up once, ``(1, L, D)``.

Optionally each row also carries ``linear`` scalar weights per id (the wide / first-order
part of Wide&Deep and DeepFM) as extra columns of the same table, so one gather serves both.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ecorec.features.schema import Batch, FieldKind, Schema


@dataclass
class Embedded:
    """What :class:`SchemaEmbedding` makes of a batch.

    Attributes:
        fields: ``(B, F, D)`` one vector per sparse field, then per pooled bag.
        dense: ``(B, n_dense)`` the dense fields as floats (``None`` when there are none).
        linear: ``(B, linear)`` summed per-id scalar weights (``None`` unless asked for).
        sequence: ``(B, L, D)`` the attended sequence (``None`` unless asked for).
        mask: ``(B, L)`` true at real (non-PAD) positions of ``sequence``.
        shared: positions among the ``F`` field vectors known to be the same on every row
            (inference on one request's rows: its user, context and behaviour).

    """

    fields: torch.Tensor
    dense: torch.Tensor | None = None
    linear: torch.Tensor | None = None
    sequence: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    shared: tuple[int, ...] = ()

    def flat_shared(self) -> tuple[int, ...]:
        """The columns of :meth:`flat` that hold the :attr:`shared` field vectors."""
        width = self.fields.shape[2]
        return tuple(k * width + d for k in self.shared for d in range(width))

    def flat(self, *extra: torch.Tensor) -> torch.Tensor:
        """``(B, F*D + n_dense + ...)``: field vectors, dense values and ``extra``, side by side."""
        parts = [self.fields.flatten(1)]
        if self.dense is not None:
            parts.append(self.dense)
        parts.extend(extra)
        return torch.cat(parts, 1) if len(parts) > 1 else parts[0]


class SchemaEmbedding(nn.Module):
    """All id fields of a schema looked up in one shared table.

    Args:
        schema: the fields to embed.
        dim: width of every embedding.
        linear: scalar weights per id to carry alongside (0: none; Wide&Deep and DeepFM ask
            for one per objective).
        attend: the sequence field to return unpooled (DIN, DIEN); ``None`` pools every
            sequence like a bag.
        init_std: standard deviation of the initial vectors (linear weights start at zero).
            On MovieLens-100K (P3, Adam 1e-3, batch 1024) DeepFM's best validation AUC was
            0.6953-0.6955 from 1e-4, 1e-3 and 0.01 but 0.6945 from 0.05, and DIN's 0.6963
            from 0.01 against 0.6940 from 1e-4 and 0.6938 from 0.05 (one seed each).

    Example:
        >>> from ecorec.features.schema import Field, FieldKind, Schema
        >>> schema = Schema((Field("user_id", FieldKind.SPARSE, 10),
        ...                  Field("item_id", FieldKind.SPARSE, 20)))
        >>> block = SchemaEmbedding(schema, 4)
        >>> block({"user_id": torch.tensor([2, 3]), "item_id": torch.tensor([1, 5])}).fields.shape
        torch.Size([2, 2, 4])

    """

    base: torch.Tensor

    def __init__(
        self,
        schema: Schema,
        dim: int,
        linear: int = 0,
        attend: str | None = None,
        init_std: float = 0.01,
    ) -> None:
        super().__init__()
        self.dim, self.n_linear, self.attend = dim, linear, attend
        bases, rows = {}, 1  # row 0: the shared PAD row
        for f in schema.fields:
            if f.kind is not FieldKind.DENSE and f.embed is None:
                bases[f.name] = rows - 1  # code c of this table lives at row base + c (c >= 1)
                rows += f.vocab_size - 1
        self._bases = bases
        self._schema = schema
        self.sparse = [f.name for f in schema.of_kind(FieldKind.SPARSE)]
        self.bags = [
            f.name for f in schema.of_kind(FieldKind.MULTI, FieldKind.SEQUENCE) if f.name != attend
        ]
        self.dense = [f.name for f in schema.of_kind(FieldKind.DENSE)]
        #: the name of each of the ``F`` field vectors, in order.
        self.names = self.sparse + self.bags
        # Row offset of every id column: sparse fields, then each bag's columns, then history.
        base = [self.base_of(n) for n in self.sparse]
        for n in self.bags:
            base += [self.base_of(n)] * schema[n].max_len
        if attend is not None:
            base += [self.base_of(attend)] * schema[attend].max_len
        self.register_buffer("base", torch.tensor(base, dtype=torch.long), persistent=False)
        self._bases_cache: dict[tuple[str, ...], tuple[torch.Tensor, torch.Tensor]] = {}
        # (fields, weights' identity and version) -> projected tables and each field's offset
        self._projected: dict[
            tuple[str, ...], tuple[tuple[int, ...], torch.Tensor, torch.Tensor, dict[str, int]]
        ] = {}
        bag_width = sum(schema[n].max_len for n in self.bags)
        self._fixed = len(self.sparse) + bag_width
        self.table = nn.Embedding(rows, dim + linear, padding_idx=0)
        with torch.no_grad():
            self.table.weight.normal_(0.0, init_std)
            self.table.weight[:, dim:] = 0.0
            self.table.weight[0] = 0.0

    def base_of(self, name: str) -> int:
        """Row offset of the table that field ``name`` reads (following ``embed`` links)."""
        field = self._schema[name]
        while field.embed is not None:
            field = self._schema[field.embed]
        return self._bases[field.name]

    def vocab_of(self, name: str) -> int:
        """Vocabulary size of the table that field ``name`` reads."""
        field = self._schema[name]
        while field.embed is not None:
            field = self._schema[field.embed]
        return field.vocab_size

    def index(self, name: str) -> int:
        """Position of field ``name`` among the ``F`` field vectors."""
        return self.names.index(name)

    @property
    def n_fields(self) -> int:
        """``F``, the number of field vectors."""
        return len(self.names)

    def lookup(self, name: str, codes: torch.Tensor) -> torch.Tensor:
        """Vectors ``(*codes.shape, D)`` of ``codes`` in the table of field ``name``."""
        rows = torch.where(codes > 0, codes + self.base_of(name), 0)
        vectors: torch.Tensor = self.table(rows)
        return vectors[..., : self.dim]

    def project(self, batch: Batch, names: tuple[str, ...], weight: torch.Tensor) -> torch.Tensor:
        """``(B, H)``: the vectors of fields ``names`` times their columns of ``weight``.

        ``weight`` is ``(H, F*D + ...)``, the columns of the field at position ``k`` of
        :attr:`names` being ``k*D .. k*D+D-1`` (a first layer over :meth:`Embedded.flat`).
        Inference only: each field's table is multiplied once, ``(V, D) -> (V, H)``, and kept
        while neither weight changes, so a row costs a sum of gathered ``H``-vectors (a bag's
        mean is the mean of its ids' products) instead of a product with ``weight``. Equal to
        the product up to float rounding.
        """
        table = self.table.weight
        version = (table.data_ptr(), table._version, weight.data_ptr(), weight._version)
        found = self._projected.get(names)
        if found is None or found[0] != version:
            parts, offsets, start = [], {}, 0
            for name in names:
                codes = torch.arange(self.vocab_of(name), device=table.device)
                rows = torch.where(codes > 0, codes + self.base_of(name), 0)
                at = self.index(name) * self.dim
                parts.append(table[rows, : self.dim] @ weight[:, at : at + self.dim].T)
                offsets[name] = start
                start += len(codes)
            starts = [offsets[n] for n in names if n in self.sparse]
            found = (version, torch.cat(parts), torch.tensor(starts, device=table.device), offsets)
            self._projected[names] = found
        _, projected, sparse_offsets, offsets = found
        size = batch[names[0]].shape[0]
        out = torch.zeros(size, projected.shape[1], dtype=projected.dtype, device=table.device)
        sparse = [batch[n].view(size, 1) for n in names if n in self.sparse]
        if sparse:
            ids = torch.cat(sparse, 1) + sparse_offsets
            out += nn.functional.embedding_bag(ids, projected, mode="sum")
        for name in names:
            if name not in self.sparse:  # a bag: the mean over its real (non-PAD) ids
                at = offsets[name]
                codes = batch[name].view(size, -1) + at
                out += nn.functional.embedding_bag(codes, projected, mode="mean", padding_idx=at)
        return out

    def _shared_bags(self, batch: Batch, size: int) -> tuple[str, ...]:
        """The behaviour sequences pooled as bags whose every row equals the first."""
        return tuple(
            n
            for n in self.bags
            if self._schema[n].kind is FieldKind.SEQUENCE and _same_rows(batch[n].view(size, -1))
        )

    def _base_without(self, shared: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        """Row offsets of the id columns left once the ``shared`` bags are taken out, and theirs.

        The second holds the ``shared`` bags' columns side by side, in :attr:`bags` order.
        """
        found = self._bases_cache.get(shared)
        if found is None or found[0].device != self.base.device:
            keep = torch.ones(len(self.base), dtype=torch.bool, device=self.base.device)
            start = len(self.sparse)
            for n in self.bags:
                width = self._schema[n].max_len
                if n in shared:
                    keep[start : start + width] = False
                start += width
            found = self._bases_cache[shared] = (self.base[keep], self.base[~keep])
        return found

    def _pool(
        self, vectors: torch.Tensor, ids: torch.Tensor, names: list[str]
    ) -> list[torch.Tensor]:
        """Mean of each bag's real (non-PAD) vectors (bags side by side in ``vectors``/``ids``)."""
        widths = [self._schema[n].max_len for n in names]
        out = []
        for bag, bag_ids in zip(
            torch.split(vectors, widths, 1), torch.split(ids, widths, 1), strict=True
        ):
            count = (bag_ids > 0).sum(1, keepdim=True).to(bag.dtype).clamp(min=1.0)
            out.append(bag.sum(1) / count)
        return out

    def forward(self, batch: Batch, share_history: bool = False) -> Embedded:
        """Embed a batch (see :class:`Embedded`).

        Args:
            batch: the rows to embed.
            share_history: when every row holds the same attended history (one user's
                request scored against many candidates), return it once, ``sequence (1, L, D)``
                and ``mask (1, L)``, instead of ``B`` copies; rows with different histories
                still come back one per row.

        """
        size = batch[self.names[0] if self.names else str(self.attend)].shape[0]
        # one user's request scored against many candidates: their behaviour bags are the
        # same on every row, so each is pooled once and broadcast (inference only)
        inference = not self.training and size > 1
        shared = self._shared_bags(batch, size) if inference else ()
        columns = [batch[n].view(size, -1) for n in self.names if n not in shared]
        history = None
        if self.attend is not None:
            history = batch[self.attend]
            if share_history and self.names and size > 1 and _same_rows(history):
                history = history[:1]
            real = (history != 0).any(0).nonzero()
            length = int(real[-1]) + 1 if len(real) else 1
            history = history[:, :length]
            if len(history) == size:
                columns.append(history)
        ids = torch.cat(columns, 1) if len(columns) > 1 else columns[0]
        base, shared_base = self._base_without(shared) if shared else (self.base, self.base[:0])
        rows = torch.where(ids > 0, ids + base[: ids.shape[1]], 0)
        vectors = self.table(rows)
        # split (not slicing) keeps the backward one concatenation instead of a zero-filled
        # full-size gradient per slice, which measured 15% of a DeepFM step
        n_sparse = len(self.sparse)
        fixed = self._fixed - sum(self._schema[n].max_len for n in shared)
        sparse, bags, history_vectors = vectors.split(
            [n_sparse, fixed - n_sparse, ids.shape[1] - fixed], 1
        )
        if history is not None and len(history) != size:  # shared: looked up once
            base_of = self.base_of(str(self.attend))
            history_vectors = self.table(torch.where(history > 0, history + base_of, 0))
        fields = sparse
        if self.bags:
            own = [n for n in self.bags if n not in shared]
            pooled = dict(zip(own, self._pool(bags, ids[:, n_sparse:fixed], own), strict=True))
            if shared:  # one row of every shared bag, looked up together
                one = torch.cat([batch[n][:1].view(1, -1) for n in shared], 1)
                vectors_one = self.table(torch.where(one > 0, one + shared_base, 0))
                for n, bag in zip(shared, self._pool(vectors_one, one, list(shared)), strict=True):
                    pooled[n] = bag.expand(size, -1)
            fields = torch.cat([fields, torch.stack([pooled[n] for n in self.bags], 1)], 1)
        # a sparse id expanded from one row (the encoder's request features) is the same on
        # every row by construction: no comparison needed
        same = {n for n in self.sparse if inference and batch[n].stride(0) == 0}
        out = Embedded(
            fields=fields,
            shared=tuple(k for k, n in enumerate(self.names) if n in same or n in shared),
        )
        if self.n_linear:
            out.fields, linear = fields.split([self.dim, self.n_linear], -1)
            out.linear = linear.sum(1)
            history_vectors = history_vectors.split([self.dim, self.n_linear], -1)[0]
        if history is not None:
            out.sequence = history_vectors
            out.mask = history > 0
        if self.dense:
            out.dense = torch.stack([batch[n].float() for n in self.dense], 1)
        return out


def _same_rows(values: torch.Tensor) -> bool:
    """Whether every row of ``values`` equals the first (cheap next to any model step)."""
    return bool(torch.equal(values, values[:1].expand_as(values)))
