from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ecorec.data.datasets import DatasetError, detect_format, load_dataset


def test_ml100k_recbole_known_counts(ml100k):
    data = load_dataset(str(ml100k), "recbole")
    assert data.n_interactions == 100_000
    assert len(data.users) == 943 and len(data.items) == 1682
    assert len(data.user_ids()) == 943 and len(data.item_ids()) == 1682
    toy = next(i for i in data.items if i.item_id == "1")
    assert toy.title == "Toy Story"
    assert toy.tags == ("Animation", "Children's", "Comedy") and toy.category == "Animation"
    assert toy.attrs["release_year"] == "1995"
    user = next(u for u in data.users if u.user_id == "1")
    assert user.attrs == {
        "age": "24",
        "gender": "M",
        "occupation": "technician",
        "zip_code": "85711",
    }
    first = data.interactions.slice(0, 1).to_pylist()[0]
    assert first == {"user_id": "196", "item_id": "242", "rating": 3.0, "timestamp": 881250949.0}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_recbole_errors_name_file_line_and_field(tmp_path):
    inter = _write(
        tmp_path / "x.inter", "user_id:token\titem_id:token\trating:float\n1\t2\t4\n1\t3\tabc\n"
    )
    with pytest.raises(DatasetError) as err:
        load_dataset(str(tmp_path), "recbole")
    assert str(inter) in str(err.value) and "line 3" in str(err.value)
    assert "'rating'" in str(err.value)

    _write(inter, "user_id:token\titem_id:token\n1\t2\n1\n")
    with pytest.raises(DatasetError, match="line 3.*expected 2"):
        load_dataset(str(tmp_path), "recbole")

    _write(inter, "user_id,item_id\n1,2\n")
    with pytest.raises(DatasetError, match="not a RecBole atomic file"):
        load_dataset(str(tmp_path), "recbole")

    _write(inter, "user_id:token\titem_id:bogus\n1\t2\n")
    with pytest.raises(DatasetError, match="unknown field type"):
        load_dataset(str(tmp_path), "recbole")


def test_recbole_duplicate_item_id(tmp_path):
    _write(tmp_path / "x.inter", "user_id:token\titem_id:token\n1\t2\n")
    _write(tmp_path / "x.item", "item_id:token\tclass:token_seq\n2\tA B\n2\tC\n")
    with pytest.raises(DatasetError, match=r"x\.item, line 3, field 'item_id': duplicate id '2'"):
        load_dataset(str(tmp_path), "recbole")


def test_binary_file_is_refused(tmp_path):
    _write(tmp_path / "x.inter", "")
    (tmp_path / "x.inter").write_bytes(b"PAR1\x00\x01\x02")
    with pytest.raises(DatasetError, match="binary"):
        load_dataset(str(tmp_path), "recbole")


def test_movielens_raw_formats(tmp_path):
    udata = _write(tmp_path / "u.data", "1\t10\t4\t100\n2\t10\t3\t200\n")
    data = load_dataset(str(udata), "movielens")
    assert data.interactions.column("item_id").to_pylist() == ["10", "10"]
    dat_dir = tmp_path / "ml1m"
    dat_dir.mkdir()
    _write(dat_dir / "ratings.dat", "1::5::5::978300760\n1::6::3::978302109\n")
    _write(dat_dir / "movies.dat", "5::Father of the Bride (1995)::Comedy\n6::Heat::Action|Crime\n")
    data = load_dataset(str(dat_dir), "movielens")
    assert data.interactions.num_rows == 2
    assert {i.item_id: i.tags for i in data.items} == {"5": ("Comedy",), "6": ("Action", "Crime")}
    _write(dat_dir / "ratings.dat", "1::5::5::978300760\n1::6\n")
    with pytest.raises(DatasetError, match="ratings.dat, line 2"):
        load_dataset(str(dat_dir), "movielens")


def test_csv_with_mapping_and_unknown_column(tmp_path):
    csv = _write(tmp_path / "r.csv", "userId,movieId,rating,timestamp\n1,2,4.5,10\n3,2,1,11\n")
    data = load_dataset(str(csv), "csv", {"user_id": "userId", "item_id": "movieId"})
    assert data.interactions.to_pylist()[0] == {
        "user_id": "1",
        "item_id": "2",
        "rating": 4.5,
        "timestamp": 10.0,
    }
    with pytest.raises(DatasetError, match="unknown column"):
        load_dataset(str(csv), "csv")
    with pytest.raises(DatasetError, match="not in the header"):
        load_dataset(str(csv), "csv", {"user_id": "uid"})
    bad = _write(tmp_path / "b.csv", "user_id,item_id,rating\n1,2,x\n")
    with pytest.raises(DatasetError, match="line 2, field 'rating'"):
        load_dataset(str(bad), "csv")


def test_parquet_and_format_detection(tmp_path):
    path = tmp_path / "r.parquet"
    pq.write_table(pa.table({"user_id": [1, 2], "item_id": ["a", "b"], "rating": [5, 4]}), path)
    data = load_dataset(str(path), "parquet")
    assert data.interactions.column("user_id").to_pylist() == ["1", "2"]
    assert detect_format(str(path)) == "parquet"
    not_parquet = _write(tmp_path / "x.parquet", "user_id,item_id\n1,2\n")
    with pytest.raises(DatasetError, match="not a Parquet file"):
        load_dataset(str(not_parquet), "parquet")
