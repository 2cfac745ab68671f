"""Cloud Vision's names and numbers, and the checks on what a caller asks for."""

from __future__ import annotations

import pytest

from decaf.annotate import schema
from decaf.annotate.schema import Feature, ImageContext
from decaf.core.errors import OptionError


def test_feature_types_by_name_number_and_alias() -> None:
    assert schema.feature_name("labels") == "LABEL_DETECTION"
    assert schema.feature_name(4) == "LABEL_DETECTION"
    assert schema.feature_name("object_localization") == "OBJECT_LOCALIZATION"
    assert schema.feature_name(19) == "OBJECT_LOCALIZATION"
    for bad in ("bogus", 8, 99, True):
        with pytest.raises(OptionError):
            schema.feature_name(bad)


def test_features_merge_and_document_text_wins() -> None:
    got = schema.features_from(["text", Feature("LABEL_DETECTION", 3), 4, "document-text"], 5)
    assert [f.type for f in got] == ["LABEL_DETECTION", "DOCUMENT_TEXT_DETECTION"]
    assert got[0].max_results == 5  # the larger of 3 and 5
    every = schema.features_from(None)  # all eight, but document text stands in for text
    assert len(schema.SUPPORTED) == 8 and len(every) == 7
    assert "TEXT_DETECTION" not in {f.type for f in every}
    with pytest.raises(OptionError, match="no features"):
        schema.features_from([])
    with pytest.raises(OptionError, match="maxResults"):
        Feature("labels", 0)


def test_image_context_limits() -> None:
    assert ImageContext([1, 1.78]).aspect_ratios == (1.0, 1.78)
    with pytest.raises(OptionError, match="at most 16"):
        ImageContext([1.0] * 17)
    for bad in (0.0, float("nan"), -1.0):
        with pytest.raises(OptionError):
            ImageContext([bad])


def test_geometry_has_explicit_zeros_and_clips() -> None:
    v = schema.vertices((-5, 0, 700.4, 20.6), 640, 480)
    assert v == [{"x": 0, "y": 0}, {"x": 640, "y": 0}, {"x": 640, "y": 21}, {"x": 0, "y": 21}]
    n = schema.normalized((0, 0, 320, 960), 640, 480)
    assert n[2] == {"x": 0.5, "y": 1.0}
    assert schema.likelihood(0.5, (0.1, 0.2, 0.5, 0.8)) == "LIKELY"
    assert schema.likelihood(float("nan"), (0.1, 0.2, 0.5, 0.8)) == "UNKNOWN"
