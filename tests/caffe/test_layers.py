"""Each Caffe layer against its formula (research notes §1.5)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from decaf.caffe import io as cio
from decaf.caffe.layers import LAYERS, fill
from decaf.caffe.proto import caffe_pb2


def _layer(text: str, shapes: list[tuple[int, ...]], phase: int = 1):
    lp = caffe_pb2.LayerParameter()
    cio.parse_text(text, lp)
    return LAYERS[lp.type](lp, shapes, phase)


@pytest.mark.parametrize(
    ("text", "size", "out"),
    [
        ("kernel_size: 3 stride: 2", 112, 56),  # ResNet pool1: floor would give 55
        ("kernel_size: 3 stride: 2 round_mode: FLOOR", 112, 55),
        ("kernel_size: 2 stride: 2", 7, 4),
        ("kernel_size: 3 stride: 2 pad: 1", 7, 4),  # last window would start in the pad: dropped
        ("kernel_size: 1 stride: 2", 4, 3),  # k < s, pad 0: torch's ceil mode would give 2
        ("kernel_size: 2 stride: 3", 5, 2),  # k < s, pad 0: Caffe keeps the last window
    ],
)
def test_pooling_output_sizes(text: str, size: int, out: int) -> None:
    layer = _layer(f'type: "Pooling" pooling_param {{ pool: MAX {text} }}', [(1, 2, size, size)])
    y = layer(torch.randn(1, 2, size, size))[0]
    assert y.shape[-1] == out


def test_ave_pooling_counts_padding_but_not_beyond() -> None:
    layer = _layer('type: "Pooling" pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 }',
                   [(1, 1, 4, 4)])  # fmt: skip
    y = layer(torch.ones(1, 1, 4, 4))[0]
    # top-left window covers 2×2 image pixels out of a 3×3 window inside the padded input
    assert y[0, 0, 0, 0].item() == pytest.approx(4 / 9)
    # the bottom-right window [3, 6) is clipped to the padded input [-1, 5): a 2×2 divisor,
    # though only one image pixel lies inside it
    assert y[0, 0, -1, -1].item() == pytest.approx(1 / 4)


def test_batchnorm_uses_scaled_sums_and_updates_like_caffe() -> None:
    bn = _layer('type: "BatchNorm"', [(4, 2, 3, 3)], phase=1)
    bn.blobs[0].data[:] = torch.tensor([2.0, 4.0])  # sums
    bn.blobs[1].data[:] = torch.tensor([8.0, 2.0])
    bn.blobs[2].data[:] = 2.0  # scale factor
    x = torch.randn(4, 2, 3, 3)
    y = bn(x)[0]
    expect = (x - torch.tensor([1.0, 2.0]).view(1, 2, 1, 1)) / torch.sqrt(
        torch.tensor([4.0, 1.0]).view(1, 2, 1, 1) + 1e-5)  # fmt: skip
    torch.testing.assert_close(y, expect)
    train = _layer('type: "BatchNorm" batch_norm_param { moving_average_fraction: 0.9 }',
                   [(4, 2, 3, 3)], phase=0)  # fmt: skip
    train(x)
    m = 4 * 3 * 3
    assert train.blobs[2].item() == pytest.approx(1.0)
    torch.testing.assert_close(train.blobs[0].data, x.mean((0, 2, 3)))
    torch.testing.assert_close(train.blobs[1].data, x.var((0, 2, 3), unbiased=False) * m / (m - 1))


def test_scale_bias_eltwise_inner_product_softmax() -> None:
    x = torch.randn(2, 3, 4, 5)
    sc = _layer('type: "Scale" scale_param { bias_term: true }', [tuple(x.shape)])
    sc.blobs[0].data[:] = torch.tensor([1.0, 2.0, 3.0])
    sc.blobs[1].data[:] = torch.tensor([0.5, 0.0, -1.0])
    torch.testing.assert_close(sc(x)[0], x * torch.tensor([1.0, 2, 3]).view(1, 3, 1, 1)
                               + torch.tensor([0.5, 0, -1]).view(1, 3, 1, 1))  # fmt: skip
    el = _layer('type: "Eltwise" eltwise_param { operation: SUM coeff: 1 coeff: -2 }',
                [tuple(x.shape)] * 2)  # fmt: skip
    torch.testing.assert_close(el(x, x * 3)[0], x - 6 * x)
    mx = _layer('type: "Eltwise" eltwise_param { operation: MAX }', [tuple(x.shape)] * 2)
    torch.testing.assert_close(mx(x, -x)[0], x.abs())
    ip = _layer('type: "InnerProduct" inner_product_param { num_output: 7 axis: 2 }',
                [tuple(x.shape)])  # fmt: skip
    assert ip.blobs[0].shape == (7, 20) and ip(x)[0].shape == (2, 3, 7)
    sm = _layer('type: "Softmax"', [tuple(x.shape)])
    torch.testing.assert_close(sm(x)[0].sum(1), torch.ones(2, 4, 5))


def test_lrn_both_regions() -> None:
    x = torch.rand(1, 5, 4, 4)
    across = _layer('type: "LRN" lrn_param { local_size: 3 alpha: 0.3 beta: 0.75 k: 2 }',
                    [tuple(x.shape)])  # fmt: skip
    c = 2
    window = (x[0, 1:4] ** 2).sum(0)
    expect = x[0, c] / (2 + 0.3 / 3 * window) ** 0.75
    torch.testing.assert_close(across(x)[0][0, c], expect)
    within = _layer(
        'type: "LRN" lrn_param { local_size: 3 alpha: 0.3 beta: 0.75 k: 7 '
        "norm_region: WITHIN_CHANNEL }", [tuple(x.shape)])  # fmt: skip
    avg = (x[0, 0, 0:3, 0:3] ** 2).sum() / 9  # an interior window; k is ignored
    expect = x[0, 0, 1, 1] * (1 + 0.3 * avg) ** -0.75
    assert within(x)[0][0, 0, 1, 1].item() == pytest.approx(expect.item(), rel=1e-5)


def test_dropout_follows_the_phase_and_fast_rcnn_scale_train() -> None:
    x = torch.ones(1000)
    test = _layer('type: "Dropout" dropout_param { dropout_ratio: 0.4 }', [(1000,)], phase=1)
    assert torch.equal(test(x)[0], x)
    train = _layer('type: "Dropout" dropout_param { dropout_ratio: 0.4 }', [(1000,)], phase=0)
    y = train(x)[0]
    values = y.unique()
    assert len(values) == 2 and values[0] == 0 and values[1].item() == pytest.approx(1 / 0.6)
    frcnn = _layer('type: "Dropout" dropout_param { dropout_ratio: 0.4 scale_train: false }',
                   [(1000,)], phase=1)  # fmt: skip
    torch.testing.assert_close(frcnn(x)[0], x * 0.6)


def test_softmax_loss_normalisation_and_ignore_label() -> None:
    x = torch.randn(4, 3)
    y = torch.tensor([0, 2, 1, 2])
    loss = _layer('type: "SoftmaxWithLoss"', [(4, 3), (4,)])
    torch.testing.assert_close(loss(x, y)[0], torch.nn.functional.cross_entropy(x, y))
    ign = _layer('type: "SoftmaxWithLoss" loss_param { ignore_label: 2 }', [(4, 3), (4,)])
    torch.testing.assert_close(ign(x, y)[0], torch.nn.functional.cross_entropy(x[:3:2], y[:3:2]))
    acc = _layer('type: "Accuracy" accuracy_param { top_k: 2 }', [(4, 3), (4,)])
    top2 = x.topk(2, 1).indices
    assert acc(x, y)[0].item() == pytest.approx((top2 == y[:, None]).any(1).float().mean().item())


def test_neurons() -> None:
    x = torch.linspace(-3, 3, 13)
    cases = {
        'type: "ReLU" relu_param { negative_slope: 0.1 }': torch.where(x > 0, x, 0.1 * x),
        'type: "Power" power_param { power: 2 scale: 0.5 shift: 1 }': (1 + 0.5 * x) ** 2,
        'type: "Exp" exp_param { base: 2 scale: 0.5 }': 2 ** (0.5 * x),
        'type: "BNLL"': torch.log1p(torch.exp(x)),
        'type: "Threshold" threshold_param { threshold: 0.5 }': (x > 0.5).float(),
        'type: "AbsVal"': x.abs(),
    }
    for text, expect in cases.items():
        torch.testing.assert_close(_layer(text, [(13,)])(x)[0], expect, msg=text)


def test_xavier_is_uniform_on_fan_in() -> None:
    f = caffe_pb2.FillerParameter(type="xavier")
    w = fill(torch.empty(64, 32, 3, 3), f)
    bound = math.sqrt(3 / (32 * 9))
    assert w.abs().max() <= bound and w.abs().max() > 0.95 * bound
    assert abs(float(w.std()) - bound / math.sqrt(3)) < 0.01 * bound * 3
    assert np.isclose(float(fill(torch.empty(3), caffe_pb2.FillerParameter()).abs().sum()), 0)


def test_fast_rcnn_dialect_roi_pooling_and_smooth_l1() -> None:
    roi = _layer('type: "ROIPooling" roi_pooling_param { pooled_h: 2 pooled_w: 2 '
                 "spatial_scale: 0.5 }", [(1, 1, 4, 4), (1, 5)])  # fmt: skip
    x = torch.arange(16.0).view(1, 1, 4, 4)
    y = roi(x, torch.tensor([[0, 0, 0, 7, 7]], dtype=torch.float32))[0]
    # box 0..7 × 0.5 rounds to 0..4 (5 cells); bins of 2.5 cells: [0, 3) and [2, 4) per axis
    assert y.shape == (1, 1, 2, 2) and y.flatten().tolist() == [10.0, 11.0, 14.0, 15.0]
    sl1 = _layer('type: "SmoothL1Loss" smooth_l1_loss_param { sigma: 1 }', [(2, 2), (2, 2)])
    pred, target = torch.tensor([[0.5, 3.0], [0.0, 0.0]]), torch.zeros(2, 2)
    assert sl1(pred, target)[0].item() == pytest.approx((0.5 * 0.25 + 2.5) / 2)


def test_lstm_matches_torch_and_cont_restarts_sequences() -> None:
    torch.manual_seed(0)
    t_steps, n, i_dim, h_dim = 5, 3, 4, 6
    lstm = _layer(f'type: "LSTM" recurrent_param {{ num_output: {h_dim} '
                  'weight_filler { type: "uniform" min: -0.3 max: 0.3 } '
                  'bias_filler { type: "uniform" min: -0.1 max: 0.1 } }',
                  [(t_steps, n, i_dim), (t_steps, n)])  # fmt: skip
    assert [tuple(b.shape) for b in lstm.blobs] == [(24, 4), (24,), (24, 6)]
    ref = torch.nn.LSTM(i_dim, h_dim)
    order = torch.cat([torch.arange(0, 12), torch.arange(18, 24), torch.arange(12, 18)])
    with torch.no_grad():  # Caffe's gates are i, f, o, g; torch's i, f, g, o
        ref.weight_ih_l0.copy_(lstm.blobs[0][order])
        ref.weight_hh_l0.copy_(lstm.blobs[2][order])
        ref.bias_ih_l0.copy_(lstm.blobs[1][order])
        ref.bias_hh_l0.zero_()
    x = torch.randn(t_steps, n, i_dim)
    cont = torch.ones(t_steps, n)
    cont[0] = 0
    ours = lstm(x, cont)[0]
    theirs, _ = ref(x)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    cont[3, 1] = 0  # column 1 starts a new sequence at t = 3
    restarted = lstm(x, cont)[0]
    fresh, _ = ref(x[3:, 1:2])
    torch.testing.assert_close(restarted[3:, 1:2], fresh, rtol=1e-5, atol=1e-6)
    last, (h_t, c_t) = lstm.run(x, return_sequences=False, return_state=True)
    torch.testing.assert_close(last, theirs[-1], rtol=1e-5, atol=1e-6)
    assert h_t.shape == c_t.shape == (1, n, h_dim)


def test_rnn_formula() -> None:
    torch.manual_seed(1)
    rnn = _layer('type: "RNN" recurrent_param { num_output: 3 '
                 'weight_filler { type: "gaussian" std: 0.5 } }', [(4, 2, 5), (4, 2)])  # fmt: skip
    w_xh, b_h, w_hh, w_ho, b_o = rnn.blobs
    x = torch.randn(4, 2, 5)
    h = torch.zeros(2, 3)
    expect = []
    for t in range(4):
        h = torch.tanh(x[t] @ w_xh.t() + b_h + (h if t else 0 * h) @ w_hh.t())
        expect.append(torch.tanh(h @ w_ho.t() + b_o))
    cont = torch.ones(4, 2)
    cont[0] = 0
    torch.testing.assert_close(rnn(x, cont)[0], torch.stack(expect).detach())


def test_more_losses_embed_and_spp(tmp_path) -> None:
    torch.manual_seed(0)
    prob = torch.softmax(torch.randn(4, 3), 1)
    y = torch.tensor([0, 2, 1, 1])
    mll = _layer('type: "MultinomialLogisticLoss"', [(4, 3), (4,)])
    assert mll(prob, y)[0].item() == pytest.approx(-prob[range(4), y].log().mean().item(), rel=1e-5)
    x = torch.randn(4, 3)
    h = torch.eye(3)  # the identity infogain matrix is plain softmax cross-entropy
    info = _layer('type: "InfogainLoss"', [(4, 3), (4,), (3, 3)])
    torch.testing.assert_close(info(x, y, h)[0], torch.nn.functional.cross_entropy(x, y))
    blob = caffe_pb2.BlobProto()
    blob.shape.dim.extend([1, 1, 3, 3])
    blob.data.extend((2 * torch.eye(3)).flatten().tolist())
    (tmp_path / "H.binaryproto").write_bytes(blob.SerializeToString())
    source = tmp_path / "H.binaryproto"
    info2 = _layer(f'type: "InfogainLoss" infogain_loss_param {{ source: "{source}" }}',
                   [(4, 3), (4,)])  # fmt: skip
    torch.testing.assert_close(info2(x, y)[0], 2 * torch.nn.functional.cross_entropy(x, y))
    hinge = _layer('type: "HingeLoss"', [(4, 3), (4,)])
    t = -torch.ones(4, 3)
    t[range(4), y] = 1
    assert hinge(x, y)[0].item() == pytest.approx(torch.relu(1 - t * x).sum().item() / 4, rel=1e-5)
    con = _layer('type: "ContrastiveLoss" contrastive_loss_param { margin: 2 }',
                 [(4, 3), (4, 3), (4,)])  # fmt: skip
    a, b, sim = torch.randn(4, 3), torch.randn(4, 3), torch.tensor([1.0, 0, 1, 0])
    d = (a - b).norm(dim=1)
    expect = (sim * d**2 + (1 - sim) * torch.relu(2 - d) ** 2).sum() / 8
    assert con(a, b, sim)[0].item() == pytest.approx(expect.item(), rel=1e-5)
    emb = _layer('type: "Embed" embed_param { num_output: 2 input_dim: 5 '
                 'weight_filler { type: "gaussian" } }', [(3,)])  # fmt: skip
    torch.testing.assert_close(emb(torch.tensor([4.0, 0.0, 4.0]))[0],
                               emb.blobs[0][[4, 0, 4]] + emb.blobs[1])  # fmt: skip
    spp = _layer('type: "SPP" spp_param { pyramid_height: 3 pool: MAX }', [(2, 4, 13, 13)])
    z = torch.randn(2, 4, 13, 13)
    out = spp(z)[0]
    assert out.shape == (2, 4 * (1 + 4 + 16))
    torch.testing.assert_close(out[:, :4], z.amax((2, 3)))  # level 0: global max


def test_im2col_filter_batchreindex_parameter() -> None:
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4)
    im = _layer('type: "Im2col" convolution_param { kernel_size: 2 stride: 2 }', [(2, 1, 4, 4)])
    cols = im(x)[0]
    assert cols.shape == (2, 4, 2, 2) and cols[0, :, 0, 0].tolist() == [0.0, 1.0, 4.0, 5.0]
    flt = _layer('type: "Filter"', [(3, 2), (3,)])
    kept = flt(torch.tensor([[1.0, 2], [3, 4], [5, 6]]), torch.tensor([1.0, 0, 2]))[0]
    assert kept.tolist() == [[1.0, 2.0], [5.0, 6.0]]
    br = _layer('type: "BatchReindex"', [(3, 2), (4,)])
    out = br(torch.tensor([[1.0, 2], [3, 4], [5, 6]]), torch.tensor([2.0, 0, 0, 1]))[0]
    assert out[:, 0].tolist() == [5.0, 1.0, 1.0, 3.0]
    par = _layer('type: "Parameter" parameter_param { shape { dim: 2 dim: 3 } }', [])
    assert par()[0].shape == (2, 3) and par.blobs[0].requires_grad
