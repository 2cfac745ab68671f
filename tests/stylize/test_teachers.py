"""Teachers: a fast/CIN network also learns from another method's results (Gatys's, say)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from decaf.core.errors import OptionError
from decaf.core.tensors import picture_tensor
from decaf.stylize.losses import batched_gram, batched_relative_error
from decaf.stylize.train import (
    ContentCrops,
    FastOptions,
    PerceptualLoss,
    Teacher,
    TeacherCrops,
    WithTeachers,
    _collate,
    find_teachers,
    train_style,
)


def _noise(seed: int, w: int = 96, h: int = 80) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8))


def _negative(img: Image.Image) -> Image.Image:
    return Image.fromarray(255 - np.asarray(img))


@pytest.mark.parametrize("match", ["features", "gram"])
def test_the_teacher_term_is_the_masked_outputs_error_against_their_results(match: str) -> None:
    """features: the maps' relative error; gram: their Gram matrices' (the teacher's style for
    that crop, wherever its strokes lie)."""
    losses = {}
    for tw in (0.0, 3.0):
        torch.manual_seed(0)
        opts = FastOptions(method="cin", style_size=64, teacher_weight=tw, teacher_match=match,
                           teacher_layers=("blocks.1", "blocks.3"))  # fmt: skip
        losses[tw] = PerceptualLoss(opts, [_noise(9, 64, 64)], pretrained=False).eval()
    loss = losses[3.0]
    out = torch.cat([picture_tensor(_noise(k), 96) for k in range(3)])
    results = torch.cat([picture_tensor(_noise(k + 5), 96) for k in range(2)])
    mask = torch.tensor([True, False, True])
    w = torch.ones(3, 1)
    with torch.no_grad():
        taught = loss(out, out, w, (results, mask))
        plain = losses[0.0](out, out, w, (results, mask))
        fo, ft = loss.ext(out[mask]), loss.ext(results)
        layers = loss.opts.teacher_layers
        g = batched_gram if match == "gram" else (lambda f: f)
        expected = sum(float(batched_relative_error(g(fo[n]), g(ft[n]))) for n in layers) / 2
        same = loss(out, out, w, (out[mask], mask))
    assert expected > 0.01
    assert float(taught["teacher"]) == pytest.approx(expected, rel=1e-4)
    assert float(taught["loss"] - plain["loss"]) == pytest.approx(3.0 * expected, rel=1e-3)
    assert "teacher" not in plain  # weight 0: no term
    assert float(same["teacher"]) < 1e-6  # the teacher's own result costs nothing
    none = loss(out, out, w, (results[:0], torch.zeros(3, dtype=torch.bool)))
    assert float(none["teacher"]) == 0.0


def test_teacher_crops_keep_content_and_result_aligned() -> None:
    torch.manual_seed(0)
    content = _noise(1, 120, 90)
    crops = TeacherCrops([Teacher(content, 1, _negative(content))], size=48, length=20)
    for i in range(20):
        x, style, r = crops[i]
        assert style == 1 and x.shape == r.shape == (3, 48, 48)
        assert torch.allclose(x + r, torch.ones_like(x), atol=1e-5)  # the negative, aligned
    # a result smaller than the crop: the whole short side, scaled up, still aligned
    result = _negative(content.resize((40, 30), Image.LANCZOS))
    small = TeacherCrops([Teacher(content, 0, result)], 48, 5)
    x, _, r = small[0]
    assert x.shape == (3, 48, 48) and float((x + r - 1).abs().mean()) < 0.02


def test_with_teachers_mixes_plain_and_taught_items_and_collates_them() -> None:
    torch.manual_seed(0)
    plain = ContentCrops([_noise(2)], size=32, length=64, styles=2)
    taught = TeacherCrops([Teacher(_noise(3), 1, _noise(4))], 32, 64)
    data = WithTeachers(plain, taught, share=0.5)
    items = [data[i] for i in range(64)]
    has = [it[2] is not None for it in items]
    assert 16 < sum(has) < 48  # about half
    x, idx, results, mask = _collate(items[:8])
    assert x.shape == (8, 3, 32, 32) and mask.tolist() == has[:8]
    assert results.shape == (sum(has[:8]), 3, 32, 32)
    assert all(int(idx[k]) == 1 for k in range(8) if has[k])
    assert _collate([plain[0], plain[1]])[0].shape == (2, 3, 32, 32)  # no teachers: 2 fields


def test_find_teachers_reads_style_and_content_names(tmp_path: Path) -> None:
    content = {"a": _noise(1), "sub/b": _noise(2)}
    (tmp_path / "t" / "swirl" / "sub").mkdir(parents=True)
    _noise(3).save(tmp_path / "t" / "swirl" / "a.png")
    _noise(4).save(tmp_path / "t" / "swirl" / "sub" / "b.jpg")
    found = find_teachers(tmp_path / "t", ["mosaic", "swirl"], content)
    assert [t.style for t in found] == [1, 1]
    assert {t.content is content["a"] or t.content is content["sub/b"] for t in found} == {True}
    _noise(5).save(tmp_path / "t" / "swirl" / "c.png")
    with pytest.raises(OptionError, match="no content picture named 'c'"):
        find_teachers(tmp_path / "t", ["swirl"], content)
    with pytest.raises(OptionError, match="no style named 'swirl'"):
        find_teachers(tmp_path / "t", ["mosaic"], content)
    (tmp_path / "empty").mkdir()
    with pytest.raises(OptionError, match="no teacher results found"):
        find_teachers(tmp_path / "empty", ["swirl"], content)


def test_teachers_and_their_weight_go_together(tmp_path: Path) -> None:
    t = [Teacher(_noise(1), 0, _noise(2))]
    cases = [
        (FastOptions(method="cin", teacher_weight=1.0), ()),
        (FastOptions(method="cin"), t),
        (FastOptions(method="stylebank", teacher_weight=1.0), t),
    ]
    for opts, teachers in cases:
        with pytest.raises(OptionError, match="teacher"):
            train_style([_noise(0)], tmp_path / "x.pt", opts, teachers=teachers)
    with pytest.raises(OptionError, match="teacher_share"):
        FastOptions(teacher_share=0.0)
    with pytest.raises(OptionError, match="teacher_match"):
        FastOptions(teacher_match="pixels")
    assert not (tmp_path / "x.pt").exists()


def test_train_style_with_a_teacher_folder_from_the_cli(tmp_path: Path) -> None:
    from decaf.cli import main
    from decaf.core.bundle import load_bundle

    (tmp_path / "photos").mkdir()
    (tmp_path / "teach" / "swirl").mkdir(parents=True)
    _noise(1).save(tmp_path / "photos" / "p.png")
    _negative(_noise(1)).save(tmp_path / "teach" / "swirl" / "p.png")
    out = tmp_path / "t.pt"
    base = ["train", "style", "-s", "swirl", "--content", str(tmp_path / "photos"),
            "--iters", "2", "--batch", "2", "--size", "32", "--style-size", "48",
            "-o", str(out)]  # fmt: skip
    taught = ["--teacher", str(tmp_path / "teach"), "--teacher-weight", "2",
              "--teacher-match", "gram", "--teacher-layers", "blocks.1"]  # fmt: skip
    assert main([*base, *taught, "--json"]) == 0
    bundle = load_bundle(out)
    assert bundle["provenance"]["teachers"] == 1 and bundle["config"]["teacher_weight"] == 2
    assert bundle["config"]["teacher_match"] == "gram"
    assert bundle["config"]["teacher_layers"] == ["blocks.1"]
    out.unlink()
    assert main([*base, "--teacher-weight", "2"]) == 2  # a weight without teachers
    assert main([*base, "--teacher", str(tmp_path / "photos"), "--teacher-weight", "1"]) == 2
    assert not out.exists()
