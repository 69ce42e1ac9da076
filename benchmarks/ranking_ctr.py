"""Ranking quality and training speed on MovieLens-100K, protocol P3 (ctr-temporal).

In one process, on one split (label = rating >= 4, global time order, 80/10/10), with the same
features, embedding size 16, MLP (256, 128), Adam 1e-3 and batch 1024:

* ecorec's models (``--models``, default deepfm and din) trained by ecorec's trainer;
* the peer, DeepCTR-Torch's DeepFM and DIN, trained by its own ``fit`` one epoch at a time;
* a floor: one-hot logistic regression (scikit-learn), C tuned on valid.

Every model keeps the epoch with the best validation AUC (patience 2, at most ``--epochs``)
and is scored on test there. Training speed is training rows / seconds spent in training
(evaluation excluded), in the same process with the same thread count. Prints a table and a
JSON line with the ratios of the issue's goals (ecorec / peer test AUC >= 1, samples/s >= 2).

    make bench-peers                                   # DeepCTR-Torch into .bench-peers/
    .venv/bin/python benchmarks/ranking_ctr.py         # about 5 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.linear_model import LogisticRegression

from ecorec.features.ctr import CTRSplit, build_ctr_split
from ecorec.features.schema import FieldKind, Schema, TensorTable
from ecorec.metrics.ctr import ctr_metrics
from ecorec.ranking.models import build_model
from ecorec.ranking.training import TrainConfig, evaluate, fit

ROOT = Path(__file__).resolve().parents[1]
ML100K = ROOT.parent / "shared" / "datasets" / "ml-100k"
PEERS = ROOT / ".bench-peers"
SHIMS = ROOT / "benchmarks" / "peer_shims"

BATCH, EMBED, MLP, PATIENCE = 1024, 16, (256, 128), 2


def without_sequence(split: CTRSplit) -> CTRSplit:
    """The split minus its behaviour sequence: the peer's DeepFM gets exactly these inputs."""
    drop = split.schema.sequence
    schema = Schema(
        tuple(f for f in split.schema.fields if f.name != drop),
        split.schema.objectives,
        split.schema.target,
        None,
    )

    def table(t: TensorTable) -> TensorTable:
        return TensorTable({k: v for k, v in t.features.items() if k != drop}, t.labels, t.users)

    return CTRSplit(
        schema,
        table(split.train),
        table(split.valid),
        table(split.test),
        split.vocabularies,
        split.protocol,
        split.threshold,
    )


def run_ecorec(name: str, split: CTRSplit, epochs: int) -> dict[str, Any]:
    model = build_model(name, split.schema, {"embedding_dim": EMBED, "mlp": MLP})
    config = TrainConfig(epochs=epochs, batch_size=BATCH, learning_rate=1e-3, patience=PATIENCE)
    result = fit(model, split.train, split.valid, config)
    return {
        "valid": evaluate(model, split.valid)["click"],
        "test": evaluate(model, split.test)["click"],
        "samples_per_s": result.samples_per_s,
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
    }


def peer_inputs(split: CTRSplit, table: TensorTable, din: bool) -> dict[str, np.ndarray]:
    x = {}
    for f in split.schema.fields:
        values = table.features[f.name].numpy()
        if f.kind is FieldKind.SEQUENCE:
            if din:
                x["hist_" + split.schema.target] = values
                x["seq_length"] = (values > 0).sum(axis=1).astype(np.int64)
        else:
            x[f.name] = values
    return x


def peer_columns(split: CTRSplit, din: bool) -> list[Any]:
    from deepctr_torch.inputs import SparseFeat, VarLenSparseFeat

    columns: list[Any] = []
    for f in split.schema.fields:
        if f.kind is FieldKind.SPARSE:
            columns.append(SparseFeat(f.name, f.vocab_size, embedding_dim=EMBED))
        elif f.kind is FieldKind.MULTI:
            feat = SparseFeat(f.name, f.vocab_size, embedding_dim=EMBED)
            columns.append(VarLenSparseFeat(feat, maxlen=f.max_len, combiner="mean"))
        elif f.kind is FieldKind.SEQUENCE and din:
            target = split.schema.table_of(f.name)
            feat = SparseFeat(
                "hist_" + split.schema.target,
                target.vocab_size,
                embedding_dim=EMBED,
                embedding_name=split.schema.target,
            )
            columns.append(VarLenSparseFeat(feat, maxlen=f.max_len, length_name="seq_length"))
    return columns


