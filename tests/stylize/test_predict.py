"""Running style networks: ONNX parity, seam-free tiling, colour, AdaIN options, video, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from decaf.core.bundle import save_bundle
from decaf.core.errors import OptionError
from decaf.stylize.nets import TransformNet, shared_statistics
from decaf.stylize.predict import FastStylizer, export_onnx, stylize_video


def _bundle(tmp_path: Path, styles: tuple[str, ...] = ("swirl", "mosaic"), width: int = 8,
            pad: str = "zeros") -> Path:  # fmt: skip
    """A CIN bundle with random weights, written as ``decaf train style`` writes one."""
    torch.manual_seed(0)
    net = TransformNet(len(styles), width=width, blocks=2, pad=pad)
    for m in net.modules():  # random γ/β so the styles differ
        if hasattr(m, "gamma"):
            m.gamma.data.uniform_(0.5, 1.5)
            m.beta.data.normal_(0, 0.3)
    path = tmp_path / "cin.pt"
    save_bundle({"task": "stylize", "arch": "cin", "classes": list(styles),
                 "state_dict": net.state_dict(), "config": {"styles": len(styles), "width": width,
                                                            "blocks": 2, "pad": pad}},
                path)  # fmt: skip
    return path


def _picture(h: int, w: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([np.sin(xx / 17), np.cos(yy / 23), np.sin((xx + yy) / 31)], -1) * 0.4 + 0.5
    return Image.fromarray((np.clip(base + rng.normal(0, 0.03, base.shape), 0, 1) * 255)
                           .astype(np.uint8))  # fmt: skip


def test_onnx_matches_pytorch(tmp_path: Path) -> None:
    import onnxruntime as ort

    path = _bundle(tmp_path)
    stylizer = FastStylizer(path, engine="torch")
    export_onnx(stylizer.net, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    x = torch.rand(1, 3, 72, 104)
    w = torch.tensor([[0.3, 0.7]])
    with torch.no_grad():
        ref = stylizer.net(x, w).numpy()
    out = session.run(None, {"image": x.numpy(), "style": w.numpy()})[0]
    assert np.abs(out - ref).max() <= 1e-4
    # the stylizer's two engines agree on an odd-sized picture (padding handled outside ONNX)
    pic = _picture(61, 83)
    a = np.asarray(FastStylizer(path, engine="onnx")(pic, "mosaic"), np.int16)
    b = np.asarray(stylizer(pic, "mosaic"), np.int16)
    assert a.shape == (61, 83, 3) and np.abs(a - b).max() <= 1


def test_tiling_has_no_seams(tmp_path: Path) -> None:
    path = _bundle(tmp_path)
    stylizer = FastStylizer(path, engine="torch")
    pic = _picture(600, 700)
    x = torch.from_numpy(np.asarray(pic, np.float32) / 255).permute(2, 0, 1)[None]
    w = stylizer.style_weights("swirl")
    tiled = stylizer._tiled(x, w, tile=384)
    # the picture is under the preview size, so its tiles share the whole picture's own
    # statistics: tiling must reproduce the untiled result
    with torch.no_grad():
        whole = stylizer.net(x, w)
    diff = (tiled - whole).abs()
    # zero padding at tile edges reaches into the overlap a little: under 1/255 on average
    assert float(diff.mean()) < 3e-3 and float(diff.max()) < 0.1
    # no step where tiles meet (tile 384 with overlap 128: the seam zone is 256..384)
    out = tiled[0].numpy()
    jumps = np.abs(np.diff(out, axis=2)).mean(axis=(0, 1))
    assert jumps[250:390].max() < 1.5 * np.median(jumps)
    # a picture above the preview size: statistics from the downscaled preview, replayed
    with torch.no_grad(), shared_statistics("record") as stats:
        stylizer.net(x, w)
    assert len(stats) == 3 + 2 + 2 * 2  # 3 down and 2 up stages, 2 blocks of 2 norms each


def test_style_selection_blend_and_errors(tmp_path: Path) -> None:
    stylizer = FastStylizer(_bundle(tmp_path), engine="torch")
    assert stylizer.style_weights("mosaic").tolist() == [[0.0, 1.0]]
    assert stylizer.style_weights([1, 3]).tolist() == [[0.25, 0.75]]
    assert stylizer.style_weights({"mosaic": 3, 0: 1}).tolist() == [[0.25, 0.75]]
    pic = _picture(40, 48)
    a, b = (np.asarray(stylizer(pic, k), np.float64) for k in (0, 1))
    assert not np.array_equal(a, b)
    with pytest.raises(OptionError, match="not a style"):
        stylizer(pic, "hatching")
    with pytest.raises(OptionError, match="2 non-negative weights"):
        stylizer(pic, [1.0, -1.0])
    with pytest.raises(OptionError, match="need --method adain"):
        stylizer(pic, style_images=[pic])
    # luminance preservation keeps the content's chroma (YIQ I and Q)
    from decaf.stylize.color import rgb_to_yiq

    kept = np.asarray(stylizer(pic, 0, preserve_color="luminance"), np.float64) / 255
    src = np.asarray(pic, np.float64) / 255
    assert np.abs(rgb_to_yiq(kept)[..., 1:] - rgb_to_yiq(src)[..., 1:]).mean() < 0.02


def test_adain_alpha_masks_and_blend(tmp_path: Path) -> None:
    from decaf.stylize.model import load_style_net
    from decaf.stylize.train import FastOptions, train_style

    opts = FastOptions(method="adain", iters=1, batch=1, size=48, style_size=64)
    styles = [_picture(64, 64, 1), _picture(64, 64, 2)]
    train_style(styles, tmp_path / "adain.pt", opts, content=[_picture(96, 96, 3)])
    net, info = load_style_net(tmp_path / "adain.pt")
    assert info["method"] == "adain"
    stylizer = FastStylizer(tmp_path / "adain.pt", method="adain")
    pic = _picture(50, 70)
    out = stylizer(pic, style_images=styles, style_weights=[0.5, 0.5], alpha=0.5)
    assert out.size == (70, 50)
    half = np.zeros((50, 70), np.float32)
    half[:, :35] = 1
    masked = stylizer(pic, style_images=styles, masks=[half, 1 - half])
    assert masked.size == (70, 50)
    # ONNX Runtime (the default engine) and PyTorch agree; a blend is one set of statistics
    plain = FastStylizer(tmp_path / "adain.pt", method="adain", engine="torch")
    same = plain(pic, style_images=styles, style_weights=[0.5, 0.5], alpha=0.5)
    assert np.abs(np.asarray(out, np.int16) - np.asarray(same, np.int16)).max() <= 1
    with pytest.raises(OptionError, match="1 masks for 2 styles"):
        stylizer(pic, style_images=styles, masks=[half])
    with pytest.raises(OptionError, match="alpha"):
        stylizer(pic, style_images=styles, alpha=1.5)
    with pytest.raises(OptionError, match="adain model takes style pictures; use --method adain"):
        FastStylizer(tmp_path / "adain.pt", method="fast")


def test_adain_tiles_large_pictures_by_itself_and_matches_the_whole() -> None:
    """A picture over the tile size goes through AdaIN in tiles (features of a 75-MP picture
    do not fit in memory at once: 23 GB before, 5 GB tiled); the tiles share the whole
    picture's feature statistics, so the result stays close to the untiled one."""
    from unittest import mock

    from decaf.stylize import resolve_content, resolve_style

    adain = FastStylizer(method="adain", engine="torch")
    pic, styles = resolve_content("chelsea").resize((900, 600)), [resolve_style("swirl")]
    whole = np.asarray(adain(pic, style_images=styles, tile=None), np.float32)
    with mock.patch.object(FastStylizer, "_adain_tiled", autospec=True,
                           side_effect=FastStylizer._adain_tiled) as tiled_call:  # fmt: skip
        tiled = np.asarray(adain(pic, style_images=styles, tile=384), np.float32)
    assert tiled_call.call_count == 1 and tiled.shape == whole.shape
    assert np.abs(tiled - whole).mean() < 3.0  # of 255; the picture's own spread is ~30
    assert np.abs(tiled - whole).mean() < 0.1 * whole.std()
    left = np.zeros((600, 900), np.float32)
    left[:, :450] = 1
    two = [*styles, resolve_style("mosaic")]
    m_whole = np.asarray(adain(pic, style_images=two, masks=[left, 1 - left], tile=None), float)
    m_tiled = np.asarray(adain(pic, style_images=two, masks=[left, 1 - left], tile=384), float)
    assert np.abs(m_tiled - m_whole).mean() < 3.0


