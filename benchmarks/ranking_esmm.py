"""ESMM against a CVR model trained on clicks, judged on the whole impression space.

The point of ESMM (Ma et al., SIGIR 2018): a conversion model trained only on clicked
impressions learns from a biased, small sample, yet it is served on every impression. Here,
on the synthetic platform's ad impressions (conversion follows a click with the ad's true CVR):

* **ESMM**: one model, objectives ``click`` and ``convert`` (pCTCVR = pCTR x pCVR), both
  supervised on every training impression, the CTCVR loss weighted by 1, 10 or 30 (picked on
  the validation part with the first seed);
* **CTR x CVR-on-clicks**: a CTR model on every impression, times a CVR model trained on the
  clicked impressions only (the usual two-model practice), each a Wide&Deep, which is the
  structure of an ESMM tower (an MLP plus first-order weights: the paper's like-for-like
  BASE), and, for reference, each a DeepFM (FM interactions on top);
* both with the same features (user, ad as item, advertiser, category, landing quality, the
  user's content history), embedding 16, MLP (256, 128), Adam 1e-3, batch 1024, early
  stopping on validation AUC.

The goal of the issue: ESMM's CTCVR AUC >= the like-for-like two-model CTCVR AUC on the test
impressions (label = click and conversion). Also reported: CVR AUC on the clicked test impressions.

    .venv/bin/python benchmarks/ranking_esmm.py            # about 10 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from ecorec.ads.esmm_scorer import ad_as_item
from ecorec.core.entities import Ad, User
from ecorec.data.synthetic import PlatformSpec
from ecorec.data.synthetic.history import iter_event_tables
from ecorec.data.synthetic.population import iter_entities
from ecorec.features.entities import Entities
from ecorec.features.platform_split import FeatureConfig, build_platform_split
from ecorec.features.schema import Schema, TensorTable
from ecorec.metrics.ctr import auc
from ecorec.ranking.models import build_model
from ecorec.ranking.models.esmm import ESMM
from ecorec.ranking.training import TrainConfig, fit, predict

MODEL = {"embedding_dim": 16, "mlp": (256, 128)}
#: Base models of the two-model baseline: Wide&Deep has ESMM's tower structure (MLP + wide),
#: the like-for-like comparison of the paper; DeepFM is a stronger base, for reference.
BASES = ("wide_deep", "deepfm")
#: ESMM's CTCVR loss weights tried (on the validation part) before the test is scored.
CONVERT_WEIGHTS = (1.0, 10.0, 30.0)


def platform_data(spec: PlatformSpec) -> tuple[pa.Table, Entities]:
    """The platform's events, and its users and ads (each ad as an item) for the features."""
    users: list[User] = []
    ads: list[Ad] = []
    for block in iter_entities(spec):
        users.extend(e for e in block if isinstance(e, User))
        ads.extend(e for e in block if isinstance(e, Ad))
    as_items = [ad_as_item(a) for a in ads]
    events = pa.concat_tables(iter_event_tables(spec))
    return events, Entities.of(users, as_items)


def clicked(table: TensorTable) -> TensorTable:
    """The clicked rows, labelled with conversion only (the CVR model's training set)."""
    rows = torch.nonzero(table.labels["click"] == 1).squeeze(1)
    part = table.take(rows)
    return TensorTable(part.features, {"convert": part.labels["convert"]}, part.users)


def only(table: TensorTable, objective: str) -> TensorTable:
    return TensorTable(table.features, {objective: table.labels[objective]}, table.users)


def with_objectives(schema: Schema, objectives: tuple[str, ...]) -> Schema:
    return Schema(schema.fields, objectives, schema.target, schema.sequence)


def train(name: str, schema: Schema, train: TensorTable, valid: TensorTable, cfg: TrainConfig):
    model = build_model(name, schema, MODEL)
    result = fit(model, train, valid, cfg)
    return model, result


