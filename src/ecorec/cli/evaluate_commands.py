"""Evaluation verbs: ``evaluate recall`` and ``evaluate rank`` (DESIGN.md §6 protocols)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from ecorec.cli.common import (
    ConfigOption,
    JsonOption,
    emit,
    note,
    out_console,
    progress_bar,
    user_errors,
)
from ecorec.core.config import load_config
from ecorec.metrics.evaluation import (
    RecallEvaluator,
    check_channels,
    default_channels,
    metric_table,
)
from ecorec.metrics.protocols import DEFAULT_SEED, PROTOCOLS, prepare_split
from ecorec.ranking.models import MODELS

#: Protocols that exist but are another verb's (named in the error, so nobody hunts for them).
ELSEWHERE = {"ctr-temporal": "a ranking protocol: use `ecorec evaluate rank`"}
#: Protocols of ``evaluate rank``.
RANK_PROTOCOLS = ("ctr-temporal",)


def _protocol(value: str) -> str:
    if value in PROTOCOLS:
        return value
    hint = f" ({value} is {ELSEWHERE[value]})" if value in ELSEWHERE else ""
    raise ValueError(f"unknown protocol {value!r} for recall; known: {', '.join(PROTOCOLS)}{hint}")


def recall(
    data: Annotated[
        str,
        typer.Option(
            "--data",
            help="Interactions: a RecBole atomic folder, a MovieLens ratings file, or a "
            "CSV/Parquet file whose header names user_id,item_id[,rating,timestamp].",
        ),
    ],
    protocol: Annotated[
        str, typer.Option("--protocol", help=f"One of: {', '.join(PROTOCOLS)}.")
    ] = "recbole-811",
    channels: Annotated[
        str | None,
        typer.Option(
            "--channels",
            help="Comma-separated channels, in merge order; default: the config's "
            "pipeline.recall channels with --config, else every registered channel.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split.")] = DEFAULT_SEED,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Evaluate every recall channel and the fused candidate set on a real dataset.

    Each channel learns from the train part only and is asked for each test user's
    candidates as the pipeline would; Recall/NDCG/MRR/Hit@10, Recall@50/@200, coverage and
    long-tail share are reported per channel and for the merge of all of them.
    """
    with user_errors():
        protocol = _protocol(protocol)
        cfg = load_config(config)
        names = (
            [c.strip() for c in channels.split(",") if c.strip()]
            if channels
            else default_channels(cfg, explicit=config is not None)
        )
        check_channels(names)
        note(f"loading {data} ...")
        split = prepare_split(data, protocol, seed)
        size = split.summary()
        note(
            f"{protocol}, seed {seed}: {size['train']:,}/{size['valid']:,}/{size['test']:,} "
            f"train/valid/test rows, {size['items']:,} items"
        )
        evaluator = RecallEvaluator(split, names, cfg)
        evaluator.train(lambda stage, _done, _total: note(f"training {stage[6:]} ..."))
        with progress_bar("evaluating users", len(split.users())) as advance:
            result = evaluator.evaluate(advance)
    emit(result, as_json, _print_result)


def _print_result(result: dict[str, Any]) -> None:
    columns, rows, notes = metric_table(result)
    split = result["split"]
    table = Table(
        title=f"{result['protocol']}, {split['test_users']:,} test users, seed {split['seed']}",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1),
        caption="R recall, N ndcg, M mrr, H hit; cover: item coverage; tail: long-tail share",
    )
    for column in columns:
        table.add_column(
            column,
            justify="left" if column == "channel" else "right",
            no_wrap=True,
            min_width=max(len(column), 5),
        )
    for row in rows:
        table.add_row(*row)
    out_console.print(table)
    for line in notes:
        out_console.print(line, highlight=False)
    quota = ", ".join(f"{k}={v}" for k, v in result["fused"].get("quota", {}).items())
    out_console.print(f"fused: merge of {quota or 'no channel'} (merge order)")


