"""Score fusion: the ranker's per-objective predictions become one ranking score.

``score = sum_o w_o * p_o`` over the objectives named in ``[pipeline.rank] fusion``, a weighted
sum as in YouTube's and Kuaishou's public write-ups: easy to read ("a finish is worth half a
click, a predicted 'not interested' costs a full one"), monotone in each prediction, and the
weights are exactly what the experimentation layer tunes. Negative weights penalise objectives
such as ``negative``. Objectives the model predicts but the fusion does not name weigh nothing;
a fusion naming an objective the model does not predict is an error, not a silent zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


class Fusion:
    """Weights per objective, applied to arrays of predictions.

    Args:
        weights: objective -> weight; empty means "the first objective alone" (set by
            :meth:`for_objectives`).

    Example:
        >>> fuse = Fusion({"click": 1.0, "negative": -1.0})
        >>> fuse({"click": np.array([0.5, 0.25]), "negative": np.array([0.25, 0.0])}).tolist()
        [0.25, 0.25]

    """

    def __init__(self, weights: Mapping[str, float]) -> None:
        bad = sorted(k for k, w in weights.items() if not np.isfinite(w))
        if bad:
            raise ValueError(f"fusion weights must be finite numbers: {bad}")
        self.weights = dict(weights)

    @classmethod
    def for_objectives(cls, weights: Mapping[str, float], objectives: Sequence[str]) -> Fusion:
        """The fusion of ``weights`` over a model's ``objectives`` (first objective if empty).

        Raises:
            ValueError: a weight for an objective the model does not predict.

        """
        unknown = sorted(set(weights) - set(objectives))
        if unknown:
            raise ValueError(
                f"fusion weights name {unknown}, which the model does not predict "
                f"(it predicts {', '.join(objectives)}): add them to the ranker's objectives "
                "or remove them from [pipeline.rank] fusion"
            )
        return cls(weights or {objectives[0]: 1.0})

    def __call__(self, predictions: Mapping[str, np.ndarray]) -> np.ndarray:
        """The fused score of each candidate."""
        score: np.ndarray | None = None
        for objective, weight in self.weights.items():
            term = weight * np.asarray(predictions[objective], dtype=np.float64)
            score = term if score is None else score + term
        if score is None:
            raise ValueError("a fusion needs at least one weight")
        return score
