"""Storage URLs: the model folder as a path or a ``file://`` URL, anything else an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecorec.core.config import StorageConfig
from ecorec.data.stores import models_root
from ecorec.data.urls import StorageURLError, folder_path


def test_a_file_url_names_the_folder_not_a_folder_called_file(tmp_path: Path) -> None:
    # taken as a path, "file:///srv/models" is the relative folder "file:/srv/models"
    assert folder_path(f"file://{tmp_path}/models") == tmp_path / "models"
    assert folder_path(f"file://localhost{tmp_path}/my%20models") == tmp_path / "my models"
    config = StorageConfig(database_url="sqlite:///x.db", models_url=f"file://{tmp_path}/m")
    assert models_root(config) == tmp_path / "m"


def test_plain_paths_stay_paths(tmp_path: Path) -> None:
    assert folder_path(str(tmp_path / "models")) == tmp_path / "models"
    assert folder_path("models") == Path("models")
    assert (
        models_root(StorageConfig(database_url=f"sqlite:///{tmp_path}/e.db"))
        == Path(f"{tmp_path}/e-models").resolve()
    )


@pytest.mark.parametrize("url", ["s3://bucket/models", "file://otherhost/models", "http://x/m"])
def test_other_schemes_are_refused_with_what_to_give(url: str) -> None:
    with pytest.raises(StorageURLError, match="file:///abs/path"):
        folder_path(url)
