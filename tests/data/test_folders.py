from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from decaf.data.folders import DataError, ImageDataset, from_folder, from_list, scan, split


def _picture(path: Path, value: int, size: int = 12) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(path)
    return path


def _tree(root: Path) -> Path:
    for k in range(3):
        _picture(root / "cats" / f"c{k}.png", 10 * k)
        _picture(root / "dogs" / f"d{k}.jpg", 100 + 10 * k)
    return root


def test_folder_classes_sorted_and_labelled(tmp_path: Path) -> None:
    data = from_folder(_tree(tmp_path))
    assert data.classes == ["cats", "dogs"]
    assert data.counts() == [3, 3]
    assert {p.name for p, label in data.samples if label == 1} == {"d0.jpg", "d1.jpg", "d2.jpg"}


def test_corrupt_files_are_skipped_and_reported(tmp_path: Path) -> None:
    _tree(tmp_path)
    (tmp_path / "cats" / "broken.jpg").write_bytes(b"this is not a jpeg")
    (tmp_path / "dogs" / "empty.png").write_bytes(b"")
    (tmp_path / "dogs" / "notes.txt").write_text("ignored: not a picture extension")
    data = scan(tmp_path)
    assert len(data) == 6
    assert sorted(p.name for p, _ in data.skipped) == ["broken.jpg", "empty.png"]
    assert "skipped 2 unreadable" in data.summary() and "broken.jpg" in data.summary()


@pytest.mark.parametrize(
    ("make", "phrase"),
    [
        (lambda root: root / "missing", "no such folder"),
        (lambda root: root, "no class folders"),
        (lambda root: (root / "a").mkdir() or root, "class 'a' has no readable images"),
    ],
)
def test_unusable_folders_are_data_errors(tmp_path: Path, make, phrase: str) -> None:
    with pytest.raises(DataError, match=phrase):
        from_folder(make(tmp_path))


def test_list_file_like_caffe_imagedata(tmp_path: Path) -> None:
    _picture(tmp_path / "img" / "a b.png", 5)  # a space in the name: label is the last field
    _picture(tmp_path / "img" / "c.png", 50)
    lst = tmp_path / "train.txt"
    lst.write_text("# comment\nimg/a b.png 0\n\nimg/c.png 2\nimg/gone.png 1\n")
    (tmp_path / "classes.txt").write_text("zero\none\ntwo\n")
    data = from_list(lst)
    assert [(p.name, y) for p, y in data.samples] == [("a b.png", 0), ("c.png", 2)]
    assert data.classes == ["zero", "one", "two"]
    assert [(p.name, why) for p, why in data.skipped] == [("gone.png", "missing")]


@pytest.mark.parametrize("line", ["img/c.png", "img/c.png cat", "img/c.png -1", " 3"])
def test_bad_list_lines_name_the_line(tmp_path: Path, line: str) -> None:
    _picture(tmp_path / "img" / "c.png", 50)
    lst = tmp_path / "l.txt"
    lst.write_text(f"img/c.png 0\n{line}\n")
    with pytest.raises(DataError, match=r"l\.txt:2: expected 'path label'"):
        from_list(lst)


def test_split_is_stratified_and_disjoint(tmp_path: Path) -> None:
    for k in range(10):
        _picture(tmp_path / "a" / f"{k}.png", k)
        _picture(tmp_path / "b" / f"{k}.png", 100 + k)
    train, val = split(scan(tmp_path), 0.2, seed=1)
    assert train.counts() == [8, 8] and val.counts() == [2, 2]
    assert not {p for p, _ in train.samples} & {p for p, _ in val.samples}
    assert split(scan(tmp_path), 0.2, seed=1)[1].samples == val.samples  # seeded


def test_a_truncated_picture_is_replaced_not_fatal(tmp_path: Path) -> None:
    _tree(tmp_path)
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "cats" / "c1.png")
    good = (tmp_path / "cats" / "c1.png").read_bytes()
    (tmp_path / "cats" / "c1.png").write_bytes(good[: len(good) // 2])  # header intact
    data = scan(tmp_path)
    ds = ImageDataset(data)
    with pytest.warns(UserWarning, match="c1.png"):
        img, label = ds[1]
    assert img.size == (12, 12) and label == 0
    assert np.asarray(img)[0, 0, 0] == 20  # the next picture, c2


def test_a_huge_label_is_refused_not_expanded(tmp_path) -> None:  # noqa: ANN001
    """One stray label of 1e8 would make 1e8 class names."""
    import numpy as np
    import pytest
    from PIL import Image

    from decaf.data.folders import DataError, from_list

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "list.txt").write_text("a.png 0\na.png 100000000\n")
    with pytest.raises(DataError, match="list.txt:2: label 100000000 is beyond"):
        from_list(tmp_path / "list.txt")
