"""Offline evaluation of a ranking model on a CTR protocol: build, train, score, report.

One call runs protocol P3 (DESIGN.md §6) end to end: features from the dataset
(:func:`~ecorec.features.ctr.build_ctr_split`), a model from :data:`MODELS`, training with
early stopping on the validation AUC (:func:`~ecorec.ranking.training.fit`), and AUC, log loss
and GAUC of the restored best epoch on valid and test, and the test part's group-fairness gaps
(:mod:`~ecorec.ranking.fairness`) over ``gender``, or over the attribute a fairness config
names. With a fairness regulariser (weight > 0) the same model (same init, same batches) is
trained again without it, so the report shows what closing the gap cost in AUC. The model's
and the trainer's parameters come from one flat mapping (``[pipeline.rank.<model>]`` in the
TOML, or CLI flags), split here by which config declares each key, so a typo is an error
naming both.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ecorec.core.config import ConfigError
from ecorec.features.ctr import CTRSplit, build_ctr_split
from ecorec.features.platform_split import PlatformSplit
from ecorec.ranking.fairness import FairnessConfig, FairnessRegulariser, fairness_report
from ecorec.ranking.models import build_model, model_class
from ecorec.ranking.platform_evaluation import is_platform, platform_split
from ecorec.ranking.prediction import predict, table_metrics
from ecorec.ranking.training import TrainConfig, evaluate, fit

#: ``progress(stage, done, total)``: stage ``features``, ``train`` (batches) or ``score``.
ProgressFn = Callable[[str, int, int], None]
#: The attribute whose gaps are reported when no fairness config names one.
DEFAULT_ATTRIBUTE = "gender"


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
            timestamps; or a platform's database (URL or ``.db`` file), whose impressions are
            then labelled per objective (:mod:`~ecorec.ranking.platform_evaluation`).
        model: a name from :data:`~ecorec.ranking.models.MODELS`.
        protocol: ``ctr-temporal`` (P3).
        params: model and training parameters (see :func:`split_params`).
        progress: called as training advances.

    Returns:
        ``{"model", "protocol", "valid": {auc, logloss, gauc}, "test": {...},
        "train_samples_per_s", ...}``; with several objectives, ``valid``/``test`` hold the
        primary one and ``objectives`` all of them. ``fairness`` (when the data has
        ``gender`` or a fairness config names an attribute): ``attribute``, ``kind`` (``None``
        without a regulariser), ``weight``, the test gaps of
        :func:`~ecorec.ranking.fairness.fairness_report` and its ``groups``; with a
        regulariser, ``with`` and ``without`` hold the test metrics and gaps of the model
        trained with it and of the same model trained without it.

    """
    started = time.perf_counter()
    split: CTRSplit | PlatformSplit
    if is_platform(str(data)):
        split, model_params, train_config = platform_split(str(data), model, params or {})
    else:
        model_params, train_config = split_params(model, params or {})
        split = build_ctr_split(data, protocol)
    audit = _audited(split, train_config.fairness)
    net = build_model(model, split.schema, model_params)

    def batches(done: int, total: int) -> None:
        if progress is not None:
            progress("train", done, total)

    fitted = fit(net, split.train, split.valid, train_config, progress=batches)
    valid = evaluate(net, split.valid)
    probabilities = predict(net, split.test)
    test = table_metrics(split.test, probabilities)
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
    if audit is not None:
        fairness = _fairness(split, audit, probabilities)
        if train_config.fairness is not None and train_config.fairness.weight > 0:
            plain = build_model(model, split.schema, model_params)  # same seed: same init
            fit(plain, split.train, split.valid, train_config.model_copy(update={"fairness": None}))
            fairness["with"] = _tradeoff(split, audit, probabilities, test)
            plain_probabilities = predict(plain, split.test)
            plain_test = table_metrics(split.test, plain_probabilities)
            fairness["without"] = _tradeoff(split, audit, plain_probabilities, plain_test)
        out["fairness"] = fairness
    out["seconds"] = round(time.perf_counter() - started, 3)
    return out


def _audited(
    split: CTRSplit | PlatformSplit, config: FairnessConfig | None
) -> FairnessRegulariser | None:
    """The attribute and objective to report gaps on (checked), or ``None`` for no report."""
    if config is None:
        vocab = split.vocabularies.get(DEFAULT_ATTRIBUTE)
        if vocab is None or len(vocab.values) < 2:  # no such attribute, or one group only
            return None
        config = FairnessConfig(attribute=DEFAULT_ATTRIBUTE, weight=0.0)
    try:
        return FairnessRegulariser.bind(config, split.schema)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _fairness(
    split: CTRSplit | PlatformSplit,
    audit: FairnessRegulariser,
    probabilities: dict[str, np.ndarray],
) -> dict[str, Any]:
    """The test part's gap report over ``audit``'s attribute, with what was configured."""
    report = fairness_report(
        probabilities[audit.objective],
        split.test.labels[audit.objective].numpy(),
        split.test.features[audit.attribute].numpy(),
        split.vocabularies.get(audit.attribute),
    )
    kind = audit.kind if audit.weight > 0 else None  # None: measured, not regularised
    return {"attribute": audit.attribute, "kind": kind, "weight": audit.weight, **report}


def _tradeoff(
    split: CTRSplit | PlatformSplit,
    audit: FairnessRegulariser,
    probabilities: dict[str, np.ndarray],
    test: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """One side of the with/without comparison: test metrics next to the gaps."""
    report = _fairness(split, audit, probabilities)
    gaps = {k: v for k, v in report.items() if k.startswith("gap_")}
    return {"test": test[audit.objective], **gaps, "groups": report["groups"]}
