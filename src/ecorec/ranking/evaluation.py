"""Offline evaluation of a ranking model on a CTR protocol: build, train, score, report.

One call runs protocol P3 (DESIGN.md §6) end to end: features from the dataset
(:func:`~ecorec.features.ctr.build_ctr_split`), a model from :data:`MODELS`, training with
early stopping on the validation AUC (:func:`~ecorec.ranking.training.fit`), and AUC, log loss
and GAUC of the restored best epoch on valid and test. The model's and the trainer's
parameters come from one flat mapping (``[pipeline.rank.<model>]`` in the TOML, or CLI flags),
split here by which config declares each key, so a typo is an error naming both.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from ecorec.core.config import ConfigError
from ecorec.features.ctr import build_ctr_split
from ecorec.ranking.models import build_model, model_class
from ecorec.ranking.training import TrainConfig, evaluate, fit

#: ``progress(stage, done, total)``: stage ``features``, ``train`` (batches) or ``score``.
ProgressFn = Callable[[str, int, int], None]


def split_params(model: str, params: Mapping[str, Any]) -> tuple[dict[str, Any], TrainConfig]:
    """Model config keys and a :class:`TrainConfig` from one flat parameter mapping."""
    model_keys = set(model_class(model).Config.model_fields)
    train_keys = set(TrainConfig.model_fields)
    unknown = sorted(set(params) - model_keys - train_keys)
    if unknown:
        raise ConfigError(
            f"unknown parameter(s) {', '.join(unknown)} for ranking model {model!r}; model "
            f"keys: {', '.join(sorted(model_keys))}; training keys: {', '.join(sorted(train_keys))}"
        )
    try:
        train = TrainConfig.model_validate({k: v for k, v in params.items() if k in train_keys})
    except ValueError as exc:
        raise ConfigError(f"training parameters of {model!r}: {exc}") from None
    return {k: v for k, v in params.items() if k in model_keys}, train


def evaluate_rank(
    data: str,
    model: str = "deepfm",
    protocol: str = "ctr-temporal",
    params: Mapping[str, Any] | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Train ``model`` on ``data``'s train part and report valid and test metrics.

    Args:
        data: a RecBole folder, a MovieLens ratings file, or a CSV/Parquet with ratings and
            timestamps.
        model: a name from :data:`~ecorec.ranking.models.MODELS`.
        protocol: ``ctr-temporal`` (P3).
        params: model and training parameters (see :func:`split_params`).
        progress: called as training advances.

    Returns:
        ``{"model", "protocol", "valid": {auc, logloss, gauc}, "test": {...},
        "train_samples_per_s", ...}``; with several objectives, ``valid``/``test`` hold the
        primary one and ``objectives`` all of them.

    """
    started = time.perf_counter()
    model_params, train_config = split_params(model, params or {})
    split = build_ctr_split(data, protocol)
    net = build_model(model, split.schema, model_params)

    def batches(done: int, total: int) -> None:
        if progress is not None:
            progress("train", done, total)

    fitted = fit(net, split.train, split.valid, train_config, progress=batches)
    valid = evaluate(net, split.valid)
    test = evaluate(net, split.test)
    primary = split.schema.objectives[0]
    out: dict[str, Any] = {
        "model": model,
        "protocol": protocol,
        "data": str(data),
        "valid": valid[primary],
        "test": test[primary],
        "train_samples_per_s": round(fitted.samples_per_s, 1),
        "best_epoch": fitted.best_epoch,
        "epochs_run": len(fitted.history),
        "stopped_early": fitted.stopped_early,
        "split": split.summary(),
        "config": {"model": net.config.model_dump(), "train": train_config.model_dump()},
        "history": fitted.history,
    }
    if len(split.schema.objectives) > 1:
        out["objectives"] = {
            name: {"valid": valid[name], "test": test[name]} for name in split.schema.objectives
        }
    out["seconds"] = round(time.perf_counter() - started, 3)
    return out
