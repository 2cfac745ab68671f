from __future__ import annotations

from pathlib import Path

import pytest

from decaf.data.annotations import Annotation, Box, read_xml, write_xml
from decaf.data.folders import DataError

VOC = """<annotation>
  <filename>000001.jpg</filename>
  <size><width>100</width><height>50</height><depth>3</depth></size>
  <object><name>dog</name><difficult>1</difficult>
    <bndbox><xmin>1</xmin><ymin>1</ymin><xmax>100</xmax><ymax>50</ymax></bndbox></object>
  <object><name>cat</name>
    <bndbox><xmin>48</xmin><ymin>10</ymin><xmax>60</xmax><ymax>20</ymax></bndbox></object>
  <object><name>flat</name>
    <bndbox><xmin>30</xmin><ymin>10</ymin><xmax>29</xmax><ymax>20</ymax></bndbox></object>
</annotation>
"""


def test_voc_is_one_based_inclusive_and_round_trips(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text(VOC)
    ann = read_xml(tmp_path / "a.xml", "voc")
    assert (ann.width, ann.height) == (100, 50)
    dog, cat = ann.boxes
    assert dog.xyxy == (0, 0, 100, 50) and dog.difficult  # the whole image
    assert cat.xyxy == (47, 9, 60, 20) and not cat.difficult
    assert len(ann.dropped) == 1 and "flat" in ann.dropped[0]
    write_xml(ann, tmp_path / "b.xml", "voc")
    again = read_xml(tmp_path / "b.xml", "voc")
    assert [b.xyxy for b in again.boxes] == [b.xyxy for b in ann.boxes]
    assert "<xmin>48</xmin>" in (tmp_path / "b.xml").read_text()


def test_imagenet_is_zero_based_inclusive(tmp_path: Path) -> None:
    ann = Annotation("x.JPEG", 64, 64, boxes=[Box("n02691156", 0, 0, 64, 32)])
    write_xml(ann, tmp_path / "x.xml", "imagenet")
    text = (tmp_path / "x.xml").read_text()
    assert "<xmin>0</xmin>" in text and "<xmax>63</xmax>" in text and "difficult" not in text
    assert read_xml(tmp_path / "x.xml", "imagenet").boxes[0].xyxy == (0, 0, 64, 32)


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        ("<annotation><object><name>x</name></object></annotation>", "no <bndbox>"),
        ("<notes/>", "not <annotation>"),
        ("not xml at all", "not a readable annotation XML"),
        (
            '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "boom">]><annotation>&e;</annotation>',
            "unsafe XML",
        ),
    ],
)
def test_bad_files_are_data_errors(tmp_path: Path, content: str, phrase: str) -> None:
    (tmp_path / "bad.xml").write_text(content)
    with pytest.raises(DataError, match=phrase):
        read_xml(tmp_path / "bad.xml")


@pytest.mark.parametrize(
    ("size", "box", "message"),
    [
        ("<width>1e400</width><height>30</height>", ("1", "2", "9", "9"), "width = '1e400'"),
        ("<width>40</width><height>30.5</height>", ("1", "2", "9", "9"), "whole number"),
        ("<width>40</width><height>30</height>", ("nan", "2", "9", "9"), "dog xmin = 'nan'"),
        ("<width>40</width><height>30</height>", ("1", "2", "inf", "9"), "dog xmax = 'inf'"),
    ],
)
def test_numbers_that_are_not_numbers_are_refused(tmp_path: Path, size: str, box: tuple,
                                                  message: str) -> None:  # fmt: skip
    tags = ("xmin", "ymin", "xmax", "ymax")
    corners = "".join(f"<{t}>{v}</{t}>" for t, v in zip(tags, box, strict=True))
    xml = (
        f"<annotation><filename>a.jpg</filename><size>{size}<depth>3</depth></size>"
        f"<object><name>dog</name><bndbox>{corners}</bndbox></object></annotation>"
    )
    path = tmp_path / "a.xml"
    path.write_text(xml)
    with pytest.raises(DataError, match=message):
        read_xml(path)
