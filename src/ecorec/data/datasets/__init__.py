"""Loaders for public interaction datasets, all returning one :class:`Dataset` shape."""

from ecorec.data.datasets.base import Dataset, DatasetError
from ecorec.data.datasets.movielens import load_movielens
from ecorec.data.datasets.recbole import load_recbole
from ecorec.data.datasets.tabular import load_table

FORMATS = ("recbole", "movielens", "csv", "parquet")


def load_dataset(path: str, format: str, mapping: dict[str, str] | None = None) -> Dataset:
    """Load ``path`` in one of :data:`FORMATS`.

    Args:
        path: a folder or file, as the format expects.
        format: ``recbole`` (atomic files), ``movielens`` (``u.data``/``ratings.dat``/
            ``ratings.csv``), ``csv`` or ``parquet`` (a header naming ``user_id,item_id`` and
            optionally ``rating,timestamp``).
        mapping: for csv/parquet, ecorec field -> column name in the file.

    """
    if format == "recbole":
        return load_recbole(path)
    if format == "movielens":
        return load_movielens(path)
    if format in ("csv", "parquet"):
        return load_table(path, format=format, mapping=mapping)
    raise DatasetError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")


def detect_format(path: str) -> str:
    """Guess the format of ``path`` (used where a command takes ``--data`` without a format)."""
    from pathlib import Path

    p = Path(path)
    if p.is_dir():
        if any(p.glob("*.inter")):
            return "recbole"
        return "movielens"
    suffix = p.suffix.lower()
    if suffix == ".inter":
        return "recbole"
    if suffix == ".parquet":
        return "parquet"
    if p.name in ("u.data", "ratings.dat") or suffix in (".data", ".dat"):
        return "movielens"
    return "csv"


__all__ = [
    "FORMATS",
    "Dataset",
    "DatasetError",
    "detect_format",
    "load_dataset",
    "load_movielens",
    "load_recbole",
    "load_table",
]
