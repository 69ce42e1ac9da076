"""Group fairness of a ranking model: a training regulariser and the gap report.

Two criteria over a sensitive user attribute (a sparse field such as ``gender``):

* demographic parity (``dp``): every group gets the same predicted positive rate;
* equalised odds (``eo``): every group gets the same true-positive rate (rows labelled 1) and
  the same false-positive rate (rows labelled 0).

The regulariser (:class:`FairnessRegulariser`) is the differentiable batch version, added to
the loss as ``weight * gap``. Its gap is the spread ``max - min`` of the groups' mean
predicted probability, not their variance, for two reasons: it is exactly the mean-score gap
the report shows (so ``weight`` trades one unit of BCE for one unit of reported gap), and its
gradient does not vanish as the gap closes (the variance of two groups is ``gap² / 4``, whose
slope goes to 0 at a small gap, so it would stop pushing before parity). Its cost is a
subgradient that moves only the two extreme groups of the batch at a time; with two or three
groups (gender, age buckets) that is every group that matters. The equalised-odds gap is the
TPR spread plus the FPR spread.

:func:`fairness_report` measures the gaps on a whole table without gradients, with the
predictions thresholded at 0.5 as a serving decision would be. PAD and OOV codes (an unknown
attribute, a user first seen after training) belong to no group in either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from ecorec.features.schema import FieldKind, Schema
from ecorec.features.vocab import FIRST_CODE, Vocabulary

#: Fairness criteria: demographic parity and equalised odds.
KINDS = ("dp", "eo")
#: Prediction threshold of the report's rates.
THRESHOLD = 0.5

__all__ = [
    "KINDS",
    "FairnessConfig",
    "FairnessRegulariser",
    "fairness_report",
    "group_gap",
]


class FairnessConfig(BaseModel):
    """Which attribute the regulariser equalises, by which criterion, and how hard.

    Attributes:
        attribute: a sparse field of the schema holding a user attribute (``gender``).
        kind: ``dp`` (predicted positive rate) or ``eo`` (TPR and FPR).
        weight: the factor of the gap in the loss (0: report only, no regulariser).
        objective: the objective whose predictions are equalised (``None``: the primary one).

    Example:
        >>> FairnessConfig(attribute="gender", kind="dp", weight=2.0).objective is None
        True

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    attribute: str = "gender"
    kind: Literal["dp", "eo"] = "dp"
    weight: float = Field(default=1.0, ge=0.0)
    objective: str | None = None


def group_gap(
    probabilities: torch.Tensor, codes: torch.Tensor, rows: torch.Tensor, n_codes: int
) -> torch.Tensor:
    """``max - min`` over groups of the mean probability of their selected rows; differentiable.

    Args:
        probabilities: ``(B,)`` predicted probabilities.
        codes: ``(B,)`` the attribute's vocabulary code of each row.
        rows: ``(B,)`` bool, the rows that count (all rows for parity, one label for odds).
        n_codes: the attribute's vocabulary size (PAD and OOV included).

    Returns:
        A scalar; 0 (still part of the graph) when fewer than two groups have a selected row.

    """
    codes = codes.long()
    # PAD/OOV rows are unselected, so no group collects them; the clamp keeps index_add in range
    selected = (rows & (codes >= FIRST_CODE) & (codes < n_codes)).to(probabilities.dtype)
    index = codes.clamp(0, n_codes - 1)
    zeros = probabilities.new_zeros(n_codes)
    sums = zeros.index_add(0, index, probabilities * selected)
    counts = zeros.index_add(0, index, selected)
    present = counts > 0
    means = sums / counts.clamp(min=1.0)
    # masking with +-inf instead of indexing by `present`: no host sync, one graph for all cases
    high = torch.where(present, means, -torch.inf).max()
    low = torch.where(present, means, torch.inf).min()
    return torch.where(present.sum() >= 2, high - low, zeros.sum())


