"""The CLI as a user drives it: real stores in a temporary folder, JSON on stdout."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from ecorec.cli.app import app

pytestmark = pytest.mark.integration


def run(*args: str, ok: bool = True):
    result = CliRunner().invoke(app, list(args))
    if ok:
        assert result.exit_code == 0, result.output + result.stderr
    return result


@pytest.fixture(scope="module")
def ml_db(tmp_path_factory, ml100k):
    db = f"sqlite:///{tmp_path_factory.mktemp('ml') / 'ml.db'}"
    run("ingest", "--format", "recbole", str(ml100k), "--db", db, "--json")
    return db


def test_ingest_ml100k_reports_known_counts(ml_db, ml100k):
    info = json.loads(run("info", "--db", ml_db, "--json").stdout)
    assert (info["events"], info["users"], info["items"]) == (100_000, 943, 1682)
    assert info["events_by_type"] == {"rating": 100_000}
    assert len(info["sample_user_ids"]) == 20
    again = json.loads(
        run("ingest", "--format", "recbole", str(ml100k), "--db", ml_db, "--json").stdout
    )
    assert again["events_new"] == 0
    info = json.loads(run("info", "--db", ml_db, "--json").stdout)
    assert info["events"] == 100_000


def test_recommend_trains_then_reuses_the_active_model(ml_db):
    first = run("recommend", "--user-id", "1", "--n", "10", "--db", ml_db, "--json")
    assert "training it now" in first.stderr
    slate = json.loads(first.stdout)
    assert len(slate["items"]) == 10
    from ecorec.core.config import DEFAULT_QUOTA

    for item in slate["items"]:
        assert item["channel"] in DEFAULT_QUOTA
        assert item["reasons"][0] == f"recall:{item['channel']}"
    # MovieLens has no creators: the novice-creator channel cannot apply and is skipped
    assert "novice_creator" in first.stderr
    second = run("recommend", "--user-id", "1", "--n", "10", "--db", ml_db, "--json")
    assert "training" not in second.stderr
    info = json.loads(run("info", "--db", ml_db, "--json").stdout)
    assert info["models"]["popular"] and info["models"]["item_cf"]


def test_recommend_filters_what_the_user_has_seen(ml_db):
    # user 1 rated 272 movies, among them the most popular ones; none may come back
    slate = json.loads(
        run("recommend", "--user-id", "1", "--n", "50", "--db", ml_db, "--json").stdout
    )
    from ecorec.data.datasets import load_dataset
    from tests.conftest import ML100K

    table = load_dataset(str(ML100K), "recbole").interactions
    seen = {
        i
        for u, i in zip(
            table.column("user_id").to_pylist(), table.column("item_id").to_pylist(), strict=True
        )
        if u == "1"
    }
    assert not seen & {i["item_id"] for i in slate["items"]}
    cold = json.loads(
        run("recommend", "--user-id", "nobody", "--n", "5", "--db", ml_db, "--json").stdout
    )
    assert len(cold["items"]) == 5


def test_malformed_input_names_the_place_and_writes_nothing(tmp_path, ml_db):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "bad.inter").write_text(
        "user_id:token\titem_id:token\trating:float\tts:float\n1\t2\t4\t1\n9\t9\toops\t2\n"
    )
    result = run("ingest", "--format", "recbole", str(folder), "--db", ml_db, ok=False)
    assert result.exit_code == 1
    assert "bad.inter, line 3, field 'rating'" in result.stderr
    info = json.loads(run("info", "--db", ml_db, "--json").stdout)
    assert (info["events"], info["users"]) == (100_000, 943)


def test_config_errors_and_missing_database(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[pipeline.recall]\nchanels = ['popular']\n")
    result = run("info", "--config", str(bad), ok=False)
    assert result.exit_code == 1 and "chanels" in result.stderr
    result = run("recommend", "--user-id", "1", "--db", f"sqlite:///{tmp_path}/none.db", ok=False)
    assert result.exit_code == 1 and "no database" in result.stderr
    assert not (tmp_path / "none.db").exists()


def test_console_script_exit_code_and_stderr(tmp_path):
    """The installed entry point: one-line reason on stderr, non-zero exit, clean stdout."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ecorec.cli",
            "ingest",
            "--format",
            "movielens",
            str(tmp_path / "missing"),
            "--db",
            f"sqlite:///{tmp_path}/x.db",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert "no such file or folder" in result.stderr


def test_generate_then_recommend_in_the_working_directory(tmp_path, monkeypatch):
    """The acceptance path: no --db anywhere, everything in ./ecorec.db."""
    monkeypatch.chdir(tmp_path)
    generated = json.loads(
        run(
            "generate", "--users", "120", "--items", "400", "--days", "3", "--seed", "7", "--json"
        ).stdout
    )
    assert (generated["users"], generated["items"]) == (120, 400)
    assert generated["total_events"] == sum(generated["events"].values()) > 0
    info = json.loads(run("info", "--json").stdout)
    assert info["events"] == generated["total_events"]
    assert info["users"] == 120 and info["sample_user_ids"][0] == "u0000000"
    user = info["sample_user_ids"][0]
    slate = json.loads(run("recommend", "--user-id", user, "--n", "10", "--json").stdout)
    assert len(slate["items"]) == 10
    assert len({i["item_id"] for i in slate["items"]}) == 10
    assert (tmp_path / "ecorec.db").exists() and (tmp_path / "ecorec-models").is_dir()
    # the same seed gives the same platform
    other = tmp_path / "again"
    other.mkdir()
    monkeypatch.chdir(other)
    again = json.loads(
        run(
            "generate", "--users", "120", "--items", "400", "--days", "3", "--seed", "7", "--json"
        ).stdout
    )
    assert again["events"] == generated["events"]
