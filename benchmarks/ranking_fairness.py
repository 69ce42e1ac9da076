"""What the fairness regulariser costs and buys: test AUC against the gender gap, on P3.

MovieLens-100K under protocol P3 (ctr-temporal: label = rating >= 4, global time order,
80/10/10), DeepFM with embedding size 16, MLP (256, 128), Adam 1e-3, batch 1024, early
stopping on valid AUC (patience 2, at most ``--epochs``). One split and one model seed for
every run, so the only difference between rows is the regulariser's weight (0: none). For each
weight: test AUC and GAUC, and on the test part the gaps across gender of
:func:`~ecorec.ranking.fairness.fairness_report`: DP (positive rate at 0.5), DP of the mean
score (what the regulariser targets), and EO (the larger of the TPR and FPR gaps); and the
mean-score gap on the training rows, where the regulariser acts (the test rows come later in
time, so a gap closed on train need not stay closed on test).

    .venv/bin/python benchmarks/ranking_fairness.py                    # DP, weights 0 0.5 2
    .venv/bin/python benchmarks/ranking_fairness.py --kind eo --weights 0 1 4
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from ecorec.features.ctr import CTRSplit, build_ctr_split
from ecorec.ranking.fairness import FairnessConfig, fairness_report
from ecorec.ranking.models import build_model
from ecorec.ranking.prediction import predict, table_metrics
from ecorec.ranking.training import TrainConfig, fit

ROOT = Path(__file__).resolve().parents[1]
ML100K = ROOT.parent / "shared" / "datasets" / "ml-100k"

BATCH, EMBED, MLP, PATIENCE = 1024, 16, (256, 128), 2


def run(split: CTRSplit, kind: str, weight: float, epochs: int, attribute: str) -> dict[str, Any]:
    """Train DeepFM with the regulariser at ``weight`` and measure its test AUC and gaps."""
    model = build_model("deepfm", split.schema, {"embedding_dim": EMBED, "mlp": MLP})
    fairness = FairnessConfig(attribute=attribute, kind=kind, weight=weight)  # type: ignore[arg-type]
    config = TrainConfig(
        epochs=epochs, batch_size=BATCH, learning_rate=1e-3, patience=PATIENCE, fairness=fairness
    )
    began = time.perf_counter()
    result = fit(model, split.train, split.valid, config)
    seconds = time.perf_counter() - began
    probabilities = predict(model, split.test)
    test = table_metrics(split.test, probabilities)["click"]
    report = fairness_report(
        probabilities["click"],
        split.test.labels["click"].numpy(),
        split.test.features[attribute].numpy(),
        split.vocabularies.get(attribute),
    )
    # the gap the regulariser acted on: mean score on the training rows (its batches' target)
    seen = fairness_report(
        predict(model, split.train)["click"],
        split.train.labels["click"].numpy(),
        split.train.features[attribute].numpy(),
    )
    return {
        "kind": kind,
        "train_gap_dp_score": seen["gap_dp_score"],
        "weight": weight,
        "valid_auc": result.best_valid["click"]["auc"],
        "test": test,
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "seconds": round(seconds, 1),
        **report,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ML100K))
    parser.add_argument("--kind", choices=("dp", "eo"), default="dp")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.5, 2.0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--attribute", default="gender")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    split = build_ctr_split(args.data)
    rows = [run(split, args.kind, w, args.epochs, args.attribute) for w in args.weights]
    by_group = rows[0]["groups"]
    sizes = [f"{g} {v['rows']:,} rows, {v['label_rate']:.3f} liked" for g, v in by_group.items()]
    print(f"{args.data}: P3 test rows {len(split.test):,}; {args.attribute}: {', '.join(sizes)}")
    header = f"{'kind':4} {'weight':>6} {'test AUC':>8} {'GAUC':>6} {'DP gap':>7} "
    header += f"{'DP score':>8} {'EO gap':>7} {'TPR gap':>7} {'FPR gap':>7} {'train DP score':>14}"
    print(header + f" {'epochs':>6}")
    for r in rows:
        print(
            f"{r['kind']:4} {r['weight']:6g} {r['test']['auc']:8.4f} {r['test']['gauc']:6.4f} "
            f"{r['gap_dp']:7.4f} {r['gap_dp_score']:8.4f} {r['gap_eo']:7.4f} "
            f"{r['gap_tpr']:7.4f} {r['gap_fpr']:7.4f} {r['train_gap_dp_score']:14.4f} "
            f"{r['best_epoch']:>3}/{r['epochs_run']}"
        )
    print(json.dumps({"threads": torch.get_num_threads(), "runs": rows}))


if __name__ == "__main__":
    main()