def pick_convert_weight(split: Any, cfg: TrainConfig) -> tuple[float, Any, Any, dict[float, float]]:
    """The weight of ESMM's CTCVR loss with the best validation CTCVR AUC.

    Conversions are 0.35% of impressions: at weight 1 their loss is a rounding error next to
    the click loss and the CVR tower barely learns (the two-model baseline's CVR model, trained
    on clicks only, sees a 7% positive rate instead).
    """
    best: tuple[float, Any, Any] | None = None
    tried: dict[float, float] = {}
    for weight in CONVERT_WEIGHTS:
        weighted = cfg.model_copy(update={"objective_weights": {"convert": weight}})
        model, result = train("esmm", split.schema, split.train, split.valid, weighted)
        tried[weight] = result.best_valid["convert"]["auc"]
        if best is None or tried[weight] > tried[best[0]]:
            best = (weight, model, result)
    assert best is not None
    return best[0], best[1], best[2], tried


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=60_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--advertisers", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=2020, help="first training seed")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds (AUCs are means)")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args()
    torch.set_num_threads(2)
    started = time.perf_counter()
    spec = PlatformSpec(
        users=args.users,
        items=2000,
        creators=200,
        advertisers=args.advertisers,
        days=args.days,
        seed=7,
    )
    events, entities = platform_data(spec)
    split = build_platform_split(
        events, entities, ("click", "convert"), FeatureConfig(max_history=20), key="ad_id"
    )
    summary = split.summary()
    test = split.test
    y_ctcvr = test.labels["convert"].numpy()
    y_click = test.labels["click"].numpy()
    click_rows = y_click == 1
    runs = []
    weight: float | None = None
    tried: dict[float, float] = {}
    for seed in range(args.seed, args.seed + args.seeds):
        cfg = TrainConfig(epochs=args.epochs, seed=seed, patience=2)
        # each model keeps the epoch best at what it is judged on: ESMM and the CVR model
        # watch conversion, the CTR model clicks
        watch_convert = cfg.model_copy(update={"monitor": "convert"})
        if weight is None:  # ESMM's one hyperparameter here, picked on validation only
            weight, esmm, esmm_fit, tried = pick_convert_weight(split, watch_convert)
        else:
            weighted = watch_convert.model_copy(update={"objective_weights": {"convert": weight}})
            esmm, esmm_fit = train("esmm", split.schema, split.train, split.valid, weighted)
        p_esmm = predict(esmm, test)
        assert isinstance(esmm, ESMM)
        ctr_schema = with_objectives(split.schema, ("click",))
        cvr_schema = with_objectives(split.schema, ("convert",))
        two: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
        for base in BASES:
            ctr, ctr_fit = train(
                base, ctr_schema, only(split.train, "click"), only(split.valid, "click"), cfg
            )
            cvr, cvr_fit = train(base, cvr_schema, clicked(split.train), clicked(split.valid), cfg)
            p_ctr, p_cvr = predict(ctr, test)["click"], predict(cvr, test)["convert"]
            two[base] = (p_ctr, p_cvr, cvr_fit.best_epoch)
        with torch.inference_mode():
            esmm.eval()
            cvr_tower = torch.sigmoid(esmm.tower_logits(test.features)["convert"]).numpy()
        runs.append(
            {
                "seed": seed,
                "ctcvr_auc": {
                    "esmm": auc(y_ctcvr, p_esmm["convert"]),
                    **{
                        f"{b}_ctr_x_cvr_on_clicks": auc(y_ctcvr, c * v)
                        for b, (c, v, _) in two.items()
                    },
                },
                "ctr_auc": {
                    "esmm": auc(y_click, p_esmm["click"]),
                    **{b: auc(y_click, c) for b, (c, _, _) in two.items()},
                },
                "cvr_auc_on_clicked_test_rows": {
                    "esmm_cvr_tower": auc(y_ctcvr[click_rows], cvr_tower[click_rows]),
                    **{
                        f"{b}_cvr_on_clicks": auc(y_ctcvr[click_rows], v[click_rows])
                        for b, (_, v, _) in two.items()
                    },
                },
                "best_epochs": {
                    "esmm": esmm_fit.best_epoch,
                    **{f"{b}_cvr_on_clicks": e for b, (_, _, e) in two.items()},
                },
            }
        )
    result: dict[str, Any] = {
        "benchmark": "ranking_esmm",
        "rows": summary["rows"],
        "positive_rate": summary["positive_rate"],
        "test_conversions": int(y_ctcvr.sum()),
        **{
            key: {
                name: round(float(np.mean([r[key][name] for r in runs])), 4)
                for name in runs[0][key]
            }
            for key in ("ctcvr_auc", "ctr_auc", "cvr_auc_on_clicked_test_rows")
        },
        "esmm_convert_weight": {"picked": weight, "valid_ctcvr_auc": tried},
        "runs": runs,
        "spec": {"users": args.users, "days": args.days, "advertisers": args.advertisers},
        "seconds": round(time.perf_counter() - started, 1),
        "machine": platform.processor() or platform.machine(),
    }
    ratio = result["ctcvr_auc"]["esmm"] / result["ctcvr_auc"]["wide_deep_ctr_x_cvr_on_clicks"]
    result["goal_esmm_over_two_models"] = round(ratio, 4)
    if not args.json:
        for key in ("ctcvr_auc", "ctr_auc", "cvr_auc_on_clicked_test_rows"):
            print(f"{key}: {result[key]}")
        print(f"rows {result['rows']}, test conversions {result['test_conversions']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
