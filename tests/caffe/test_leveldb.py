"""LevelDB sources, written here the way Caffe's converters write them (plyvel, snappy tables)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from decaf import caffe
from decaf.caffe.data import ENVIRONMENTS, copy_to_lmdb, iter_records
from decaf.caffe.layers import CaffeLayerError
from decaf.caffe.proto import caffe_pb2

plyvel = pytest.importorskip("plyvel")

NET = """
layer {{ name: "d" type: "Data" top: "data" top: "label" transform_param {{ scale: 0.5 }}
  data_param {{ source: "{source}" batch_size: 3 {backend} }} }}
layer {{ name: "out" type: "Flatten" bottom: "data" top: "flat" }}
"""


def _leveldb(dest: Path, n: int = 5) -> list[np.ndarray]:
    """n 1×4×4 uint8 pictures (label = index) as convert_mnist_data writes them: keys %08d,
    Datum values, snappy-compressed tables."""
    rng = np.random.default_rng(0)
    pictures = []
    db = plyvel.DB(str(dest), create_if_missing=True, compression="snappy")
    with db.write_batch() as batch:
        for i in range(n):
            x = rng.integers(0, 255, (1, 4, 4), dtype=np.uint8)
            pictures.append(x)
            datum = caffe_pb2.Datum(channels=1, height=4, width=4, data=x.tobytes(), label=i)
            batch.put(b"%08d" % i, datum.SerializeToString())
    db.compact_range()  # into sorted tables, where snappy applies
    db.close()
    return pictures


def _net(tmp_path: Path, source: Path, backend: str) -> caffe.Net:
    proto = tmp_path / f"net_{backend or 'default'}.prototxt"
    proto.write_text(NET.format(source=source, backend=backend))
    return caffe.Net(str(proto), caffe.TRAIN)


@pytest.mark.parametrize("backend", ["backend: LEVELDB", ""])  # Caffe's default is LevelDB
def test_the_data_layer_reads_a_leveldb_in_key_order_and_wraps(tmp_path: Path,
                                                               backend: str) -> None:  # fmt: skip
    pictures = _leveldb(tmp_path / "train_leveldb")
    net = _net(tmp_path, tmp_path / "train_leveldb", backend)
    first = net.forward(blobs=["label", "data"])
    assert first["label"].tolist() == [0, 1, 2]
    np.testing.assert_allclose(first["data"][1], pictures[1] * 0.5)
    second = net.forward(blobs=["label"])
    assert second["label"].tolist() == [3, 4, 0]  # the cursor wraps, as Caffe's does
    del net
    import gc

    gc.collect()
    assert ENVIRONMENTS.count() == 0  # closed with its net (LevelDB locks its folder)


def test_snappy_tables_are_what_is_read(tmp_path: Path) -> None:
    """A constant picture compresses: the table on disk is far smaller than the records, so
    the reader went through snappy (plyvel's wheel bundles it)."""
    db_path = tmp_path / "const_leveldb"
    db = plyvel.DB(str(db_path), create_if_missing=True, compression="snappy")
    raw = caffe_pb2.Datum(channels=3, height=64, width=64, data=bytes(3 * 64 * 64), label=7)
    for i in range(50):
        db.put(b"%08d" % i, raw.SerializeToString())
    db.compact_range()
    db.close()
    on_disk = sum(p.stat().st_size for p in db_path.glob("*.ldb"))
    assert on_disk < 50 * raw.ByteSize() / 10
    records = list(iter_records(db_path))
    assert len(records) == 50 and records[0][1] == raw.SerializeToString()


def test_a_leveldb_converts_to_an_lmdb_record_for_record(tmp_path: Path) -> None:
    from decaf.cli import main

    _leveldb(tmp_path / "train_leveldb")
    assert main(["data", "convert", "lmdb", str(tmp_path / "train_leveldb"),
                 "-o", str(tmp_path / "train_lmdb"), "--json"]) == 0  # fmt: skip
    assert (tmp_path / "train_lmdb" / "data.mdb").is_file()
    assert list(iter_records(tmp_path / "train_lmdb")) == list(
        iter_records(tmp_path / "train_leveldb")
    )
    a = _net(tmp_path, tmp_path / "train_leveldb", "backend: LEVELDB").forward(blobs=["data"])
    b = _net(tmp_path, tmp_path / "train_lmdb", "backend: LMDB").forward(blobs=["data"])
    np.testing.assert_array_equal(a["data"], b["data"])
    with pytest.raises(Exception, match="already exists"):
        copy_to_lmdb(tmp_path / "train_leveldb", tmp_path / "train_lmdb")
    assert main(["data", "convert", "lmdb", str(tmp_path / "train_leveldb"),
                 "-o", str(tmp_path / "other"), "--gray"]) == 2  # fmt: skip
    assert not (tmp_path / "other").exists()


def test_a_leveldb_of_other_records_is_refused_naming_the_key(tmp_path: Path) -> None:
    db = plyvel.DB(str(tmp_path / "junk"), create_if_missing=True)
    db.put(b"k1", b"\xff\xff\xff not a datum")
    db.close()
    with pytest.raises(CaffeLayerError, match="k1.*not a Datum"):
        copy_to_lmdb(tmp_path / "junk", tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))