def test_video_is_stylized_frame_by_frame(tmp_path: Path) -> None:
    import cv2

    src = tmp_path / "in.avi"
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for k in range(6):
        frame = np.asarray(_picture(48, 64 + 0), np.uint8)
        writer.write(np.roll(frame, 2 * k, axis=1)[:, :, ::-1].copy())
    writer.release()
    stylizer = FastStylizer(_bundle(tmp_path), engine="torch")
    info = stylize_video(src, tmp_path / "out.avi", lambda im: stylizer(im, 0), smooth=0.5)
    assert info["frames"] == 6 and not info["stopped"]
    cap = cv2.VideoCapture(str(tmp_path / "out.avi"))
    ok, frame = cap.read()
    assert ok and frame.shape == (48, 64, 3)
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())
    with pytest.raises(OptionError, match="not a video"):
        stylize_video(tmp_path / "nope.avi", tmp_path / "x.avi", lambda im: im)


def test_cli_fast_adain_export_and_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from decaf.cli import main

    bundle = _bundle(tmp_path)
    out = tmp_path / "o.png"
    assert main(["stylize", "coffee", "--method", "fast", "--model", str(bundle), "-s",
                 "swirl,mosaic", "--style-weights", "1,1", "--size", "96", "-o", str(out),
                 "--json"]) == 0  # fmt: skip
    rec = json.loads(capsys.readouterr().out)
    assert rec["width"] == 96 and out.is_file()
    folder = tmp_path / "pics"
    folder.mkdir()
    for k in range(2):
        _picture(30, 40, k).save(folder / f"p{k}.png")
    assert main(["stylize", str(folder), "--method", "fast", "--model", str(bundle),
                 "-o", str(tmp_path / "outs"), "--json"]) == 0  # fmt: skip
    made = sorted(p.name for p in (tmp_path / "outs").iterdir())
    assert made == [".decaf-stylize.json", "p0.png", "p1.png"]  # the settings, for a rerun
    capsys.readouterr()
    assert main(["export", "onnx", "--model", str(bundle), "-o", str(tmp_path / "m.onnx")]) == 0
    assert (tmp_path / "m.onnx").stat().st_size > 1000
    bad = [
        ["stylize", "coffee", "--method", "fast", "--model", str(bundle), "-s", "nope",
         "-o", str(out)],
        ["stylize", "coffee", "--method", "warp", "-o", str(out)],
        ["stylize", "coffee", "--method", "fast", "--model", str(bundle), "--alpha", "0.5",
         "-o", str(out)],
        ["stylize", "coffee", "--method", "fast", "--model", str(tmp_path / "none.pt"),
         "-o", str(out)],
        ["export", "onnx", "--model", str(bundle), "-o", str(tmp_path / "m.txt")],
        ["train", "style", "--method", "fast", "-s", "swirl,mosaic", "-o", str(tmp_path / "t.pt")],
        ["train", "style", "--method", "warp", "-s", "swirl", "-o", str(tmp_path / "t.pt")],
        ["train", "style", "-s", "swirl", "--style-layers", "blocks.99", "-o",
         str(tmp_path / "t.pt")],
        ["train", "style", "--method", "adain", "-s", "swirl", "--base", str(bundle),
         "-o", str(tmp_path / "t.pt")],
    ]  # fmt: skip
    for argv in bad:
        assert main(argv) == 2, argv
    assert not (tmp_path / "t.pt").exists()


