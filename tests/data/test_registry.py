"""ModelRegistry: versions, manifests, integrity checks and atomic activation."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import datetime
from pathlib import Path

import pytest

from ecorec.data.registry import ModelIntegrityError, ModelNotFoundError, ModelRegistry


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "trained"
    (folder / "sub").mkdir(parents=True)
    (folder / "weights.npz").write_bytes(b"\x93NUMPY fake weights")
    (folder / "sub" / "vocab.json").write_text('{"i1": 0}')
    return folder


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(tmp_path / "models")


def test_save_activate_open_round_trip(registry: ModelRegistry, model_folder: Path) -> None:
    version = registry.save("din", model_folder, metrics={"auc": 0.71}, config={"epochs": 3})
    assert registry.versions("din") == [version]
    assert registry.active("din") is None
    registry.activate("din", version)
    assert registry.active("din") == version

    folder = registry.open("din")
    assert folder == registry.root / "din" / version
    assert (folder / "weights.npz").read_bytes() == (model_folder / "weights.npz").read_bytes()
    assert (folder / "sub" / "vocab.json").read_text() == '{"i1": 0}'
    assert registry.open("din", version) == folder

    manifest = registry.manifest("din", version)
    assert manifest["name"] == "din" and manifest["version"] == version
    assert manifest["metrics"] == {"auc": 0.71} and manifest["config"] == {"epochs": 3}
    assert manifest["files"] == {
        "sub/vocab.json": hashlib.sha256(b'{"i1": 0}').hexdigest(),
        "weights.npz": hashlib.sha256(b"\x93NUMPY fake weights").hexdigest(),
    }
    assert datetime.fromisoformat(manifest["created_at"]).utcoffset().total_seconds() == 0
    assert registry.names() == ["din"]


def test_versions_sort_oldest_first_and_are_unique(
    registry: ModelRegistry, model_folder: Path
) -> None:
    saved = [registry.save("din", model_folder) for _ in range(5)]  # same content, same second
    assert len(set(saved)) == 5
    assert registry.versions("din") == saved == sorted(saved)
    registry.activate("din", saved[1])
    assert registry.open("din") == registry.root / "din" / saved[1]


def test_no_staging_left_behind(registry: ModelRegistry, model_folder: Path) -> None:
    registry.save("din", model_folder)
    with pytest.raises(TypeError):
        registry.save("din", model_folder, metrics={"bad": object()})
    assert [p.name for p in (registry.root / "din").iterdir() if p.name.startswith(".")] == []
    assert len(registry.versions("din")) == 1


def test_tampered_file_is_refused(registry: ModelRegistry, model_folder: Path) -> None:
    version = registry.save("din", model_folder)
    registry.activate("din", version)
    (registry.root / "din" / version / "sub" / "vocab.json").write_text('{"i1": 1}')
    with pytest.raises(ModelIntegrityError, match="sub/vocab.json") as caught:
        registry.open("din")
    assert caught.value.path == "sub/vocab.json"


def test_extra_and_missing_files_are_refused(registry: ModelRegistry, model_folder: Path) -> None:
    version = registry.save("din", model_folder)
    folder = registry.root / "din" / version
    (folder / "payload.pkl").write_bytes(b"not from the trainer")
    with pytest.raises(ModelIntegrityError, match="payload.pkl"):
        registry.open("din", version)
    (folder / "payload.pkl").unlink()
    (folder / "weights.npz").unlink()
    with pytest.raises(ModelIntegrityError, match="weights.npz"):
        registry.open("din", version)
    with pytest.raises(ModelIntegrityError):
        registry.activate("din", version)
    assert registry.active("din") is None


def test_unknown_names_and_versions(registry: ModelRegistry, model_folder: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="no model named 'nope'"):
        registry.open("nope", "20200101T000000.000000Z-00000000")
    with pytest.raises(ModelNotFoundError, match="no active version"):
        registry.open("nope")
    version = registry.save("din", model_folder)
    with pytest.raises(ModelNotFoundError, match=f"saved versions: {version}"):
        registry.open("din")
    with pytest.raises(ModelNotFoundError, match="no version"):
        registry.activate("din", "20200101T000000.000000Z-00000000")
    assert registry.versions("nope") == []
    assert registry.active("nope") is None


@pytest.mark.parametrize(
    "name",
    [
        "",
        "..",
        ".",
        "../evil",
        "a/b",
        "a\\b",
        ".hidden",
        "x" * 200,
        "-flag",
        "name with space",
        "/abs",
    ],
)
def test_bad_names_are_refused(registry: ModelRegistry, model_folder: Path, name: str) -> None:
    with pytest.raises(ValueError, match="invalid model name"):
        registry.save(name, model_folder)
    with pytest.raises(ValueError, match="invalid model name"):
        registry.open(name)
    assert not any(registry.root.parent.glob("evil*"))


def test_bad_versions_are_refused(registry: ModelRegistry, model_folder: Path) -> None:
    registry.save("din", model_folder)
    for version in ("../din", "..", "ACTIVE/.."):
        with pytest.raises(ValueError, match="invalid model version"):
            registry.open("din", version)


def test_symlinks_and_reserved_names_are_refused(registry: ModelRegistry, tmp_path: Path) -> None:
    folder = tmp_path / "linked"
    folder.mkdir()
    (folder / "link").symlink_to(tmp_path)
    with pytest.raises(ValueError, match="symlinks"):
        registry.save("din", folder)
    folder = tmp_path / "reserved"
    folder.mkdir()
    (folder / "manifest.json").write_text("{}")
    with pytest.raises(ValueError, match="reserved"):
        registry.save("din", folder)
    assert registry.versions("din") == []


def test_activation_is_atomic(registry: ModelRegistry, model_folder: Path) -> None:
    versions = [registry.save("din", model_folder) for _ in range(2)]
    registry.activate("din", versions[0])
    pointer = registry.root / "din" / "ACTIVE"
    stop = threading.Event()
    errors: list[BaseException] = []

    def flip() -> None:
        try:
            for n in range(200):
                registry.activate("din", versions[n % 2])
        except BaseException as error:  # reported to the main thread below
            errors.append(error)
        finally:
            stop.set()

    writer = threading.Thread(target=flip)
    writer.start()
    seen = set()
    while not stop.is_set():
        seen.add(pointer.read_text())
        seen.add(registry.active("din"))
    writer.join()
    assert not errors
    assert seen <= {v + "\n" for v in versions} | set(versions)
    assert registry.open("din") == registry.root / "din" / versions[1]
    assert [p.name for p in (registry.root / "din").iterdir() if p.name.endswith(".tmp")] == []


def test_manifest_is_plain_json(registry: ModelRegistry, model_folder: Path) -> None:
    version = registry.save("din", model_folder)
    raw = json.loads((registry.root / "din" / version / "manifest.json").read_text())
    assert raw == registry.manifest("din", version)
