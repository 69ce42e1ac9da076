"""Regret of Thompson Sampling, ε-greedy and LinUCB, select latency, and OPE on the OBD sample.

Three parts, all seeded:

1. Bernoulli bandit, 10 arms with click rates drawn uniformly from [0.05, 0.5] per seed,
   10,000 rounds: cumulative pseudo-regret of Thompson Sampling, ε-greedy (ε = 0.1) and uniform
   random, first and second half.
2. Linear contextual bandit, 5 arms, d = 6, reward ``w_a · x + N(0, 0.1²)``, 3,000 rounds:
   LinUCB (α = 1) against ε-greedy and uniform random.
3. IPS / SNIPS / DR estimates of each Open Bandit Dataset logging policy from the other's log,
   against the on-policy click rate and its 95% interval.

Plus the median time of one ``select`` (10 arms; TS with its default 1,000 propensity draws).

    python benchmarks/bandits_regret.py                 # markdown tables
    python benchmarks/bandits_regret.py --seeds 3 --json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ecorec.bandits import EpsilonGreedy, LinUCB, ThompsonSampling, doubly_robust, ips, snips
from ecorec.bandits.base import BanditPolicy
from ecorec.bandits.estimators import dr_inputs, on_policy
from ecorec.bandits.logged import (
    action_distribution,
    load_obd,
    per_round,
    table_reward_model,
    uniform_distribution,
)
from ecorec.bandits.regret import bernoulli_regret, linear_regret

OBD = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "obd"


def bernoulli(seeds: int, rounds: int) -> list[dict[str, Any]]:
    rows = []
    for seed in range(seeds):
        means = np.random.default_rng(100 + seed).uniform(0.05, 0.5, 10)
        policies: dict[str, BanditPolicy] = {
            "thompson": ThompsonSampling(),
            "epsilon_greedy(0.1)": EpsilonGreedy({"epsilon": 0.1}),
            "uniform": EpsilonGreedy({"epsilon": 1.0}),
        }
        for name, policy in policies.items():
            regret = bernoulli_regret(policy, means, rounds, np.random.default_rng(seed))
            half = rounds // 2
            rows.append(
                {
                    "part": "bernoulli",
                    "seed": seed,
                    "policy": name,
                    "regret": float(regret.sum()),
                    "first_half": float(regret[:half].sum()),
                    "second_half": float(regret[half:].sum()),
                }
            )
    return rows


def linear(seeds: int, rounds: int) -> list[dict[str, Any]]:
    rows = []
    for seed in range(seeds):
        weights = np.random.default_rng(200 + seed).standard_normal((5, 6))
        policies: dict[str, BanditPolicy] = {
            "linucb(1.0)": LinUCB({"n_features": 6, "alpha": 1.0}),
            "epsilon_greedy(0.1)": EpsilonGreedy({"epsilon": 0.1}),
            "uniform": EpsilonGreedy({"epsilon": 1.0}),
        }
        for name, policy in policies.items():
            regret = linear_regret(policy, weights, rounds, np.random.default_rng(seed))
            rows.append(
                {"part": "linear", "seed": seed, "policy": name, "regret": float(regret.sum())}
            )
    return rows


def latency(repeats: int = 2000) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    arms = [str(k) for k in range(10)]
    ts = ThompsonSampling({"arms": arms})
    lin = LinUCB({"arms": arms, "n_features": 8})
    for k in range(500):
        ts.update(arms[k % 10], float(rng.random() < 0.1 + 0.02 * (k % 10)))
        lin.update(arms[k % 10], float(rng.random()), rng.standard_normal(8))
    rows = []
    x = rng.standard_normal(8)
    for name, policy, context in (("thompson", ts, None), ("linucb", lin, x)):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            policy.select(context, rng=rng)
            times.append(time.perf_counter() - start)
        rows.append(
            {
                "part": "latency",
                "policy": name,
                "p50_us": 1e6 * float(np.median(times)),
                "p99_us": 1e6 * float(np.quantile(times, 0.99)),
            }
        )
    return rows


def open_bandit() -> list[dict[str, Any]]:
    logs = {policy: load_obd(OBD, policy) for policy in ("random", "bts")}
    rows = []
    for target, behaviour_name in (("bts", "random"), ("random", "bts")):
        behaviour = logs[behaviour_name]
        uniform = uniform_distribution(behaviour)
        dist = action_distribution(logs["bts"]) if target == "bts" else uniform
        model = table_reward_model(behaviour, np.random.default_rng(0))
        pi, q, v = dr_inputs(per_round(dist, behaviour), model, behaviour.actions)
        r, p = behaviour.rewards, behaviour.propensities
        truth = on_policy(logs[target].rewards)
        for estimate in (ips(r, p, pi), snips(r, p, pi), doubly_robust(r, p, pi, q, v)):
            rows.append(
                {
                    "part": "ope",
                    "target": target,
                    "log": behaviour_name,
                    "method": estimate.method,
                    "value": estimate.value,
                    "lower": estimate.lower,
                    "upper": estimate.upper,
                    "on_policy": truth.value,
                    "on_policy_lower": truth.lower,
                    "on_policy_upper": truth.upper,
                    "inside": truth.contains(estimate.value),
                }
            )
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    out = ["| part | seed | policy | regret | first half | second half |", "|---" * 6 + "|"]
    for row in rows:
        if row["part"] in ("bernoulli", "linear"):
            first, second = row.get("first_half"), row.get("second_half")
            halves = f"{first:.1f} | {second:.1f}" if first is not None else "- | -"
            out.append(
                f"| {row['part']} | {row['seed']} | {row['policy']} | {row['regret']:.1f} "
                f"| {halves} |"
            )
    out += ["", "| policy | select p50 µs | p99 µs |", "|---|---|---|"]
    for row in rows:
        if row["part"] == "latency":
            out.append(f"| {row['policy']} | {row['p50_us']:.1f} | {row['p99_us']:.1f} |")
    out += [
        "",
        "| target | log | method | estimate [95% CI] | on-policy [95% CI] | inside |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row["part"] == "ope":
            out.append(
                f"| {row['target']} | {row['log']} | {row['method']} | {row['value']:.5f} "
                f"[{row['lower']:.5f}, {row['upper']:.5f}] | {row['on_policy']:.5f} "
                f"[{row['on_policy_lower']:.5f}, {row['on_policy_upper']:.5f}] "
                f"| {'yes' if row['inside'] else 'no'} |"
            )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=10_000)
    parser.add_argument("--linear-rounds", type=int, default=3_000)
    parser.add_argument("--json", action="store_true", help="JSON lines instead of markdown")
    args = parser.parse_args()
    rows = bernoulli(args.seeds, args.rounds) + linear(args.seeds, args.linear_rounds)
    rows += latency() + open_bandit()
    if args.json:
        for row in rows:
            print(json.dumps(row))
    else:
        print(markdown(rows))


if __name__ == "__main__":
    main()
