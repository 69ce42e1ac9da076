import pytest

from ecorec.core.config import ConfigError, load_config


def test_defaults_and_component_params(tmp_path):
    path = tmp_path / "ecorec.toml"
    path.write_text(
        '[pipeline.recall]\nchannels = ["popular"]\nquota = { popular = 50 }\n'
        "popular = { half_life_days = 3 }\n"
    )
    cfg = load_config(path)
    assert cfg.pipeline.recall.quota == {"popular": 50}
    assert cfg.pipeline.recall.params("popular") == {"half_life_days": 3}
    assert cfg.storage.database_url == "sqlite:///ecorec.db"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[storage]\ndatabse_url = 'x'\n", "storage.databse_url"),
        ("[pipeline.recall]\nqouta = { popular = 1 }\n", "unknown key 'qouta'"),
        ("[pipeline.recall]\nquota = { lightgcn = 1 }\n", "not in channels"),
        ("[pipeline.rank]\nmodel = 'din'\ndeepfm = { x = 1 }\n", "unknown key 'deepfm'"),
        ("[pipeline\n", "not valid TOML"),
    ],
)
def test_unknown_keys_and_bad_files_are_errors(tmp_path, toml, message):
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=message) as err:
        load_config(path)
    assert str(path) in str(err.value)


def test_precedence_file_then_environment_then_flags(tmp_path, monkeypatch):
    path = tmp_path / "c.toml"
    path.write_text("[storage]\ndatabase_url = 'sqlite:///file.db'\n")
    assert load_config(path).storage.database_url == "sqlite:///file.db"
    monkeypatch.setenv("ECOREC_STORAGE__DATABASE_URL", "sqlite:///env.db")
    assert load_config(path).storage.database_url == "sqlite:///env.db"
    flags = {"storage": {"database_url": "sqlite:///flag.db"}}
    assert load_config(path, flags).storage.database_url == "sqlite:///flag.db"


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.toml")