def test_python_api_fast_method(tmp_path: Path) -> None:
    import decaf

    bundle = _bundle(tmp_path)
    pic = _picture(40, 56)
    one = decaf.stylize(pic, "mosaic", method="fast", model=bundle)
    assert one.size == (56, 40)
    blend = decaf.stylize(pic, ["swirl", "mosaic"], method="fast", model=bundle,
                          style_weights=[0.0, 1.0])  # fmt: skip
    assert np.abs(np.asarray(one, np.int16) - np.asarray(blend, np.int16)).max() <= 1
    with pytest.raises(OptionError, match="style pictures need adain"):
        decaf.stylize(pic, pic, method="fast", model=bundle)
    with pytest.raises(OptionError, match="run\\(\\) is for optimisation"):
        decaf.stylize.run(pic, method="fast")


def test_builtin_models_ship_and_run() -> None:
    """The shipped models: the CIN network over the four built-in styles, the AdaIN decoder
    and the WCT decoders."""
    from decaf.stylize import BUILTIN_STYLES, resolve_style

    fast = FastStylizer()
    assert fast.styles == list(BUILTIN_STYLES) and fast.path.with_suffix(".onnx").is_file()
    pic = _picture(64, 96)
    outs = [np.asarray(fast(pic, name), np.float64) for name in BUILTIN_STYLES]
    assert outs[0].shape == (64, 96, 3)
    assert min(np.abs(a - b).mean() for a in outs for b in outs if a is not b) > 5  # distinct
    adain = FastStylizer(method="adain")
    out = adain(pic, style_images=[resolve_style("mosaic", size=128)])
    assert out.size == (96, 64)
    # WCT takes the style's colours: the result's mean colour moves most of the way to it
    style = resolve_style("hatching", size=128)
    wct = np.asarray(FastStylizer(method="wct")(pic, style_images=[style]), np.float64)
    target = np.asarray(style, np.float64).mean((0, 1))
    before = np.abs(np.asarray(pic, np.float64).mean((0, 1)) - target).sum()
    assert wct.shape == (64, 96, 3) and np.abs(wct.mean((0, 1)) - target).sum() < 0.5 * before