def run_peer(name: str, split: CTRSplit, epochs: int) -> dict[str, Any]:
    from deepctr_torch.models import DIN, DeepFM

    din = name == "din"
    columns = peer_columns(split, din)
    if din:
        model = DIN(columns, [split.schema.target], dnn_hidden_units=MLP, seed=2020)
    else:
        model = DeepFM(columns, columns, dnn_hidden_units=MLP, seed=2020)
    model.compile("adam", "binary_crossentropy")
    x = {p: peer_inputs(split, getattr(split, p), din) for p in ("train", "valid", "test")}
    y = split.train.labels["click"].numpy()
    best: dict[str, Any] = {"valid": {"auc": -1.0}}
    train_seconds, waited = 0.0, 0
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        model.fit(x["train"], y, batch_size=BATCH, epochs=1, verbose=0, shuffle=True)
        train_seconds += time.perf_counter() - started
        scores = {p: model.predict(x[p], batch_size=8192).ravel() for p in ("valid", "test")}
        valid = ctr_metrics(split.valid.labels["click"].numpy(), scores["valid"], split.valid.users)
        if valid["auc"] > best["valid"]["auc"]:
            test = ctr_metrics(split.test.labels["click"].numpy(), scores["test"], split.test.users)
            best, waited = {"valid": valid, "test": test, "best_epoch": epoch}, 0
        else:
            waited += 1
            if waited >= PATIENCE:
                break
    best["samples_per_s"] = len(y) * epoch / train_seconds
    best["epochs_run"] = epoch
    return best


def one_hot(split: CTRSplit, table: TensorTable) -> sp.csr_matrix:
    blocks = []
    for f in split.schema.of_kind(FieldKind.SPARSE, FieldKind.MULTI):
        codes = table.features[f.name].numpy().reshape(len(table), -1)
        rows = np.repeat(np.arange(len(table)), codes.shape[1])
        flat = codes.ravel()
        keep = flat > 0
        blocks.append(
            sp.csr_matrix(
                (np.ones(keep.sum()), (rows[keep], flat[keep])), shape=(len(table), f.vocab_size)
            )
        )
    return sp.hstack(blocks).tocsr()


def run_floor(split: CTRSplit) -> dict[str, Any]:
    x = {p: one_hot(split, getattr(split, p)) for p in ("train", "valid", "test")}
    y = {p: getattr(split, p).labels["click"].numpy() for p in ("train", "valid", "test")}
    best: dict[str, Any] = {"valid": {"auc": -1.0}}
    for c in (0.03, 0.1, 0.3, 1.0):
        model = LogisticRegression(C=c, max_iter=2000).fit(x["train"], y["train"])
        valid = ctr_metrics(y["valid"], model.predict_proba(x["valid"])[:, 1], split.valid.users)
        if valid["auc"] > best["valid"]["auc"]:
            test = ctr_metrics(y["test"], model.predict_proba(x["test"])[:, 1], split.test.users)
            best = {"valid": valid, "test": test, "C": c}
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ML100K))
    parser.add_argument("--models", default="deepfm,din")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-peer", action="store_true", help="skip DeepCTR-Torch")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    split = build_ctr_split(args.data)
    results: dict[str, Any] = {"floor: one-hot LR": run_floor(split)}
    peer = not args.no_peer
    if peer:
        if not PEERS.exists():
            sys.exit("DeepCTR-Torch is not installed: run `make bench-peers` (or pass --no-peer)")
        sys.path[:0] = [str(PEERS), str(SHIMS)]
    for name in args.models.split(","):
        results[f"ecorec {name}"] = run_ecorec(name, split, args.epochs)
        if name == "deepfm":  # ecorec's DeepFM also pools the history; the peer's cannot
            same = run_ecorec(name, without_sequence(split), args.epochs)
            results["ecorec deepfm, peer inputs"] = same
        if peer and name in ("deepfm", "din"):
            results[f"DeepCTR-Torch {name}"] = run_peer(name, split, args.epochs)
    print(
        f"{'model':<27} {'valid AUC':>9} {'test AUC':>9} {'GAUC':>7} {'logloss':>8} {'rows/s':>9}"
    )
    for label, r in results.items():
        speed = f"{r['samples_per_s']:>9,.0f}" if "samples_per_s" in r else f"{'-':>9}"
        t = r["test"]
        print(
            f"{label:<27} {r['valid']['auc']:>9.4f} {t['auc']:>9.4f} {t['gauc']:>7.4f} "
            f"{t['logloss']:>8.4f} {speed}"
        )
    ratios = {}
    for name in args.models.split(","):
        label = f"ecorec {name}, peer inputs" if name == "deepfm" else f"ecorec {name}"
        ours, theirs = results.get(label), results.get(f"DeepCTR-Torch {name}")
        if ours and theirs:
            ratios[name] = {
                "test_auc_ratio": round(ours["test"]["auc"] / theirs["test"]["auc"], 4),
                "speed_ratio": round(ours["samples_per_s"] / theirs["samples_per_s"], 2),
            }
            print(
                f"{name}: test AUC ratio {ratios[name]['test_auc_ratio']} (goal >= 1), "
                f"speed ratio {ratios[name]['speed_ratio']} (goal >= 2)"
            )
    machine = {
        "cpus": os.cpu_count(),
        "threads": args.threads,
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    print(
        json.dumps(
            {"benchmark": "ranking_ctr", "results": results, "ratios": ratios, "machine": machine},
            default=float,
        )
    )


if __name__ == "__main__":
    main()
