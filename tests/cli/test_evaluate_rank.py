"""`ecorec evaluate rank` as a user drives it: JSON on stdout, errors in one line."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from ecorec.cli.app import app

pytestmark = pytest.mark.integration


def run(*args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(app, ["evaluate", "rank", *args])
    if ok:
        assert result.exit_code == 0, result.output + result.stderr
    return result


@pytest.fixture
def rated_csv(tmp_path: Path) -> Path:
    """Everyone likes the first 20 items and dislikes the rest: a rule any model learns."""
    rng = np.random.default_rng(0)
    lines = ["user_id,item_id,rating,timestamp"]
    for row in range(3000):
        user, item = rng.integers(0, 30), rng.integers(0, 40)
        rating = 5 if item < 20 else 1
        lines.append(f"u{user},i{item},{rating},{row}")
    path = tmp_path / "rated.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("model", ["deepfm", "din"])
def test_json_has_the_documented_shape_and_learns(rated_csv: Path, model: str) -> None:
    out = json.loads(
        run("--data", str(rated_csv), "--model", model, "--epochs", "10", "--json").stdout
    )
    assert out["model"] == model and out["protocol"] == "ctr-temporal"
    for part in ("valid", "test"):
        assert set(out[part]) == {"auc", "logloss", "gauc"}
    assert out["test"]["auc"] > 0.9  # the item id decides the label
    assert out["train_samples_per_s"] > 0
    assert out["split"]["rows"] == {"train": 2400, "valid": 300, "test": 300}


def test_config_parameters_reach_the_model_and_trainer(rated_csv: Path, tmp_path: Path) -> None:
    config = tmp_path / "ecorec.toml"
    config.write_text(
        '[pipeline.rank]\nmodel = "deepfm"\n'
        "[pipeline.rank.deepfm]\nembedding_dim = 4\nbatch_size = 256\nepochs = 1\n"
    )
    out = json.loads(
        run("--data", str(rated_csv), "--model", "deepfm", "--config", str(config), "--json").stdout
    )
    assert out["config"]["model"]["embedding_dim"] == 4
    assert out["config"]["train"]["batch_size"] == 256
    assert out["epochs_run"] == 1


def test_bad_input_is_one_clear_line(rated_csv: Path, tmp_path: Path) -> None:
    result = run("--data", str(rated_csv), "--model", "bert4rec", ok=False)
    assert result.exit_code != 0 and "unknown ranking model 'bert4rec'" in result.stderr
    result = run("--data", str(rated_csv), "--protocol", "recbole-811", ok=False)
    assert "unknown protocol 'recbole-811' for rank" in result.stderr
    implicit = tmp_path / "implicit.csv"
    implicit.write_text("user_id,item_id\n" + "".join(f"u{i},i{i}\n" for i in range(20)))
    result = run("--data", str(implicit), ok=False)
    assert result.exit_code != 0 and "ratings" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def gendered_folder(tmp_path: Path) -> Path:
    """A RecBole folder whose .user file has gender, and men like more items than women."""
    rng = np.random.default_rng(1)
    folder = tmp_path / "toy"
    folder.mkdir()
    users = ["user_id:token\tage:token\tgender:token"]
    users += [f"u{u}\t{20 + u}\t{'M' if u % 2 else 'F'}" for u in range(30)]
    (folder / "toy.user").write_text("\n".join(users) + "\n")
    inter = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for row in range(3000):
        user, item = rng.integers(0, 30), rng.integers(0, 40)
        liked = item < (30 if user % 2 else 10)
        inter.append(f"u{user}\ti{item}\t{5 if liked else 1}\t{row}")
    (folder / "toy.inter").write_text("\n".join(inter) + "\n")
    return folder


@pytest.fixture
def small_batches(tmp_path: Path) -> list[str]:
    """Batches of 128: a few epochs are enough steps to learn the toy rules."""
    config = tmp_path / "ecorec.toml"
    config.write_text(
        '[pipeline.rank]\nmodel = "deepfm"\n[pipeline.rank.deepfm]\nbatch_size = 128\n'
        "learning_rate = 0.005\n"
    )
    return ["--config", str(config), "--epochs", "3"]


def test_gender_gaps_are_reported_without_being_asked(
    gendered_folder: Path, rated_csv: Path, small_batches: list[str]
) -> None:
    out = json.loads(run("--data", str(gendered_folder), *small_batches, "--json").stdout)
    fairness = out["fairness"]
    assert fairness["attribute"] == "gender" and fairness["kind"] is None
    assert set(fairness["groups"]) == {"F", "M"}
    assert "with" not in fairness and "without" not in fairness
    # men like 3/4 of the items, women 1/4: a model that learned it scores them far apart
    assert fairness["gap_dp_score"] > 0.2
    plain = json.loads(run("--data", str(rated_csv), "--epochs", "1", "--json").stdout)
    assert "fairness" not in plain  # no user attributes, nothing to measure


def test_the_regulariser_reports_both_models_and_closes_the_gap(
    gendered_folder: Path, small_batches: list[str]
) -> None:
    args = ["--data", str(gendered_folder), *small_batches, "--fairness", "dp"]
    out = json.loads(run(*args, "--fairness-weight", "5", "--json").stdout)
    fairness = out["fairness"]
    assert (fairness["kind"], fairness["weight"]) == ("dp", 5.0)
    assert out["config"]["train"]["fairness"]["weight"] == 5.0
    with_, without = fairness["with"], fairness["without"]
    assert with_["test"] == out["test"]  # the reported model is the regularised one
    assert with_["gap_dp_score"] == fairness["gap_dp_score"]
    assert with_["gap_dp_score"] < without["gap_dp_score"] / 2
    assert set(without["groups"]) == {"F", "M"}
    shown = run(*args, "--fairness-weight", "5").stdout
    assert "without regulariser" in shown and "with regulariser" in shown


def test_bad_fairness_flags_are_one_clear_line(gendered_folder: Path) -> None:
    data = ["--data", str(gendered_folder), "--epochs", "1"]
    result = run(*data, "--fairness", "dp", "--fairness-attribute", "history", ok=False)
    assert "'history' is not a sparse field" in result.stderr and "gender" in result.stderr
    result = run(*data, "--fairness", "parity", ok=False)
    assert "--fairness parity: expected dp or eo" in result.stderr
    result = run(*data, "--fairness-weight", "2", ok=False)
    assert "--fairness-weight needs --fairness" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_platform_database_is_judged_per_objective(tiny_platform, tmp_path: Path) -> None:
    """The synthetic platform's impressions: every objective gets its metrics."""
    url = tiny_platform.config.database_url
    objectives = "click,like,finish,watch_time"
    config = tmp_path / "rank.toml"
    config.write_text(
        '[pipeline.rank]\nmodel = "mmoe"\n[pipeline.rank.mmoe]\n'
        f"objectives = {json.dumps(objectives.split(','))}\n"
        "epochs = 2\nembedding_dim = 8\nlearning_rate = 0.01\n"
    )
    result = run("--data", url, "--model", "mmoe", "--config", str(config), "--json")
    out = json.loads(result.stdout)
    assert set(out["objectives"]) == set(objectives.split(","))
    assert out["valid"] == out["objectives"]["click"]["valid"]
    assert out["objectives"]["click"]["test"]["auc"] > 0.55
    assert "mse" in out["objectives"]["watch_time"]["test"]  # a soft label
    assert "fairness" not in out  # synthetic users carry no gender
    assert set(out["split"]["rows"]) == {"train", "valid", "test"}


def test_a_missing_platform_database_is_one_clear_line(tmp_path: Path) -> None:
    result = run("--data", str(tmp_path / "nothing.db"), "--json", ok=False)
    assert result.exit_code != 0 and "no such database file" in result.stderr
