"""Versioned model folders with hashed manifests and atomic activation.

Layout under ``root``::

    <name>/<version>/manifest.json   {name, version, created_at, files: {path: sha256}, ...}
    <name>/<version>/<model files>
    <name>/ACTIVE                    the active version, replaced atomically

A version is copied into a hidden temporary folder, its manifest written last, and the folder
renamed into place, so a half-saved version is never visible. ``open`` re-hashes every file
before handing the folder out: a model that changed on disk since it was saved is refused
rather than served. The registry only moves bytes; it never unpickles anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
ACTIVE = "ACTIVE"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_STAMP = "%Y%m%dT%H%M%S.%fZ"
_BLOCK = 1 << 20


class ModelNotFoundError(LookupError):
    """A model name or version the registry does not hold."""


class ModelIntegrityError(RuntimeError):
    """A stored model whose files differ from its manifest; ``path`` names the file."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


def _check_name(value: str, what: str) -> str:
    """Refuse anything that could leave the registry folder or hide as a temp folder."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValueError(
            f"invalid model {what} {value!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def _fsync_dir(path: Path) -> None:
    if os.name == "posix":
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _copy_hashed(source: Path, target: Path) -> str:
    """Copy ``source`` to ``target`` durably and return the sha256 of what was copied."""
    digest = hashlib.sha256()
    with source.open("rb") as src, target.open("wb") as dst:
        while block := src.read(_BLOCK):
            digest.update(block)
            dst.write(block)
        dst.flush()
        os.fsync(dst.fileno())
    return digest.hexdigest()


def _list_files(folder: Path) -> list[str]:
    """Relative POSIX paths of the regular files under ``folder``; symlinks are refused."""
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            raise ValueError(f"symlinks are not stored in the registry: {path}")
        if path.is_file():
            found.append(path.relative_to(folder).as_posix())
    return found


class ModelRegistry:
    """Versioned, hashed, atomically activated model folders on a local or shared file system.

    Args:
        root: folder holding every model; created when missing.

    Example:
        >>> registry = ModelRegistry(tmp)  # doctest: +SKIP
        >>> version = registry.save("din", trained_folder, metrics={"auc": 0.71})  # doctest: +SKIP
        >>> registry.activate("din", version)  # doctest: +SKIP
        >>> weights = registry.open("din") / "weights.npz"  # doctest: +SKIP

    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def names(self) -> list[str]:
        """List the names that have at least one saved version, sorted."""
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def versions(self, name: str) -> list[str]:
        """List the saved versions of ``name``, oldest first; empty when none was saved."""
        folder = self.root / _check_name(name, "name")
        if not folder.is_dir():
            return []
        return sorted(
            p.name for p in folder.iterdir() if _NAME.fullmatch(p.name) and (p / MANIFEST).is_file()
        )

    def save(
        self,
        name: str,
        folder: str | Path,
        metrics: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
    ) -> str:
        """Copy every file of ``folder`` into a new version of ``name``.

        Args:
            name: model name (letters, digits, ``.``, ``_``, ``-``).
            folder: the trained model's files (subfolders kept; symlinks refused).
            metrics: offline metrics to record, JSON-serializable.
            config: the configuration that produced the model, JSON-serializable.

        Returns:
            The new version: a UTC timestamp with microseconds plus a short content hash,
            increasing with every save of the same name.

        """
        source = Path(folder)
        if not source.is_dir():
            raise FileNotFoundError(f"model folder {source} does not exist")
        model_dir = self.root / _check_name(name, "name")
        model_dir.mkdir(parents=True, exist_ok=True)
        staging = model_dir / f".tmp-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            files = {}
            for relative in _list_files(source):
                if relative == MANIFEST:
                    raise ValueError(f"{MANIFEST} is reserved for the registry's own manifest")
                target = staging / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                files[relative] = _copy_hashed(source / relative, target)
            content = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
            return self._publish(name, model_dir, staging, files, content[:8], metrics, config)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _publish(
        self,
        name: str,
        model_dir: Path,
        staging: Path,
        files: dict[str, str],
        short_hash: str,
        metrics: dict[str, Any] | None,
        config: dict[str, Any] | None,
    ) -> str:
        """Write the manifest and rename ``staging`` to a fresh, later-sorting version."""
        now = datetime.now(UTC)
        existing = self.versions(name)
        if existing:
            latest = datetime.strptime(existing[-1].split("-")[0], _STAMP).replace(tzinfo=UTC)
            now = max(now, latest + timedelta(microseconds=1))
        for _ in range(1000):
            version = f"{now.strftime(_STAMP)}-{short_hash}"
            manifest = {
                "name": name,
                "version": version,
                "created_at": now.isoformat(),
                "files": files,
                "metrics": metrics or {},
                "config": config or {},
            }
            with (staging / MANIFEST).open("w", encoding="utf-8") as handle:
                json.dump(manifest, handle, indent=2, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            _fsync_dir(staging)
            try:
                os.rename(staging, model_dir / version)
            except OSError:
                if not (model_dir / version).exists():
                    raise
                now += timedelta(microseconds=1)  # another writer took this stamp; retry later
                continue
            _fsync_dir(model_dir)
            return version
        raise RuntimeError(f"could not find a free version name for model {name!r}")

    def manifest(self, name: str, version: str) -> dict[str, Any]:
        """Read the manifest of one version (files, hashes, metrics, config)."""
        path = self._version_dir(name, version) / MANIFEST
        with path.open(encoding="utf-8") as handle:
            return dict(json.load(handle))

    def activate(self, name: str, version: str) -> None:
        """Make ``version`` the one :meth:`open` serves, after checking its files.

        The pointer file is written aside and moved over ``ACTIVE`` with ``os.replace``, so a
        reader sees the old version or the new one, never a partial name.
        """
        self.verify(name, version)
        model_dir = self.root / name
        tmp = model_dir / f".{ACTIVE}.{uuid.uuid4().hex}.tmp"
        try:
            with tmp.open("w", encoding="utf-8") as handle:
                handle.write(version + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, model_dir / ACTIVE)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(model_dir)

    def active(self, name: str) -> str | None:
        """Return the active version of ``name``, or None when none was activated."""
        pointer = self.root / _check_name(name, "name") / ACTIVE
        try:
            return pointer.read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    def open(self, name: str, version: str | None = None) -> Path:
        """Return the folder of ``version`` (default: the active one) once its files check out.

        Raises:
            ModelNotFoundError: unknown name or version, or no active version.
            ModelIntegrityError: a file missing, added, or changed since it was saved.

        """
        if version is None:
            version = self.active(name)
            if version is None:
                saved = self.versions(name)
                hint = f"; saved versions: {', '.join(saved)}" if saved else ""
                raise ModelNotFoundError(f"model {name!r} has no active version{hint}")
        return self.verify(name, version)

    def verify(self, name: str, version: str) -> Path:
        """Check the files of one version against its manifest and return its folder."""
        folder = self._version_dir(name, version)
        expected = self.manifest(name, version)["files"]
        present = set(_list_files(folder)) - {MANIFEST}
        for relative in sorted(present - expected.keys()):
            raise ModelIntegrityError(
                f"model {name}/{version}: unexpected file {relative!r} not in the manifest",
                relative,
            )
        for relative, digest in sorted(expected.items()):
            if relative not in present:
                raise ModelIntegrityError(
                    f"model {name}/{version}: file {relative!r} is missing", relative
                )
            if _hash_file(folder / relative) != digest:
                raise ModelIntegrityError(
                    f"model {name}/{version}: file {relative!r} does not match its sha256",
                    relative,
                )
        return folder

    def _version_dir(self, name: str, version: str) -> Path:
        folder = self.root / _check_name(name, "name") / _check_name(version, "version")
        if not (folder / MANIFEST).is_file():
            if not (self.root / name).is_dir():
                raise ModelNotFoundError(f"no model named {name!r} in {self.root}")
            raise ModelNotFoundError(f"model {name!r} has no version {version!r}")
        return folder