PAINTING_STYLES = ["starry_night", "the_scream", "shipwreck", "woman_with_hat"]


def test_builtin_painting_styles_ship_and_are_found_by_name(tmp_path: Path) -> None:
    """The second built-in network: four paintings, found by name from the CLI and the API."""
    from decaf.cli import main
    from decaf.stylize.predict import MODELS, builtin_fast_for, builtin_fast_models

    assert [p.name for p in builtin_fast_models()] == ["fast_builtin.pt", "paintings_builtin.pt"]
    assert builtin_fast_for(["starry_night"]) == MODELS / "paintings_builtin.pt"
    assert builtin_fast_for(["swirl", 0]) == MODELS / "fast_builtin.pt"
    with pytest.raises(OptionError, match="different built-in networks"):
        builtin_fast_for(["swirl", "the_scream"])
    with pytest.raises(OptionError, match="not a built-in fast style"):
        builtin_fast_for(["monet"])
    paintings = FastStylizer(MODELS / "paintings_builtin.pt")
    assert paintings.styles == PAINTING_STYLES
    pic = _picture(64, 96)
    outs = [np.asarray(paintings(pic, name), np.float64) for name in PAINTING_STYLES]
    assert min(np.abs(a - b).mean() for a in outs for b in outs if a is not b) > 5  # distinct
    _picture(64, 96).save(tmp_path / "in.png")
    assert main(["stylize", str(tmp_path / "in.png"), "--method", "fast", "--builtin",
                 "shipwreck,woman_with_hat", "--style-weights", "0.5,0.5",
                 "-o", str(tmp_path / "out.png")]) == 0  # fmt: skip
    assert Image.open(tmp_path / "out.png").size == (96, 64)


@pytest.mark.parametrize("name", ["fast_builtin", "paintings_builtin"])
def test_shipped_onnx_graphs_hold_their_bundles_weights(name: str) -> None:
    """Each shipped .onnx is its .pt exported: a graph left stale by retraining fails here."""
    from decaf.stylize.predict import MODELS

    onnx = FastStylizer(MODELS / f"{name}.pt", engine="onnx")
    torch_run = FastStylizer(MODELS / f"{name}.pt", engine="torch")
    pic = _picture(96, 128, 5)
    for k in range(len(onnx.styles)):
        a = np.asarray(onnx(pic, k), np.int16)
        b = np.asarray(torch_run(pic, k), np.int16)
        assert np.abs(a - b).max() <= 2, (name, onnx.styles[k])


