"""Raw MovieLens files as GroupLens ships them.

- ML-100K: ``u.data`` (tab-separated ``user item rating timestamp``), with ``u.user`` and
  ``u.item`` (``|``-separated) beside it when present.
- ML-1M / ML-10M: ``ratings.dat`` (``user::item::rating::timestamp``), ``movies.dat``,
  ``users.dat``.
- ML-latest / ML-20M+: ``ratings.csv`` with header ``userId,movieId,rating,timestamp``.
"""

from __future__ import annotations

from pathlib import Path

from ecorec.core.entities import Item, User
from ecorec.data.datasets.base import (
    Dataset,
    DatasetError,
    interactions_table,
    parse_float,
    read_lines,
)

_RATING_FILES = ("u.data", "ratings.dat", "ratings.csv")
_ML100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)


def load_movielens(path: str | Path) -> Dataset:
    """Load a MovieLens folder or ratings file (``u.data``, ``ratings.dat``, ``ratings.csv``)."""
    p = Path(path)
    if p.is_dir():
        found = [p / name for name in _RATING_FILES if (p / name).exists()]
        if not found:
            raise DatasetError(f"no MovieLens ratings file ({', '.join(_RATING_FILES)})", p)
        p = found[0]
    elif not p.exists():
        raise DatasetError("no such file or folder", p)
    lines = read_lines(p, encoding="latin-1")
    if p.suffix == ".csv":
        header = lines[0].strip().split(",") if lines else []
        if header[:3] != ["userId", "movieId", "rating"]:
            raise DatasetError(
                f"expected header userId,movieId,rating[,timestamp], got {header}", p, 1
            )
        body, sep, first = lines[1:], ",", 2
    else:
        sep = "::" if p.suffix == ".dat" else "\t"
        body, first = lines, 1
    users: list[str] = []
    items: list[str] = []
    ratings: list[float | None] = []
    stamps: list[float | None] = []
    for number, line in enumerate(body, start=first):
        if not line.strip():
            continue
        values = line.split(sep)
        if len(values) not in (3, 4):
            raise DatasetError(
                f"expected 'user{sep}item{sep}rating{sep}timestamp', got {len(values)} values",
                p,
                number,
            )
        if not values[0].strip():
            raise DatasetError("empty user id", p, number, "user_id")
        if not values[1].strip():
            raise DatasetError("empty item id", p, number, "item_id")
        users.append(values[0].strip())
        items.append(values[1].strip())
        ratings.append(parse_float(values[2], p, number, "rating"))
        stamps.append(parse_float(values[3], p, number, "timestamp") if len(values) == 4 else None)
    folder = p.parent
    return Dataset(
        name=folder.name or "movielens",
        interactions=interactions_table(users, items, ratings, stamps),
        users=_users(folder),
        items=_items(folder),
    )


def _split_unique(path: Path, sep: str, width: int, id_field: str) -> list[tuple[int, list[str]]]:
    rows: list[tuple[int, list[str]]] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(read_lines(path, encoding="latin-1"), start=1):
        if not line.strip():
            continue
        values = line.split(sep)
        if len(values) < width:
            raise DatasetError(f"expected at least {width} values, got {len(values)}", path, number)
        key = values[0].strip()
        if key in seen:
            raise DatasetError(
                f"duplicate id {key!r} (first on line {seen[key]})", path, number, id_field
            )
        seen[key] = number
        rows.append((number, values))
    return rows


def _users(folder: Path) -> list[User]:
    if (folder / "u.user").exists():
        rows = _split_unique(folder / "u.user", "|", 5, "user_id")
        keys = ("age", "gender", "occupation", "zip_code")
    elif (folder / "users.dat").exists():
        rows = _split_unique(folder / "users.dat", "::", 5, "user_id")
        keys = ("gender", "age", "occupation", "zip_code")
    else:
        return []
    return [
        User(user_id=v[0].strip(), attrs=dict(zip(keys, (x.strip() for x in v[1:5]), strict=True)))
        for _, v in rows
    ]


def _items(folder: Path) -> list[Item]:
    out = []
    if (folder / "u.item").exists():
        for _, v in _split_unique(folder / "u.item", "|", 5 + len(_ML100K_GENRES), "item_id"):
            flags = v[5 : 5 + len(_ML100K_GENRES)]
            tags = tuple(g for g, f in zip(_ML100K_GENRES, flags, strict=True) if f.strip() == "1")
            out.append(
                Item(
                    item_id=v[0].strip(),
                    title=v[1],
                    tags=tags,
                    category=tags[0] if tags else None,
                    attrs={"release_date": v[2]},
                )
            )
    elif (folder / "movies.dat").exists():
        for _, v in _split_unique(folder / "movies.dat", "::", 3, "item_id"):
            tags = tuple(t for t in v[2].strip().split("|") if t)
            out.append(
                Item(
                    item_id=v[0].strip(), title=v[1], tags=tags, category=tags[0] if tags else None
                )
            )
    return out
