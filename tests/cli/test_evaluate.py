"""`ecorec evaluate recall` as a user drives it: JSON on stdout, errors in one line."""

import json

import pytest
from typer.testing import CliRunner

from ecorec.cli.app import app

pytestmark = pytest.mark.integration


def run(*args, ok=True):
    result = CliRunner().invoke(app, ["evaluate", "recall", *args])
    if ok:
        assert result.exit_code == 0, result.output + result.stderr
    return result


@pytest.fixture
def tiny_csv(tmp_path):
    path = tmp_path / "tiny.csv"
    lines = ["user_id,item_id,rating,timestamp"]
    for u in range(6):
        for k in range(10):
            lines.append(f"u{u},i{(u + k) % 15},4,{1000 * u + k}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_tiny_csv_json_has_the_documented_shape(tiny_csv):
    out = json.loads(run("--data", str(tiny_csv), "--channels", "popular", "--json").stdout)
    assert out["protocol"] == "recbole-811"
    assert out["split"] == {
        "train": 48,
        "valid": 6,
        "test": 6,
        "users": 6,
        "items": 15,
        "test_users": 6,
        "seed": 2020,
    }
    popular = out["channels"]["popular"]
    for metric in ("recall@10", "ndcg@10", "mrr@10", "hit@10", "recall@50", "recall@200"):
        assert 0.0 <= popular[metric] <= 1.0
    assert 0.0 < popular["coverage"] <= 1.0 and 0.0 <= popular["long_tail_share"] <= 1.0
    # 15 items, 8 train + 1 valid masked per user: every other item is a candidate, so the
    # single test item is always among the 200
    assert popular["recall@200"] == 1.0
    assert out["fused"]["channels"] == ["popular"]


def test_other_seed_other_split(tiny_csv):
    a = json.loads(run("--data", str(tiny_csv), "--channels", "popular", "--json").stdout)
    b = json.loads(
        run("--data", str(tiny_csv), "--channels", "popular", "--seed", "7", "--json").stdout
    )
    assert b["split"]["seed"] == 7 and a["channels"] != b["channels"]


def test_ml100k_popular_known_properties(ml100k):
    result = run("--data", str(ml100k), "--channels", "popular", "--json")
    out = json.loads(result.stdout)
    assert out["split"]["train"] == 80_808 and out["split"]["test_users"] == 943
    popular = out["channels"]["popular"]
    assert popular["recall@200"] > popular["recall@50"] > popular["recall@10"] > 0
    assert popular["hit@10"] >= popular["recall@10"]
    fused = {k: v for k, v in out["fused"].items() if k not in ("channels", "quota")}
    assert fused == popular  # the only channel: fused is popular in merge order
    assert out["fused"]["quota"] == {"popular": 200}
    assert "training popular" in result.stderr


def test_people_get_a_table(tiny_csv):
    result = run("--data", str(tiny_csv), "--channels", "popular")
    assert "popular" in result.stdout and "fused" in result.stdout and "R@10" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "/no/such/file.csv"], "no such file"),
        (["--protocol", "ctr-temporal"], "known: recbole-811, leave-last-out"),
        (["--channels", "popular,nope"], "unknown recall channel(s) nope"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(tiny_csv, args, message):
    base = ["--data", str(tiny_csv)] if "--data" not in args else []
    result = run(*base, *args, "--json", ok=False)
    assert result.exit_code == 1
    assert message in result.stderr
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0]


def test_leave_last_out_tests_one_item_per_user(tiny_csv):
    out = json.loads(
        run(
            "--data",
            str(tiny_csv),
            "--protocol",
            "leave-last-out",
            "--channels",
            "popular",
            "--json",
        ).stdout
    )
    assert out["protocol"] == "leave-last-out"
    assert (out["split"]["valid"], out["split"]["test"]) == (6, 6)


def test_config_names_channels_params_and_quotas(tiny_csv, tmp_path):
    config = tmp_path / "ecorec.toml"
    config.write_text(
        '[pipeline.recall]\nchannels = ["popular"]\nquota = { popular = 5 }\n'
        "popular = { half_life_days = 0 }\n"
    )
    out = json.loads(run("--data", str(tiny_csv), "--config", str(config), "--json").stdout)
    assert list(out["channels"]) == ["popular"]
    assert out["fused"]["quota"] == {"popular": 5}
    # a quota the other channels cannot use is backfilled: the set still holds every candidate
    assert out["fused"]["mean_candidates"] == out["channels"]["popular"]["mean_candidates"]
    bad = tmp_path / "bad.toml"
    bad.write_text("[pipeline.recall]\nqouta = 3\n")
    result = run("--data", str(tiny_csv), "--config", str(bad), ok=False)
    assert result.exit_code == 1 and "qouta" in result.stderr
