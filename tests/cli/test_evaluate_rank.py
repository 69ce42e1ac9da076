"""`ecorec evaluate rank` as a user drives it: JSON on stdout, errors in one line."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from ecorec.cli.app import app

pytestmark = pytest.mark.integration


def run(*args, ok=True):
    result = CliRunner().invoke(app, ["evaluate", "rank", *args])
    if ok:
        assert result.exit_code == 0, result.output + result.stderr
    return result


@pytest.fixture
def rated_csv(tmp_path):
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
def test_json_has_the_documented_shape_and_learns(rated_csv, model):
    out = json.loads(
        run("--data", str(rated_csv), "--model", model, "--epochs", "10", "--json").stdout
    )
    assert out["model"] == model and out["protocol"] == "ctr-temporal"
    for part in ("valid", "test"):
        assert set(out[part]) == {"auc", "logloss", "gauc"}
    assert out["test"]["auc"] > 0.9  # the item id decides the label
    assert out["train_samples_per_s"] > 0
    assert out["split"]["rows"] == {"train": 2400, "valid": 300, "test": 300}


def test_config_parameters_reach_the_model_and_trainer(rated_csv, tmp_path):
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


def test_bad_input_is_one_clear_line(rated_csv, tmp_path):
    result = run("--data", str(rated_csv), "--model", "bert4rec", ok=False)
    assert result.exit_code != 0 and "unknown ranking model 'bert4rec'" in result.stderr
    result = run("--data", str(rated_csv), "--protocol", "recbole-811", ok=False)
    assert "unknown protocol 'recbole-811' for rank" in result.stderr
    implicit = tmp_path / "implicit.csv"
    implicit.write_text("user_id,item_id\n" + "".join(f"u{i},i{i}\n" for i in range(20)))
    result = run("--data", str(implicit), ok=False)
    assert result.exit_code != 0 and "ratings" in result.stderr
    assert "Traceback" not in result.stderr