def test_concurrent_tiled_stylizations_match_solo_runs(tmp_path: Path) -> None:
    """Tiling statistics live in one tape per call: two threads tiling at once with different
    styles and pictures get exactly the pictures each gets alone."""
    from concurrent.futures import ThreadPoolExecutor

    stylizer = FastStylizer(_bundle(tmp_path), engine="torch")
    jobs = [(_picture(520, 600, 1), "swirl"), (_picture(600, 540, 2), "mosaic")]
    alone = [np.asarray(stylizer(p, s, tile=256)) for p, s in jobs]
    for _ in range(2):
        with ThreadPoolExecutor(2) as pool:
            together = list(pool.map(lambda job: np.asarray(stylizer(job[0], job[1], tile=256)),
                                     jobs * 2))  # fmt: skip
        for got, want in zip(together, alone * 2, strict=True):
            assert np.array_equal(got, want)
    # a tape that does not fit the network is refused, not read past its end
    with pytest.raises(OptionError, match="do not fit"), shared_statistics("replay", []):
        stylizer.net(torch.rand(1, 3, 32, 32), stylizer.style_weights("swirl"))


@pytest.mark.parametrize("pad", ["zeros", "reflect"])
def test_tiny_and_strip_pictures_keep_their_size(tmp_path: Path, pad: str) -> None:
    """1×1, 8×8 and 1×300 pictures: the network's padding repeats the edge where reflection
    cannot, and pads small pictures up to the side its reflected inner convolutions need (the
    built-in networks reflect; an 8-px picture was a traceback in torch and ONNX Runtime)."""
    path = _bundle(tmp_path, pad=pad)
    for engine in ("torch", "onnx"):
        stylizer = FastStylizer(path, engine=engine)
        for w, h in ((1, 1), (8, 8), (1, 300), (300, 1), (300, 3)):
            out = stylizer(Image.new("RGB", (w, h), (200, 30, 30)), "swirl")
            assert out.size == (w, h)


def test_sizes_out_of_range_are_refused(tmp_path: Path) -> None:
    stylizer = FastStylizer(_bundle(tmp_path), engine="torch")
    pic = _picture(20, 20)
    for size in (0, -5, 100_000):
        with pytest.raises(OptionError, match="size must be a whole number"):
            stylizer(pic, "swirl", size=size)


def test_adain_trains_on_the_varied_pool_at_a_deeper_cut(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--varied-styles``: the style crops come from the varied pool (repainted, turned), not
    only crops of the given style; ``--levels`` moves the encoder's cut, which the bundle keeps
    and stylizing honours; adain has one level."""
    from decaf.cli import main
    from decaf.core.tensors import picture_tensor
    from decaf.stylize import train
    from decaf.stylize.model import load_style_net

    red = Image.new("RGB", (80, 80), (255, 0, 0))
    seen: list[torch.Tensor] = []
    for varied in (False, True):
        torch.manual_seed(0)
        pool = [picture_tensor(red, 64)]
        step = train._adain_step(lambda net, x, s: seen.append(s), pool, 32, varied=varied)
        step(None, (torch.zeros(8, 3, 32, 32), torch.zeros(8, dtype=torch.long)))
    plain, varied_crops = seen
    red_t = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    assert torch.allclose(plain, red_t.expand_as(plain), atol=1e-5)
    assert (varied_crops - red_t).abs().amax((1, 2, 3)).gt(0.1).any()  # some were repainted

    out = tmp_path / "deep.pt"
    assert main(["train", "style", "--method", "adain", "-s", "swirl", "--levels", "blocks.4",
                 "--varied-styles", "--painters", "1", "--iters", "1", "--batch", "1",
                 "--size", "64", "--style-size", "64", "-o", str(out), "--json"]) == 0  # fmt: skip
    capsys.readouterr()
    net, info = load_style_net(out)
    assert info["config"]["adain_layer"] == "blocks.4" and info["config"]["varied_styles"]
    assert net.encoder.shapes()["blocks.4"][1] == 16  # stride 16: the cut is where asked
    got = FastStylizer(out, method="adain")(_picture(64, 64), style_images=[red])
    assert got.size == (64, 64)
    assert main(["train", "style", "--method", "adain", "-s", "swirl", "--levels",
                 "blocks.2,bn1", "-o", str(tmp_path / "two.pt")]) == 2  # fmt: skip
    assert "adain has one level" in capsys.readouterr().err
    assert not (tmp_path / "two.pt").exists()
    with pytest.raises(OptionError, match="varied_styles trains adain decoders"):
        train.FastOptions(method="cin", varied_styles=True)