@dataclass(frozen=True)
class FairnessRegulariser:
    """A :class:`FairnessConfig` checked against a schema, ready to add to each batch's loss.

    Build it with :meth:`bind`; calling it returns ``weight * gap`` of one batch.

    Example:
        >>> from ecorec.features.schema import Field, Schema
        >>> schema = Schema((Field("gender", FieldKind.SPARSE, 4),))
        >>> reg = FairnessRegulariser.bind(FairnessConfig(weight=2.0), schema)
        >>> out = {"click": torch.tensor([0.0, 0.0])}
        >>> float(reg(out, {"gender": torch.tensor([2, 3])}, {"click": torch.tensor([1.0, 0.0])}))
        0.0

    """

    attribute: str
    kind: str
    weight: float
    objective: str
    n_codes: int

    @classmethod
    def bind(cls, config: FairnessConfig, schema: Schema) -> FairnessRegulariser:
        """Check ``config`` against ``schema`` (a sparse attribute, a known objective).

        Raises:
            ValueError: the attribute is not a sparse field (the message names those that are)
                or the objective is not one of the schema's.

        """
        sparse = [f.name for f in schema.of_kind(FieldKind.SPARSE)]
        if config.attribute not in sparse:
            raise ValueError(
                f"fairness attribute {config.attribute!r} is not a sparse field of the schema; "
                f"sparse fields: {', '.join(sparse) or 'none'}"
            )
        objective = config.objective or schema.objectives[0]
        if objective not in schema.objectives:
            raise ValueError(
                f"fairness objective {objective!r} is not predicted; "
                f"objectives: {', '.join(schema.objectives)}"
            )
        n_codes = schema.table_of(config.attribute).vocab_size  # a shared table: its owner's
        return cls(config.attribute, config.kind, config.weight, objective, n_codes)

    def gap(
        self,
        outputs: Mapping[str, torch.Tensor],
        features: Mapping[str, torch.Tensor],
        labels: Mapping[str, torch.Tensor],
    ) -> torch.Tensor:
        """The batch's unweighted gap: parity over all rows, or TPR gap + FPR gap."""
        p = torch.sigmoid(outputs[self.objective])
        codes = features[self.attribute]
        if self.kind == "dp":
            return group_gap(p, codes, torch.ones_like(p, dtype=torch.bool), self.n_codes)
        y = labels[self.objective]  # NaN (unknown) is neither 1 nor 0: in neither gap
        return group_gap(p, codes, y == 1, self.n_codes) + group_gap(p, codes, y == 0, self.n_codes)

    def __call__(
        self,
        outputs: Mapping[str, torch.Tensor],
        features: Mapping[str, torch.Tensor],
        labels: Mapping[str, torch.Tensor],
    ) -> torch.Tensor:
        """``weight * gap`` of one batch (the term added to the loss)."""
        return self.weight * self.gap(outputs, features, labels)


def fairness_report(
    probabilities: np.ndarray,
    labels: np.ndarray,
    codes: np.ndarray,
    vocabulary: Vocabulary | None = None,
    threshold: float = THRESHOLD,
) -> dict[str, Any]:
    """Per-group rates and the gaps between groups, on a whole table (no gradients).

    Args:
        probabilities: predicted probability of each row.
        labels: each row's label (NaN: unknown, left out of TPR/FPR).
        codes: each row's attribute code; PAD and OOV rows belong to no group.
        vocabulary: the attribute's vocabulary, to name the groups (else the code names it).
        threshold: a prediction at or above it is a positive.

    Returns:
        ``gap_dp`` (spread of the positive rate at ``threshold``), ``gap_dp_score`` (spread of
        the mean score), ``gap_tpr``, ``gap_fpr``, ``gap_eo`` (the larger of those two), and
        ``groups``: name -> ``rows``, ``label_rate``, ``positive_rate``, ``mean_score``,
        ``tpr``, ``fpr``. A rate with no row to measure it on is ``None``, and so is a gap
        with fewer than two groups to compare.

    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    c = np.asarray(codes, dtype=np.int64)
    decided = p >= threshold
    groups: dict[str, dict[str, Any]] = {}
    for code in np.unique(c[c >= FIRST_CODE]).tolist():
        name = vocabulary.decode([code])[0] if vocabulary is not None else None
        mine = c == code
        positive, negative = mine & (y == 1), mine & (y == 0)
        groups[name if name is not None else str(code)] = {
            "rows": int(mine.sum()),
            "label_rate": _mean(y[mine & ~np.isnan(y)]),
            "positive_rate": _mean(decided[mine]),
            "mean_score": _mean(p[mine]),
            "tpr": _mean(decided[positive]),
            "fpr": _mean(decided[negative]),
        }
    tpr, fpr = _spread(groups, "tpr"), _spread(groups, "fpr")
    defined = [g for g in (tpr, fpr) if g is not None]
    return {
        "gap_dp": _spread(groups, "positive_rate"),
        "gap_dp_score": _spread(groups, "mean_score"),
        "gap_eo": max(defined) if defined else None,
        "gap_tpr": tpr,
        "gap_fpr": fpr,
        "groups": groups,
    }


def _mean(values: np.ndarray) -> float | None:
    return round(float(values.mean()), 6) if len(values) else None


def _spread(groups: Mapping[str, Mapping[str, Any]], rate: str) -> float | None:
    """``max - min`` of ``rate`` over the groups where it is defined (None under two)."""
    values = [g[rate] for g in groups.values() if g[rate] is not None]
    return round(max(values) - min(values), 6) if len(values) >= 2 else None
