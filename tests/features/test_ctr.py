"""Protocol P3 (ctr-temporal) features: labels, the temporal cut, point-in-time history, OOV."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ecorec.core.entities import Item, User
from ecorec.data.datasets import Dataset, detect_format, load_dataset
from ecorec.data.datasets.base import interactions_table
from ecorec.features.ctr import AGE_BUCKETS, build_ctr_split
from ecorec.features.schema import OOV, PAD, FieldKind
from ecorec.features.vocab import Vocabulary

ML100K = Path(__file__).resolve().parents[3] / "shared/datasets/ml-100k"


def write_csv(path: Path, rows: list[tuple], header: str = "user_id,item_id,rating,timestamp"):
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return str(path)


def dataset(rows: list[tuple], users=(), items=()) -> Dataset:
    u, i, r, t = (list(c) for c in zip(*rows, strict=True))
    return Dataset("tiny", interactions_table(u, i, r, t), list(users), list(items))


def column(split, name: str) -> torch.Tensor:
    """A feature over every row, in time order (train, valid, test)."""
    return torch.cat(
        [split.train.features[name], split.valid.features[name], split.test.features[name]]
    )


def decoded_history(split) -> list[list[str | None]]:
    vocab = split.vocabularies["item_id"]
    return [vocab.decode([c for c in row if c != PAD]) for row in column(split, "history").tolist()]


# -- labels and the 80/10/10 temporal cut ---------------------------------------------------


def test_labels_and_temporal_cut_on_a_csv(tmp_path):
    # 20 rows in shuffled file order; item "i<ts>" names each row's timestamp, ts 5 twice
    # (file order: i5a before i5b, which the stable sort must keep).
    stamps = [7, 3, 19, 5, 12, 1, 5, 16, 9, 20, 2, 14, 11, 18, 4, 8, 13, 17, 6, 10]
    rows = []
    for n, ts in enumerate(stamps):
        item = f"i{ts}" if ts != 5 else ("i5a" if n == 3 else "i5b")
        rows.append((f"u{n % 3}", item, [1, 2, 3, 4, 5][n % 5], ts))
    split = build_ctr_split(write_csv(tmp_path / "tiny.csv", rows))

    assert [f.name for f in split.schema.fields] == ["user_id", "item_id", "history"]
    assert split.summary()["rows"] == {"train": 16, "valid": 2, "test": 2}
    by_time = sorted(range(20), key=lambda n: (stamps[n], n))
    vocab = split.vocabularies["item_id"]
    train_items = vocab.decode(split.train.features["item_id"].tolist())
    assert train_items == [rows[n][1] for n in by_time[:16]]
    assert train_items[4:6] == ["i5a", "i5b"]
    # valid and test items (ts 17..20) were never seen in training: OOV
    assert split.valid.features["item_id"].tolist() == [OOV, OOV]
    assert split.test.features["item_id"].tolist() == [OOV, OOV]
    labels = torch.cat(
        [split.train.labels["click"], split.valid.labels["click"], split.test.labels["click"]]
    )
    assert labels.tolist() == [float(rows[n][2] >= 4) for n in by_time]
    assert split.test.users.tolist() == [rows[n][0] for n in by_time[18:]]
    summary = split.summary()
    assert summary["positive_rate"]["test"] == pytest.approx(labels[18:].mean().item())
    assert summary["protocol"] == "ctr-temporal" and summary["threshold"] == 4.0


def test_threshold_and_ratios_are_honoured():
    rows = [("u", f"i{t}", t % 5 + 1, t) for t in range(20)]
    split = build_ctr_split(dataset(rows), threshold=3.0, ratios=(2, 1, 1))
    assert split.summary()["rows"] == {"train": 10, "valid": 5, "test": 5}
    assert split.train.labels["click"].tolist() == [float(t % 5 + 1 >= 3) for t in range(10)]


# -- point-in-time history ------------------------------------------------------------------


def test_history_sees_only_strictly_earlier_positives_and_keeps_the_latest_n():
    rows = [
        ("u", "i1", 5, 10),
        ("v", "j1", 5, 15),
        ("u", "i2", 5, 20),
        ("u", "i3", 2, 30),  # a negative never enters history
        ("v", "j2", 5, 35),
        ("u", "i4", 4, 40),  # i4 and i5 share a second: neither sees the other
        ("u", "i5", 5, 40),
        ("v", "j3", 1, 45),
        ("v", "j4", 5, 48),
        ("u", "i6", 5, 50),  # the cap of 3 drops i1; i6 is first seen in valid: OOV in history
        ("u", "i7", 4, 60),
        ("u", "i8", 3, 70),
    ]
    split = build_ctr_split(dataset(rows), max_history=3)
    assert split.summary()["rows"] == {"train": 9, "valid": 1, "test": 2}
    assert split.schema["history"].max_len == 3
    assert split.schema["history"].embed == "item_id"
    assert decoded_history(split) == [
        [],
        [],
        ["i1"],
        ["i1", "i2"],
        ["j1"],
        ["i1", "i2"],  # i5, at the same second, is not visible to i4
        ["i1", "i2"],  # nor i4 to i5
        ["j1", "j2"],
        ["j1", "j2"],  # j3 was negative
        ["i2", "i4", "i5"],  # the latest 3, oldest first
        ["i4", "i5", None],  # i6 is a valid-part item: OOV
        ["i5", None, None],  # i7 too (test)
    ]
    history = column(split, "history")
    assert history[0].tolist() == [PAD, PAD, PAD]  # right-padded with PAD
    assert history[2].tolist()[1:] == [PAD, PAD]


def test_history_matches_a_brute_force_reference_with_many_ties():
    # Timestamps from a tiny range force many same-second rows, the hard case for leaks.
    rng = np.random.default_rng(7)
    n = 400
    rows = [
        (
            f"u{rng.integers(6)}",
            f"i{rng.integers(40)}",
            float(rng.integers(1, 6)),
            float(rng.integers(60)),
        )
        for _ in range(n)
    ]
    cap = 4
    split = build_ctr_split(dataset(rows), max_history=cap)
    order = sorted(range(n), key=lambda k: (rows[k][3], k))
    expected = []
    for k in order:
        user, _, _, ts = rows[k]
        earlier = [
            rows[j][1] for j in order if rows[j][0] == user and rows[j][3] < ts and rows[j][2] >= 4
        ]
        expected.append(earlier[-cap:])
    train_items = {rows[k][1] for k in order[: len(split.train)]}
    expected = [[i if i in train_items else None for i in h] for h in expected]
    assert decoded_history(split) == expected
    assert any(len(h) == cap for h in expected) and any(len(h) == 0 for h in expected[50:])


# -- user and item attributes, OOV ------------------------------------------------------------


def test_attributes_buckets_and_oov_for_users_and_items_first_seen_in_test():
    users = [
        User("a", attrs={"age": "17", "gender": "F", "occupation": "artist", "zip_code": "94043"}),
        User("b", attrs={"age": "24", "gender": "M", "occupation": "writer", "zip_code": "T8H1N"}),
        User("c", attrs={"age": "56", "gender": "M", "occupation": "pilot", "zip_code": "10001"}),
    ]
    items = [
        Item("x", tags=("Drama",), attrs={"release_year": "1995"}),
        Item("y", tags=("Comedy", "Romance", "Drama"), title="Y (1971)"),
        Item("z", tags=("Western",), attrs={"release_year": "2001"}),
    ]
    rows = [("a" if t % 2 else "b", "x" if t % 3 else "y", 4, t) for t in range(16)]
    rows += [("b", "y", 5, 16), ("a", "x", 1, 17), ("c", "z", 4, 18), ("c", "x", 2, 19)]
    split = build_ctr_split(dataset(rows, users, items))

    names = [f.name for f in split.schema.fields]
    assert names == [
        "user_id",
        "item_id",
        "age",
        "gender",
        "occupation",
        "zip",
        "release_year",
        "genres",
        "history",
    ]
    groups = {f.name: f.group for f in split.schema.fields}
    assert groups == {
        "user_id": "user",
        "age": "user",
        "gender": "user",
        "occupation": "user",
        "zip": "user",
        "item_id": "item",
        "release_year": "item",
        "genres": "item",
        "history": "behaviour",
    }
    voc = split.vocabularies
    assert voc["age"].values == ["18-24", "<18"]  # fitted on train users a and b only
    assert voc["zip"].values == ["9", "T"]
    assert voc["release_year"].values == ["1971", "1995"]  # y's year comes from its title
    assert voc["genres"].values == ["Comedy", "Drama", "Romance"]
    genres = split.schema["genres"]
    assert genres.kind is FieldKind.MULTI and genres.max_len == 3

    test = split.test.features  # rows: ("c", "z", ts 18), ("c", "x", ts 19)
    assert split.test.users.tolist() == ["c", "c"]
    assert test["user_id"].tolist() == [OOV, OOV]
    assert test["item_id"].tolist() == [OOV, voc["item_id"].encode(["x"])[0]]
    assert test["age"].tolist() == [OOV, OOV]  # "56+" never in train
    assert test["gender"].tolist() == voc["gender"].encode(["M", "M"]).tolist()
    assert test["occupation"].tolist() == [OOV, OOV]
    assert test["zip"].tolist() == [OOV, OOV]  # "1" never in train
    assert test["release_year"].tolist() == [OOV, voc["release_year"].encode(["1995"])[0]]
    drama = voc["genres"].encode(["Drama"])[0]
    assert test["genres"].tolist() == [[OOV, PAD, PAD], [drama, PAD, PAD]]
    y_row = split.train.features["genres"][0].tolist()  # ts 0: item y
    assert voc["genres"].decode(y_row) == ["Comedy", "Romance", "Drama"]
    assert test["history"][0].tolist() == [PAD] * 50  # c has no earlier positive


def test_age_buckets_follow_movielens_1m():
    ages = ["1", "17", "18", "24", "25", "34", "35", "44", "45", "49", "50", "55", "56", "80"]
    users = [User(f"u{n}", attrs={"age": a}) for n, a in enumerate(ages)]
    rows = [(f"u{n % len(ages)}", "i", 3, n) for n in range(2 * len(ages))]
    split = build_ctr_split(dataset(rows, users), ratios=(0.9, 0.05, 0.05))
    vocab = split.vocabularies["age"]
    codes = split.train.features["age"][: len(ages)].tolist()
    assert vocab.decode(codes) == [
        "<18",
        "<18",
        "18-24",
        "18-24",
        "25-34",
        "25-34",
        "35-44",
        "35-44",
        "45-49",
        "45-49",
        "50-55",
        "50-55",
        "56+",
        "56+",
    ]
    assert set(vocab.values) == set(AGE_BUCKETS)


# -- vocabulary --------------------------------------------------------------------------------


def test_vocabulary_codes_oov_and_json_round_trip():
    vocab = Vocabulary.fit(["b", "a", None, "", "c", "a"])
    assert vocab.values == ["a", "b", "c"] and vocab.size == 5
    assert Vocabulary.fit(["c", "a", "b"]) == vocab  # codes do not depend on row order
    codes = vocab.encode(np.array(["c", "a", "zz", "", "b"]))
    assert codes.dtype == np.int64 and codes.tolist() == [4, 2, OOV, OOV, 3]
    assert vocab.encode([None, 7]).tolist() == [OOV, OOV]
    restored = Vocabulary.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert restored == vocab
    big = np.array([f"v{k % 1000}" for k in range(100_000)])
    assert np.array_equal(restored.encode(big), vocab.encode(big))
    assert Vocabulary.fit([1995, 2001]).encode(["2001"]).tolist() == [3]
    assert vocab.decode([PAD, OOV, 2, 99]) == [None, None, "a", None]
    with pytest.raises(ValueError, match="pad="):
        Vocabulary.from_dict({"pad": 1, "oov": 0, "values": ["a"]})
    with pytest.raises(ValueError, match="distinct"):
        Vocabulary(["a", "a"])


def test_split_vocabularies_round_trip_through_json():
    rows = [(f"u{t % 4}", f"i{t % 7}", t % 5 + 1, t) for t in range(30)]
    split = build_ctr_split(dataset(rows))
    saved = json.loads(json.dumps({k: v.to_dict() for k, v in split.vocabularies.items()}))
    restored = {k: Vocabulary.from_dict(v) for k, v in saved.items()}
    assert restored == split.vocabularies
    assert {f.name: f.vocab_size for f in split.schema.of_kind(FieldKind.SPARSE)} == {
        k: v.size for k, v in restored.items()
    }


# -- bad input -------------------------------------------------------------------------------


def test_errors_name_what_is_missing(tmp_path):
    rows = [(f"u{t}", f"i{t}", 4, t) for t in range(12)]
    no_rating = write_csv(
        tmp_path / "a.csv", [(u, i, t) for u, i, _, t in rows], "user_id,item_id,timestamp"
    )
    with pytest.raises(
        ValueError, match=r"ctr-temporal needs explicit ratings: label = rating >= threshold"
    ):
        build_ctr_split(no_rating)
    no_time = write_csv(
        tmp_path / "b.csv", [(u, i, r) for u, i, r, _ in rows], "user_id,item_id,rating"
    )
    with pytest.raises(ValueError, match="needs timestamps"):
        build_ctr_split(no_time)
    with pytest.raises(ValueError, match="at least 10 interactions, got 9"):
        build_ctr_split(dataset(rows[:9]))
    with pytest.raises(ValueError, match="unknown protocol 'recbole-811'; known: ctr-temporal"):
        build_ctr_split(dataset(rows), protocol="recbole-811")
    with pytest.raises(ValueError, match="ratios"):
        build_ctr_split(dataset(rows), ratios=(0.8, 0.2))
    with pytest.raises(ValueError, match="empty part"):
        build_ctr_split(dataset(rows), ratios=(0.98, 0.01, 0.01))


# -- MovieLens-100K ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ml100k_data():
    if not (ML100K / "ml-100k.inter").exists():
        pytest.fail(f"MovieLens-100K not found at {ML100K}: the shared datasets are missing")
    ds = load_dataset(str(ML100K), detect_format(str(ML100K)))
    return ds, build_ctr_split(ds)


def test_ml100k_split_rows_fields_and_positive_rate(ml100k_data):
    _, split = ml100k_data
    summary = split.summary()
    # floor(0.8 n) and floor(0.9 n) of 100,000 rows: the cut is exact, no rounding slack.
    assert summary["rows"] == {"train": 80000, "valid": 10000, "test": 10000}
    assert summary["fields"] == [
        "user_id",
        "item_id",
        "age",
        "gender",
        "occupation",
        "zip",
        "release_year",
        "genres",
        "history",
    ]
    for part, rate in summary["positive_rate"].items():
        assert 0.52 < rate < 0.60, (part, rate)
    assert split.schema["genres"].max_len == 6
    assert split.schema["history"].max_len == 50
    assert summary["vocab_sizes"]["gender"] == 4 and summary["vocab_sizes"]["age"] == 9


def test_ml100k_history_matches_brute_force_on_sampled_rows(ml100k_data):
    ds, split = ml100k_data
    inter = ds.interactions
    users = inter.column("user_id").to_pylist()
    items = inter.column("item_id").to_pylist()
    ratings = inter.column("rating").to_pylist()
    stamps = inter.column("timestamp").to_pylist()
    order = sorted(range(len(users)), key=lambda k: (stamps[k], k))
    positives: dict[str, list[tuple[float, str]]] = {}
    for k in order:
        if ratings[k] >= 4:
            positives.setdefault(users[k], []).append((stamps[k], items[k]))
    history = column(split, "history")
    vocab = split.vocabularies["item_id"]
    rng = np.random.default_rng(0)
    for row in rng.choice(len(order), 400, replace=False).tolist():
        k = order[row]
        earlier = [i for ts, i in positives.get(users[k], []) if ts < stamps[k]][-50:]
        expected = vocab.encode(earlier).tolist() + [PAD] * (50 - len(earlier))
        assert history[row].tolist() == expected, row