def rank(
    data: Annotated[
        str,
        typer.Option(
            "--data",
            help="Rated interactions with timestamps: a RecBole atomic folder, a MovieLens "
            "ratings file, or a CSV/Parquet file with user_id,item_id,rating,timestamp; or a "
            "platform database (sqlite:///ecorec.db, postgresql://..., or a .db file): its "
            "impressions, labelled per objective (click, like, finish, negative, ...).",
        ),
    ],
    model: Annotated[str, typer.Option("--model", help=f"One of: {', '.join(MODELS)}.")] = "deepfm",
    protocol: Annotated[
        str, typer.Option("--protocol", help=f"One of: {', '.join(RANK_PROTOCOLS)}.")
    ] = "ctr-temporal",
    epochs: Annotated[int | None, typer.Option("--epochs", help="Most epochs to train.")] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="cpu (default) or cuda where a GPU exists.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of init and batches.")] = None,
    fairness: Annotated[
        str | None,
        typer.Option(
            "--fairness",
            help="Fairness regulariser: dp (demographic parity) or eo (equalised odds); the "
            "model is also trained without it and both gaps are reported.",
        ),
    ] = None,
    fairness_attribute: Annotated[
        str | None,
        typer.Option(
            "--fairness-attribute",
            help="Sparse user field the gaps are taken over (default gender); alone, it "
            "only chooses what the report measures.",
        ),
    ] = None,
    fairness_weight: Annotated[
        float | None,
        typer.Option("--fairness-weight", help="Weight of the gap in the loss (default 1.0)."),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train a ranking model on the train part and report AUC, log loss, GAUC and fairness gaps.

    Protocol ctr-temporal (P3): label = rating >= 4, interactions sorted by time, 80/10/10;
    the epoch with the best validation AUC is kept. Model and training parameters come from
    [pipeline.rank.<model>] in --config; the flags here override them. The test part's gaps
    in positive rate (DP) and TPR/FPR (EO) across gender (or --fairness-attribute) are
    reported whenever the data has that attribute.
    """
    with user_errors():
        if protocol not in RANK_PROTOCOLS:
            raise ValueError(
                f"unknown protocol {protocol!r} for rank; known: {', '.join(RANK_PROTOCOLS)}"
            )
        if model not in MODELS:
            raise ValueError(f"unknown ranking model {model!r}; known: {', '.join(MODELS)}")
        cfg = load_config(config)
        params: dict[str, Any] = cfg.pipeline.rank.params(model) if config is not None else {}
        flags = {"epochs": epochs, "device": device, "seed": seed}
        params.update({k: v for k, v in flags.items() if v is not None})
        fair = _fairness_params(
            params.get("fairness"), fairness, fairness_attribute, fairness_weight
        )
        if fair is not None:
            params["fairness"] = fair
        from ecorec.ranking.evaluation import evaluate_rank  # torch: only when ranking

        note(f"loading {data} and training {model} ...")
        with progress_bar(f"training {model} (batches)", None) as advance:
            last = {"done": 0}

            def step(_stage: str, done: int, _total: int) -> None:
                advance(max(done - last["done"], 0))
                last["done"] = done

            result = evaluate_rank(data, model, protocol, params, step)
    emit(result, as_json, _print_rank)


def _print_rank(result: dict[str, Any]) -> None:
    table = Table(
        title=f"{result['model']} on {result['protocol']} (best epoch {result['best_epoch']} "
        f"of {result['epochs_run']})",
        box=box.SIMPLE_HEAD,
    )
    rows = [("", result)]
    if "objectives" in result:
        table.add_column("objective", justify="left")
        rows = list(result["objectives"].items())
    for column in ("part", "AUC", "log loss", "GAUC"):
        table.add_column(column, justify="left" if column == "part" else "right")
    for objective, metrics in rows:
        for part in ("valid", "test"):
            m = metrics[part]
            cells = [f"{m['auc']:.4f}", f"{m['logloss']:.4f}", f"{m['gauc']:.4f}"]
            table.add_row(*([objective] if objective else []), part, *cells)
    out_console.print(table)
    out_console.print(f"training: {result['train_samples_per_s']:,.0f} samples/s", highlight=False)
    if "fairness" in result:
        _print_fairness(result["fairness"])


def _fairness_params(
    configured: Any, kind: str | None, attribute: str | None, weight: float | None
) -> dict[str, Any] | None:
    """The ``fairness`` training parameter: the config's, overridden by the flags given.

    ``--fairness-attribute`` alone (no regulariser anywhere) asks for a report only: weight 0.
    """
    if configured is not None and not isinstance(configured, dict):
        raise ValueError(f"pipeline.rank fairness must be a table, got {configured!r}")
    if kind is not None and kind not in ("dp", "eo"):  # as FairnessConfig (no torch import here)
        raise ValueError(f"--fairness {kind}: expected dp or eo")
    if configured is None and kind is None:
        if weight is not None:
            raise ValueError("--fairness-weight needs --fairness dp|eo")
        return None if attribute is None else {"attribute": attribute, "weight": 0.0}
    flags = {"kind": kind, "attribute": attribute, "weight": weight}
    return {**(configured or {}), **{k: v for k, v in flags.items() if v is not None}}


def _print_fairness(fairness: dict[str, Any]) -> None:
    def gap(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    head = f"fairness over {fairness['attribute']} (test, threshold 0.5)"
    if "with" not in fairness:
        dp, score, eo = (gap(fairness[k]) for k in ("gap_dp", "gap_dp_score", "gap_eo"))
        out_console.print(f"{head}: DP gap {dp} (mean score {score}), EO gap {eo}", highlight=False)
        return
    table = Table(
        title=f"{head}, {fairness['kind']} regulariser weight {fairness['weight']:g}",
        box=box.SIMPLE_HEAD,
    )
    for column in ("model", "test AUC", "DP gap", "DP gap (score)", "EO gap"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for side in ("without", "with"):
        row = fairness[side]
        table.add_row(
            f"{side} regulariser",
            f"{row['test']['auc']:.4f}",
            gap(row["gap_dp"]),
            gap(row["gap_dp_score"]),
            gap(row["gap_eo"]),
        )
    out_console.print(table)
