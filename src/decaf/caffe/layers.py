"""Caffe layers as torch modules, with Caffe's exact semantics (research notes §1.5).

Each class is built from a ``LayerParameter`` and the shapes of its bottoms, keeps its learnable
blobs in Caffe's order (:meth:`CaffeLayer.caffe_blobs`) so caffemodels load and save by position,
and maps bottoms → tops in :meth:`forward`. All of it is plain torch, so autograd gives the
backward pass. The traps handled here, each tested in tests/caffe/test_layers.py:

- Pooling rounds *up* by default and drops a last window that starts in the padding only when
  pad > 0; AVE divides by the window clipped to the padded input (count_include_pad).
- BatchNorm stores running *sums* and a scale factor (mean = blob0/blob2); its update uses the
  unbiased batch variance and ``moving_average_fraction``; it has no affine part (Scale has).
- InnerProduct flattens from ``axis``; legacy weights are (1, 1, N, K).
- LRN WITHIN_CHANNEL is AVE pooling + Power(shift 1), so ``k`` is ignored there.
- Dropout follows the layer's phase; the Fast R-CNN dialect's ``scale_train: false`` scales at test.
- Softmax/Concat/Slice default to axis 1; Eltwise coefficients only for SUM.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from decaf.core.errors import DecafError

Shape = tuple[int, ...]


class CaffeLayerError(DecafError):
    """A layer that cannot be built as its prototxt describes."""


def _canon(axis: int, ndim: int) -> int:
    return axis + ndim if axis < 0 else axis


def _pair(values: Sequence[int], h: int | None, w: int | None, default: int) -> tuple[int, int]:
    """Caffe's repeated ``pad``/``kernel_size``/``stride`` (1 or 2 values) or the _h/_w fields."""
    if h is not None and w is not None:
        return int(h), int(w)
    if len(values) == 0:
        return default, default
    if len(values) == 1:
        return int(values[0]), int(values[0])
    return int(values[0]), int(values[1])


class CaffeLayer(nn.Module):
    """Base: a layer with learnable blobs ``self.blobs`` (Parameters) in Caffe's order."""

    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__()
        self.name = lp.name
        self.type = lp.type
        self.phase = phase
        self.blobs = nn.ParameterList()

    def caffe_blobs(self) -> list[torch.Tensor]:
        return list(self.blobs)

    def forward(self, *bottoms: torch.Tensor) -> tuple[torch.Tensor, ...]:  # pragma: no cover
        raise NotImplementedError


def _param(shape: Sequence[int]) -> nn.Parameter:
    return nn.Parameter(torch.zeros(*shape))


# -- vision -------------------------------------------------------------------------------------


class Convolution(CaffeLayer):
    transposed = False

    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.convolution_param
        if p.axis != 1 or len(bottoms[0]) != 4:
            raise CaffeLayerError(f"{lp.name}: only 2-D convolution on axis 1 is supported")
        has = p.HasField
        self.kernel = _pair(
            p.kernel_size, p.kernel_h if has("kernel_h") else None,
            p.kernel_w if has("kernel_w") else None, 0,
        )  # fmt: skip
        if 0 in self.kernel:
            raise CaffeLayerError(f"{lp.name}: kernel_size is required")
        self.stride = _pair(
            p.stride, p.stride_h if has("stride_h") else None,
            p.stride_w if has("stride_w") else None, 1,
        )  # fmt: skip
        self.pad = _pair(
            p.pad, p.pad_h if has("pad_h") else None, p.pad_w if has("pad_w") else None, 0
        )
        self.dilation = _pair(p.dilation, None, None, 1)
        self.group = p.group
        channels = bottoms[0][1]
        out = p.num_output
        if channels % self.group or out % self.group:
            raise CaffeLayerError(f"{lp.name}: channels must divide by group {self.group}")
        if self.transposed:
            self.blobs.append(_param((channels, out // self.group, *self.kernel)))
        else:
            self.blobs.append(_param((out, channels // self.group, *self.kernel)))
        if p.bias_term:
            self.blobs.append(_param((out,)))
        self.bias_term = p.bias_term

    def forward(self, *bottoms: torch.Tensor) -> tuple[torch.Tensor, ...]:
        bias = self.blobs[1] if self.bias_term else None
        fn = F.conv_transpose2d if self.transposed else F.conv2d
        kwargs = dict(stride=self.stride, padding=self.pad, dilation=self.dilation,
                      groups=self.group)  # fmt: skip
        return tuple(fn(x, self.blobs[0], bias, **kwargs) for x in bottoms)


class Deconvolution(Convolution):
    transposed = True


class Pooling(CaffeLayer):
    """Sizes come from each forward's bottom, as Caffe's ``Reshape`` recomputes them: a net
    built at one input size runs at another (global pooling covers whatever arrives)."""

    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.pooling_param
        has = p.HasField
        self.method = p.pool
        if self.method == 2:
            raise CaffeLayerError(f"{lp.name}: STOCHASTIC pooling is GPU-only in Caffe too")
        self.global_pooling = p.global_pooling
        if p.global_pooling:
            self.kernel, self.stride, self.pad = (0, 0), (1, 1), (0, 0)
        else:
            self.kernel = (
                (p.kernel_h, p.kernel_w) if has("kernel_h") else (p.kernel_size, p.kernel_size)
            )
            self.stride = (p.stride_h, p.stride_w) if has("stride_h") else (p.stride, p.stride)
            self.pad = (p.pad_h, p.pad_w) if has("pad_h") else (p.pad, p.pad)
            if 0 in self.kernel:
                raise CaffeLayerError(f"{lp.name}: kernel_size is required")
            if any(2 * q > k for q, k in zip(self.pad, self.kernel, strict=True)):
                raise CaffeLayerError(
                    f"{lp.name}: pad {self.pad} is over half the kernel {self.kernel} (Caffe "
                    "needs pad < kernel; decaf, on torch's pooling, pad ≤ kernel / 2)"
                )
        self.ceil = p.round_mode == 0
        self.out = self.output_size(bottoms[0][2], bottoms[0][3])

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        """Caffe's pooled size for an h × w bottom; an error when no window fits."""
        kernel = (h, w) if self.global_pooling else self.kernel
        sides = list(zip((h, w), kernel, self.stride, self.pad, strict=True))
        out = tuple(self._size(n, k, s, q) for n, k, s, q in sides)
        if min(out) < 1 or any(k > n + 2 * q for n, k, _, q in sides):
            raise CaffeLayerError(f"{self.name}: a {kernel[0]}×{kernel[1]} window does not fit "
                                  f"a {h}×{w} bottom (pad {self.pad})")  # fmt: skip
        return out  # type: ignore[return-value]

    def _size(self, n: int, k: int, s: int, p: int) -> int:
        rounding = math.ceil if self.ceil else math.floor
        out = int(rounding((n + 2 * p - k) / s)) + 1
        if p > 0 and (out - 1) * s >= n + p:
            out -= 1  # the last window would start inside the padding
        return out

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h, w = x.shape[2], x.shape[3]
        out = self.output_size(h, w)
        kernel = (h, w) if self.global_pooling else self.kernel
        # torch drops a window starting in the padding even when pad == 0; Caffe does not, so
        # pad the bottom/right to reach Caffe's size in that (k < s) case
        need = [
            max(0, (o - 1) * s + k - (n + 2 * p))
            for o, n, k, s, p in zip(out, (h, w), kernel, self.stride, self.pad, strict=True)
        ]
        if self.method == 0:
            # torch's own rounding up drops a window only when it would start past the input;
            # pad only where that differs from Caffe (kernel < stride)
            if any(need) and self.ceil and self.pad == (0, 0) and \
                    any(k < s for k, s in zip(kernel, self.stride, strict=True)):  # fmt: skip
                # Caffe starts a max at -FLT_MAX: a window wholly past the input gives that
                x = F.pad(x, (0, need[1], 0, need[0]), value=torch.finfo(x.dtype).min)
                y = F.max_pool2d(x, kernel, self.stride, 0, ceil_mode=False)
            else:
                y = F.max_pool2d(x, kernel, self.stride, self.pad, ceil_mode=self.ceil)
        else:
            y = F.avg_pool2d(
                x, kernel, self.stride, self.pad, ceil_mode=self.ceil, count_include_pad=True
            )
        if tuple(y.shape[2:]) != out:
            if self.method == 1:  # AVE with kernel < stride: Caffe's last window is empty
                raise CaffeLayerError(
                    f"{self.name}: average pooling a {h}×{w} bottom with kernel {kernel} < "
                    f"stride {self.stride}: Caffe's last window covers nothing (it divides by "
                    "zero there); decaf refuses"
                )
            raise CaffeLayerError(
                f"{self.name}: pooling gives {tuple(y.shape[2:])}, Caffe gives {out}"
            )
        return (y,)


class InnerProduct(CaffeLayer):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.inner_product_param
        self.axis = _canon(p.axis, len(bottoms[0]))
        k = math.prod(bottoms[0][self.axis :])
        self.transpose = p.transpose
        self.blobs.append(_param((k, p.num_output) if p.transpose else (p.num_output, k)))
        if p.bias_term:
            self.blobs.append(_param((p.num_output,)))
        self.bias_term = p.bias_term

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = x.flatten(self.axis)
        w = self.blobs[0].t() if self.transpose else self.blobs[0]
        return (F.linear(x, w, self.blobs[1] if self.bias_term else None),)


# -- normalisation ------------------------------------------------------------------------------


class BatchNorm(CaffeLayer):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.batch_norm_param
        c = bottoms[0][1] if len(bottoms[0]) > 1 else 1
        self.blobs.append(_param((c,)))
        self.blobs.append(_param((c,)))
        self.blobs.append(_param((1,)))
        for b in self.blobs:
            b.requires_grad_(False)  # statistics, not learned (Caffe forces lr_mult 0)
        self.use_global = p.use_global_stats if p.HasField("use_global_stats") else phase == 1
        self.fraction = p.moving_average_fraction
        self.eps = p.eps

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        if self.use_global:
            s = self.blobs[2].detach()
            factor = torch.where(s == 0, torch.zeros_like(s), 1.0 / s)
            mean, var = self.blobs[0] * factor, self.blobs[1] * factor
        else:
            dims = [d for d in range(x.dim()) if d != 1]
            mean = x.mean(dims)
            var = x.var(dims, unbiased=False)
            m = x.numel() / x.shape[1]
            with torch.no_grad():
                self.blobs[2].mul_(self.fraction).add_(1)
                self.blobs[0].mul_(self.fraction).add_(mean.detach())
                self.blobs[1].mul_(self.fraction).add_(var.detach() * (m / max(m - 1, 1)))
        return ((x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps),)


def _broadcast_shape(bottom: Shape, axis: int, param: Shape) -> list[int]:
    return [1] * axis + list(param) + [1] * (len(bottom) - axis - len(param))


def _operand_shape(bottoms: list[Shape], axis: int, num_axes: int) -> Shape:
    """Scale/Bias operand: the 2nd bottom, or bottom[axis : axis + num_axes] (−1: to the end)."""
    if len(bottoms) == 2:
        return bottoms[1]
    b0 = bottoms[0]
    return tuple(b0[axis : len(b0) if num_axes == -1 else axis + num_axes])


class Scale(CaffeLayer):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.scale_param
        b0 = bottoms[0]
        self.axis = _canon(p.axis, len(b0))
        self.two = len(bottoms) == 2
        shape = _operand_shape(bottoms, self.axis, p.num_axes)
        if not self.two:
            w = _param(shape)
            w.data.fill_(1.0)
            if p.HasField("filler"):
                fill(w.data, p.filler)
            self.blobs.append(w)
        self.view = _broadcast_shape(b0, self.axis, shape)
        self.bias_term = p.bias_term
        if p.bias_term:
            self.blobs.append(_param(shape))

    def forward(self, x: torch.Tensor, *scale: torch.Tensor) -> tuple[torch.Tensor, ...]:
        s = scale[0] if self.two else self.blobs[0]
        y = x * s.reshape(self.view)
        if self.bias_term:
            y = y + self.blobs[-1].reshape(self.view)
        return (y,)


class Bias(CaffeLayer):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.bias_param
        b0 = bottoms[0]
        self.axis = _canon(p.axis, len(b0))
        self.two = len(bottoms) == 2
        shape = _operand_shape(bottoms, self.axis, p.num_axes)
        if not self.two:
            self.blobs.append(_param(shape))
        self.view = _broadcast_shape(b0, self.axis, shape)

    def forward(self, x: torch.Tensor, *bias: torch.Tensor) -> tuple[torch.Tensor, ...]:
        b = bias[0] if self.two else self.blobs[0]
        return (x + b.reshape(self.view),)


class LRN(CaffeLayer):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.lrn_param
        if p.local_size % 2 == 0:
            raise CaffeLayerError(f"{lp.name}: LRN local_size must be odd")
        self.size, self.alpha, self.beta, self.k = p.local_size, p.alpha, p.beta, p.k
        self.within = p.norm_region == 1

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if not self.within:
            return (F.local_response_norm(x, self.size, self.alpha, self.beta, self.k),)
        pad = (self.size - 1) // 2
        avg = F.avg_pool2d(x * x, self.size, 1, pad, count_include_pad=True)
        return (x * (1.0 + self.alpha * avg) ** (-self.beta),)


class MVN(CaffeLayer):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.mvn_param
        self.var, self.across, self.eps = p.normalize_variance, p.across_channels, p.eps

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        dims = list(range(1, x.dim())) if self.across else list(range(2, x.dim()))
        y = x - x.mean(dims, keepdim=True)
        if self.var:
            y = y / (y.pow(2).mean(dims, keepdim=True).sqrt() + self.eps)
        return (y,)


# -- neurons ------------------------------------------------------------------------------------


class _Elementwise(CaffeLayer):
    def fn(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (self.fn(x),)


class ReLU(_Elementwise):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        self.slope = lp.relu_param.negative_slope

    def fn(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, self.slope) if self.slope else F.relu(x)


class PReLU(_Elementwise):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.prelu_param
        n = 1 if p.channel_shared else bottoms[0][1]
        w = _param((n,))
        w.data.fill_(0.25)
        if p.HasField("filler"):
            fill(w.data, p.filler)
        self.blobs.append(w)

    def fn(self, x: torch.Tensor) -> torch.Tensor:
        return F.prelu(x, self.blobs[0])


class ELU(_Elementwise):
    def fn(self, x: torch.Tensor) -> torch.Tensor:
        return F.elu(x, self.alpha)

    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        self.alpha = lp.elu_param.alpha


class Sigmoid(_Elementwise):
    def fn(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x)


class TanH(_Elementwise):
    def fn(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x)


class AbsVal(_Elementwise):
    def fn(self, x: torch.Tensor) -> torch.Tensor:
        return x.abs()


class BNLL(_Elementwise):
    def fn(self, x: torch.Tensor) -> torch.Tensor:
        return F.softplus(x)


class Power(_Elementwise):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.power_param
        self.power, self.scale, self.shift = p.power, p.scale, p.shift

    def fn(self, x: torch.Tensor) -> torch.Tensor:
        return (self.shift + self.scale * x) ** self.power


class Exp(_Elementwise):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.exp_param
        self.log_base = 1.0 if p.base == -1 else math.log(p.base)
        self.scale, self.shift = p.scale, p.shift

    def fn(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.log_base * (self.shift + self.scale * x))


class Log(_Elementwise):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.log_param
        self.inv_log_base = 1.0 if p.base == -1 else 1.0 / math.log(p.base)
        self.scale, self.shift = p.scale, p.shift

    def fn(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(self.shift + self.scale * x) * self.inv_log_base


class Threshold(_Elementwise):
    def fn(self, x: torch.Tensor) -> torch.Tensor:
        return (x > self.t).to(x.dtype)

    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        self.t = lp.threshold_param.threshold


class Clip(_Elementwise):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        self.lo, self.hi = lp.clip_param.min, lp.clip_param.max

    def fn(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(self.lo, self.hi)


class Swish(_Elementwise):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        self.beta = lp.swish_param.beta

    def fn(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.beta * x)


class Dropout(_Elementwise):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        self.p = lp.dropout_param.dropout_ratio
        self.scale_train = lp.dropout_param.scale_train

    def fn(self, x: torch.Tensor) -> torch.Tensor:
        if self.phase == 0:  # TRAIN: follows the layer's phase, not module.training
            y = F.dropout(x, self.p, training=True)
            return y if self.scale_train else y * (1 - self.p)
        return x if self.scale_train else x * (1 - self.p)


# -- shapes and routing -------------------------------------------------------------------------


class Eltwise(CaffeLayer):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.eltwise_param
        self.op = p.operation
        if any(b != bottoms[0] for b in bottoms):
            raise CaffeLayerError(f"{lp.name}: Eltwise bottoms must have one shape, got {bottoms}")
        if p.coeff and (self.op != 1 or len(p.coeff) != len(bottoms)):
            raise CaffeLayerError(f"{lp.name}: Eltwise coeff needs SUM and one per bottom")
        self.coeff = list(p.coeff) or [1.0] * len(bottoms)

    def forward(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.op == 1:
            y = xs[0] * self.coeff[0] if self.coeff[0] != 1 else xs[0]
            for c, x in zip(self.coeff[1:], xs[1:], strict=True):
                y = y + (x * c if c != 1 else x)
        elif self.op == 0:
            y = xs[0]
            for x in xs[1:]:
                y = y * x
        else:
            y = xs[0]
            for x in xs[1:]:
                y = torch.maximum(y, x)
        return (y,)


class Softmax(CaffeLayer):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        self.axis = _canon(lp.softmax_param.axis, len(bottoms[0]))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (torch.softmax(x, self.axis),)


class Concat(CaffeLayer):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.concat_param
        axis = p.axis if p.HasField("axis") or not p.HasField("concat_dim") else p.concat_dim
        self.axis = _canon(axis, len(bottoms[0]))

    def forward(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (torch.cat(xs, self.axis),)


class Slice(CaffeLayer):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.slice_param
        axis = p.axis if p.HasField("axis") or not p.HasField("slice_dim") else p.slice_dim
        self.axis = _canon(axis, len(bottoms[0]))
        n = bottoms[0][self.axis]
        tops = len(lp.top)
        if p.slice_point:
            points = [0, *p.slice_point, n]
        else:
            if n % tops:
                raise CaffeLayerError(f"{lp.name}: {n} does not split evenly into {tops} tops")
            points = [i * n // tops for i in range(tops + 1)]
        self.sizes = [b - a for a, b in zip(points[:-1], points[1:], strict=True)]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(torch.split(x, self.sizes, self.axis))


class Split(CaffeLayer):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        self.n = len(lp.top)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (x,) * self.n


class Flatten(CaffeLayer):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        self.axis, self.end = lp.flatten_param.axis, lp.flatten_param.end_axis

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (x.flatten(self.axis, self.end),)


class Reshape(CaffeLayer):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.reshape_param
        self.dims = [int(d) for d in p.shape.dim]
        self.axis, self.num_axes = p.axis, p.num_axes

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        shape = list(x.shape)
        start = _canon(self.axis, len(shape) + 1) if self.axis < 0 else self.axis
        end = len(shape) if self.num_axes == -1 else start + self.num_axes
        middle = [shape[start + i] if d == 0 else d for i, d in enumerate(self.dims)]
        return (x.reshape(shape[:start] + middle + shape[end:]),)


class Crop(CaffeLayer):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.crop_param
        self.axis = _canon(p.axis, len(bottoms[0]))
        n = len(bottoms[0]) - self.axis
        offsets = list(p.offset)
        self.offsets = offsets * n if len(offsets) == 1 else (offsets or [0] * n)

    def forward(self, x: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, ...]:
        index = [slice(None)] * self.axis + [
            slice(o, o + ref.shape[self.axis + i]) for i, o in enumerate(self.offsets)
        ]
        return (x[tuple(index)],)


class Silence(CaffeLayer):
    def forward(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return ()


class ArgMax(CaffeLayer):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.argmax_param
        self.k, self.out_max, self.axis = p.top_k, p.out_max_val, (
            p.axis if p.HasField("axis") else None)  # fmt: skip

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.axis is None:
            flat = x.flatten(1)
            v, i = flat.topk(self.k, 1)
            y = torch.stack([i.to(x.dtype), v], 1) if self.out_max else i.to(x.dtype)[:, None]
            return (y.unsqueeze(-1),)
        v, i = x.topk(self.k, self.axis)
        return (v if self.out_max else i.to(x.dtype),)


class Tile(CaffeLayer):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        self.axis = _canon(lp.tile_param.axis, len(bottoms[0]))
        self.reps = [1] * len(bottoms[0])
        self.reps[self.axis] = lp.tile_param.tiles

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (x.repeat(*self.reps),)


class Reduction(CaffeLayer):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.reduction_param
        self.op, self.axis, self.coeff = p.operation, _canon(p.axis, len(bottoms[0])), p.coeff

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = x.flatten(self.axis) if self.axis < x.dim() else x
        if self.op == 2:
            x = x.abs()
        elif self.op == 3:
            x = x * x
        y = x.mean(-1) if self.op == 4 else x.sum(-1)
        return (y * self.coeff,)


# -- losses and metrics -------------------------------------------------------------------------


class _Loss(CaffeLayer):
    is_loss = True


def _normalizer(lp: Any, outer: int, inner: int, valid: int) -> float:
    p = lp.loss_param
    mode = p.normalization
    if not p.HasField("normalization") and p.HasField("normalize"):
        mode = 1 if p.normalize else 2
    value = {0: outer * inner, 1: valid, 2: outer, 3: 1}[mode]
    return float(max(1, value))


class SoftmaxWithLoss(_Loss):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        self.lp = lp
        self.axis = _canon(lp.softmax_param.axis, len(bottoms[0]))
        p = lp.loss_param
        self.ignore = p.ignore_label if p.HasField("ignore_label") else None

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logp = torch.log_softmax(x, self.axis).movedim(self.axis, -1)
        logp = logp.reshape(-1, logp.shape[-1])
        y = label.reshape(-1).long()
        keep = torch.ones_like(y, dtype=torch.bool) if self.ignore is None else y != self.ignore
        picked = logp[keep].gather(1, y[keep][:, None]).clamp_min(math.log(1.17549435e-38))
        outer = math.prod(x.shape[: self.axis])
        inner = math.prod(x.shape[self.axis + 1 :])
        loss = -picked.sum() / _normalizer(self.lp, outer, inner, int(keep.sum()))
        probs = torch.softmax(x, self.axis)
        return (loss, probs) if len(self.lp.top) > 1 else (loss,)


class EuclideanLoss(_Loss):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (((a - b) ** 2).sum() / (2 * a.shape[0]),)


class SigmoidCrossEntropyLoss(_Loss):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        self.lp = lp

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, ...]:
        total = F.binary_cross_entropy_with_logits(x, target, reduction="sum")
        p = self.lp.loss_param
        mode = p.normalization if p.HasField("normalization") else 2  # BATCH_SIZE by default
        norm = {0: x.numel(), 1: x.numel(), 2: x.shape[0], 3: 1}[mode]
        return (total / max(1, norm),)


class MultinomialLogisticLoss(_Loss):
    """−log(max(p_label, 1e-20)) averaged over the batch; bottoms are probabilities."""

    def forward(self, prob: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, ...]:
        p = prob.reshape(prob.shape[0], -1).gather(1, label.reshape(-1, 1).long())
        return (-torch.log(p.clamp_min(1e-20)).sum() / prob.shape[0],)


class InfogainLoss(_Loss):
    """Softmax, then −Σ_k H[label, k]·log p_k, normalised like SoftmaxWithLoss. H comes from
    ``infogain_loss_param.source`` (a binaryproto) or a third bottom."""

    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        self.lp = lp
        self.axis = _canon(lp.infogain_loss_param.axis, len(bottoms[0]))
        self.matrix = None
        if len(bottoms) < 3:
            from decaf.caffe import io as cio

            if not lp.infogain_loss_param.source:
                raise CaffeLayerError(f"{lp.name}: InfogainLoss needs a source or a third bottom")
            blob = cio.parse_binary(lp.infogain_loss_param.source, cio.PROTO.BlobProto())
            arr = cio.blobproto_to_array(blob)
            k = bottoms[0][self.axis]
            self.matrix = torch.from_numpy(arr.reshape(k, k).astype("float32"))

    def forward(self, x: torch.Tensor, label: torch.Tensor, *h: torch.Tensor) -> tuple[Any, ...]:
        matrix = h[0].reshape(x.shape[self.axis], -1) if h else self.matrix
        logp = torch.log(torch.softmax(x, self.axis).clamp_min(1.17549435e-38))
        logp = logp.movedim(self.axis, -1).reshape(-1, x.shape[self.axis])
        rows = matrix[label.reshape(-1).long()]
        outer = math.prod(x.shape[: self.axis])
        inner = math.prod(x.shape[self.axis + 1 :])
        total = -(rows * logp).sum()
        return (total / _normalizer(self.lp, outer, inner, outer * inner),)


class HingeLoss(_Loss):
    """One-vs-all hinge: Σ max(0, 1 − t·x) with t = +1 for the label, −1 otherwise; L1 or L2
    (squared), divided by the batch size."""

    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        self.squared = lp.hinge_loss_param.norm == 2

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, ...]:
        flat = x.reshape(x.shape[0], -1)
        sign = -torch.ones_like(flat)
        sign.scatter_(1, label.reshape(-1, 1).long(), 1.0)
        margin = torch.relu(1 - sign * flat)
        total = (margin**2).sum() if self.squared else margin.sum()
        return (total / x.shape[0],)


class ContrastiveLoss(_Loss):
    """Pairs (a, b) with similarity y: Σ [y·d² + (1−y)·max(margin − d, 0)²] / 2N, d = ‖a − b‖
    (``legacy_version``: max(margin − d², 0) without the square)."""

    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.contrastive_loss_param
        self.margin, self.legacy = p.margin, p.legacy_version

    def forward(self, a: torch.Tensor, b: torch.Tensor, y: torch.Tensor) -> tuple[Any, ...]:
        d2 = ((a - b) ** 2).reshape(a.shape[0], -1).sum(1)
        y = y.reshape(-1).to(a.dtype)
        if self.legacy:
            dissimilar = torch.relu(self.margin - d2)
        else:
            dissimilar = torch.relu(self.margin - torch.sqrt(d2 + 1e-30)) ** 2
        return ((y * d2 + (1 - y) * dissimilar).sum() / (2 * a.shape[0]),)


class Embed(CaffeLayer):
    """A lookup table: integer inputs → rows of a (input_dim, num_output) weight, plus bias."""

    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.embed_param
        self.blobs.append(_param((p.input_dim, p.num_output)))
        fill(self.blobs[0].data, p.weight_filler)
        self.bias_term = p.bias_term
        if p.bias_term:
            self.blobs.append(_param((p.num_output,)))
            fill(self.blobs[1].data, p.bias_filler)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y = F.embedding(x.long(), self.blobs[0])
        return (y + self.blobs[1] if self.bias_term else y,)


class SPP(CaffeLayer):
    """Spatial pyramid pooling: level l pools into 2^l × 2^l bins (kernel ⌈H/bins⌉, padding to
    cover the input), flattened and concatenated."""

    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.spp_param
        self.levels, self.max = p.pyramid_height, p.pool == 0
        self.hw = bottoms[0][2:]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h, w = x.shape[2:]
        outs = []
        for level in range(self.levels):
            bins = 2**level
            kh, kw = math.ceil(h / bins), math.ceil(w / bins)
            ph, pw = (kh * bins - h + 1) // 2, (kw * bins - w + 1) // 2
            padded = F.pad(x, (pw, pw, ph, ph), value=float("-inf") if self.max else 0.0)
            pool = F.max_pool2d if self.max else F.avg_pool2d
            y = pool(padded, (kh, kw), (kh, kw), ceil_mode=True)[:, :, :bins, :bins]
            outs.append(y.flatten(1))
        return (torch.cat(outs, 1),)


class Im2col(CaffeLayer):
    """Patches as channels (the convolution's im2col): (N, C·kh·kw, H', W')."""

    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.convolution_param
        has = p.HasField
        self.kernel = _pair(p.kernel_size, p.kernel_h if has("kernel_h") else None,
                            p.kernel_w if has("kernel_w") else None, 1)  # fmt: skip
        self.stride = _pair(p.stride, p.stride_h if has("stride_h") else None,
                            p.stride_w if has("stride_w") else None, 1)  # fmt: skip
        self.pad = _pair(p.pad, p.pad_h if has("pad_h") else None,
                         p.pad_w if has("pad_w") else None, 0)  # fmt: skip
        self.dilation = _pair(p.dilation, None, None, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        cols = F.unfold(x, self.kernel, self.dilation, self.pad, self.stride)
        h = (x.shape[2] + 2 * self.pad[0] - self.dilation[0] * (self.kernel[0] - 1) - 1) // \
            self.stride[0] + 1  # fmt: skip
        return (cols.reshape(x.shape[0], cols.shape[1], h, -1),)


class Filter(CaffeLayer):
    """Keeps the items whose selector (last bottom) is non-zero, in every other bottom."""

    def forward(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        keep = xs[-1].reshape(-1) != 0
        return tuple(x[keep] for x in xs[:-1])


class BatchReindex(CaffeLayer):
    """``top[i] = bottom[0][index[i]]``."""

    def forward(self, x: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (x.index_select(0, index.reshape(-1).long()),)


class Parameter(CaffeLayer):
    """A learnable blob as a top (``parameter_param.shape``)."""

    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        self.blobs.append(_param(tuple(int(d) for d in lp.parameter_param.shape.dim)))

    def forward(self, *bottoms: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (self.blobs[0] * 1,)


class Accuracy(CaffeLayer):
    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.accuracy_param
        self.k, self.axis = p.top_k, _canon(p.axis, len(bottoms[0]))
        self.ignore = p.ignore_label if p.HasField("ignore_label") else None

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, ...]:
        scores = x.movedim(self.axis, -1).reshape(-1, x.shape[self.axis])
        y = label.reshape(-1).long()
        keep = torch.ones_like(y, dtype=torch.bool) if self.ignore is None else y != self.ignore
        top = scores[keep].topk(min(self.k, scores.shape[1]), 1).indices
        hits = (top == y[keep][:, None]).any(1).float()
        return (hits.mean() if len(hits) else torch.zeros(()),)


class _Recurrent(CaffeLayer):
    """Caffe's RNN/LSTM (``RecurrentLayer``): bottoms X (T, N, ...), cont (T, N), optional
    x_static (N, ...), and with ``expose_hidden`` the initial state; top h (T, N, num_output)
    (plus the final state with ``expose_hidden``). ``cont_t = 0`` starts a new sequence: the
    previous hidden state (and the LSTM cell, through the unit) is multiplied by cont_t.

    From Python, :meth:`run` offers Keras-like ``return_sequences`` / ``return_state``.
    """

    gates = 1
    n_states = 1

    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.recurrent_param
        if p.num_output < 1:
            raise CaffeLayerError(f"{lp.name}: recurrent_param.num_output must be positive")
        self.hidden = p.num_output
        self.expose = p.expose_hidden
        self.static = len(bottoms) - (2 + (self.n_states if self.expose else 0)) == 1
        x_dim = math.prod(bottoms[0][2:])
        self._specs = self._blob_specs(x_dim, math.prod(bottoms[2][1:]) if self.static else 0)
        for shape, filler in self._specs:
            blob = _param(shape)
            fill(blob.data, getattr(p, filler))
            self.blobs.append(blob)

    def _blob_specs(self, x_dim: int, s_dim: int) -> list[tuple[tuple[int, ...], str]]:
        raise NotImplementedError

    def forward(self, *bottoms: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x, cont = bottoms[0], bottoms[1]
        rest = list(bottoms[2:])
        x_static = rest.pop(0) if self.static else None
        state = rest if self.expose else None
        h, final = self.run(x, cont, x_static, state, return_state=True)
        return (h, *final) if self.expose else (h,)

    def run(
        self,
        x: torch.Tensor,
        cont: torch.Tensor | None = None,
        x_static: torch.Tensor | None = None,
        state: list[torch.Tensor] | None = None,
        return_sequences: bool = True,
        return_state: bool = False,
    ) -> Any:
        """Keras-style call: (T, N, ...) in; the sequence (or its last step) and, with
        ``return_state``, the final state(s). ``cont`` defaults to one sequence per column."""
        t_steps, n = x.shape[0], x.shape[1]
        if cont is None:
            cont = torch.ones(t_steps, n)
            cont[0] = 0
        h_seq, final = self._steps(x.flatten(2), cont.reshape(t_steps, n, 1).to(x.dtype),
                                   x_static, state)  # fmt: skip
        out = h_seq if return_sequences else h_seq[-1]
        return (out, final) if return_state else out

    def _steps(self, x: torch.Tensor, cont: torch.Tensor, x_static: torch.Tensor | None,
               state: list[torch.Tensor] | None) -> Any:  # fmt: skip
        raise NotImplementedError


class LSTM(_Recurrent):
    gates = 4
    n_states = 2

    def _blob_specs(self, x_dim: int, s_dim: int) -> list[tuple[tuple[int, ...], str]]:
        g, h = 4 * self.hidden, self.hidden
        specs = [((g, x_dim), "weight_filler"), ((g,), "bias_filler")]
        if s_dim:
            specs.append(((g, s_dim), "weight_filler"))
        return [*specs, ((g, h), "weight_filler")]

    def _steps(self, x, cont, x_static, state):  # type: ignore[no-untyped-def]
        w_xc, b_c = self.blobs[0], self.blobs[1]
        w_hc = self.blobs[-1]
        pre = x @ w_xc.t() + b_c
        if x_static is not None:
            pre = pre + (x_static.flatten(1) @ self.blobs[2].t())[None]
        n, hdim = x.shape[1], self.hidden
        h = state[0].reshape(n, hdim) if state else x.new_zeros(n, hdim)
        c = state[1].reshape(n, hdim) if state else x.new_zeros(n, hdim)
        outs = []
        for t in range(x.shape[0]):
            gates = pre[t] + (cont[t] * h) @ w_hc.t()
            i, f, o, g = gates.split(hdim, dim=1)
            c = cont[t] * (torch.sigmoid(f) * c) + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outs.append(h)
        return torch.stack(outs), [h[None], c[None]]


class RNN(_Recurrent):
    def _blob_specs(self, x_dim: int, s_dim: int) -> list[tuple[tuple[int, ...], str]]:
        h = self.hidden
        specs = [((h, x_dim), "weight_filler"), ((h,), "bias_filler")]
        if s_dim:
            specs.append(((h, s_dim), "weight_filler"))
        return [*specs, ((h, h), "weight_filler"), ((h, h), "weight_filler"), ((h,), "bias_filler")]

    def _steps(self, x, cont, x_static, state):  # type: ignore[no-untyped-def]
        w_xh, b_h = self.blobs[0], self.blobs[1]
        w_hh, w_ho, b_o = self.blobs[-3], self.blobs[-2], self.blobs[-1]
        pre = x @ w_xh.t() + b_h
        if x_static is not None:
            pre = pre + (x_static.flatten(1) @ self.blobs[2].t())[None]
        n = x.shape[1]
        h = state[0].reshape(n, self.hidden) if state else x.new_zeros(n, self.hidden)
        outs = []
        for t in range(x.shape[0]):
            h = torch.tanh(pre[t] + (cont[t] * h) @ w_hh.t())
            outs.append(torch.tanh(h @ w_ho.t() + b_o))
        return torch.stack(outs), [h[None]]


class ROIPooling(CaffeLayer):
    """Fast R-CNN's RoI max pooling (caffe-fast-rcnn); bottoms: features, rois (n, 5)."""

    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.roi_pooling_param
        self.size = (p.pooled_h, p.pooled_w)
        self.scale = p.spatial_scale

    def forward(self, x: torch.Tensor, rois: torch.Tensor) -> tuple[torch.Tensor, ...]:
        from torchvision.ops import roi_pool

        return (roi_pool(x, rois.reshape(-1, 5).to(x.dtype), self.size, self.scale),)


class SmoothL1Loss(_Loss):
    """Fast R-CNN's smooth L1 with sigma and optional inside/outside weights (bottoms 3 and 4);
    normalised by the batch size (num), as caffe-fast-rcnn does."""

    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        self.sigma2 = lp.smooth_l1_loss_param.sigma**2

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                *weights: torch.Tensor) -> tuple[torch.Tensor, ...]:  # fmt: skip
        d = pred - target
        if len(weights) >= 1:
            d = d * weights[0]
        a = d.abs()
        loss = torch.where(a < 1 / self.sigma2, 0.5 * self.sigma2 * d * d, a - 0.5 / self.sigma2)
        if len(weights) >= 2:
            loss = loss * weights[1]
        return (loss.sum() / pred.shape[0],)


class DummyData(CaffeLayer):
    """Tops filled by fillers each forward (shapes from ``shape`` or num/channels/height/width)."""

    def __init__(self, lp: Any, bottoms: list[Shape], phase: int) -> None:
        super().__init__(lp, bottoms, phase)
        p = lp.dummy_data_param
        n = len(lp.top)
        if p.shape:
            shapes = [tuple(int(d) for d in s.dim) for s in p.shape]
        else:
            shapes = [
                (p.num[i if len(p.num) > 1 else 0], p.channels[i if len(p.channels) > 1 else 0],
                 p.height[i if len(p.height) > 1 else 0], p.width[i if len(p.width) > 1 else 0])
                for i in range(n)
            ]  # fmt: skip
        self.shapes = shapes * n if len(shapes) == 1 else shapes
        fillers = list(p.data_filler) or [caffe_filler_default()]
        self.fillers = fillers * n if len(fillers) == 1 else fillers

    def forward(self, *bottoms: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(fill(torch.empty(s), f) for s, f in zip(self.shapes, self.fillers,
                                                              strict=True))  # fmt: skip


def caffe_filler_default() -> Any:
    from decaf.caffe.proto import caffe_pb2

    return caffe_pb2.FillerParameter()


# -- fillers ------------------------------------------------------------------------------------


def fill(t: torch.Tensor, filler: Any) -> torch.Tensor:
    """Caffe's fillers (filler.hpp); xavier is *uniform* on fan-in by default."""
    kind = filler.type
    count = t.numel()
    fan_in = count // t.shape[0] if t.dim() > 0 and t.shape[0] else count
    fan_out = count // t.shape[1] if t.dim() > 1 and t.shape[1] else count
    n = {0: fan_in, 1: fan_out, 2: (fan_in + fan_out) / 2}[filler.variance_norm]
    with torch.no_grad():
        if kind == "constant":
            t.fill_(filler.value)
        elif kind == "uniform":
            t.uniform_(filler.min, filler.max)
        elif kind == "gaussian":
            t.normal_(filler.mean, filler.std)
            if filler.sparse >= 0 and t.dim() >= 2:
                keep = torch.rand_like(t) < filler.sparse / t.shape[0]
                t.mul_(keep)
        elif kind == "xavier":
            bound = math.sqrt(3.0 / n)
            t.uniform_(-bound, bound)
        elif kind == "msra":
            t.normal_(0.0, math.sqrt(2.0 / n))
        elif kind == "positive_unitball":
            t.uniform_(0, 1)
            t.div_(t.reshape(t.shape[0], -1).sum(1).reshape(-1, *[1] * (t.dim() - 1)))
        elif kind == "bilinear":
            k = t.shape[-1]
            f = math.ceil(k / 2)
            c = (2 * f - 1 - f % 2) / (2.0 * f)
            r = torch.arange(k, dtype=t.dtype)
            w = 1 - (r / f - c).abs()
            t.copy_((w[:, None] * w[None, :]).expand_as(t))
        else:
            raise CaffeLayerError(f"unknown filler type {kind!r}")
    return t


FILLER_FIELDS = {
    "Convolution": ("convolution_param", "weight_filler", "bias_filler"),
    "Deconvolution": ("convolution_param", "weight_filler", "bias_filler"),
    "InnerProduct": ("inner_product_param", "weight_filler", "bias_filler"),
    "Bias": ("bias_param", "filler", None),
}

LAYERS: dict[str, type[CaffeLayer]] = {
    cls.__name__: cls
    for cls in (
        Convolution, Deconvolution, Pooling, InnerProduct, BatchNorm, Scale, Bias, LRN, MVN,
        ReLU, PReLU, ELU, Sigmoid, TanH, AbsVal, BNLL, Power, Exp, Log, Threshold, Clip, Swish,
        Dropout, Eltwise, Softmax, Concat, Slice, Split, Flatten, Reshape, Crop, Silence, ArgMax,
        Tile, Reduction, SoftmaxWithLoss, EuclideanLoss, SigmoidCrossEntropyLoss, Accuracy,
        ROIPooling, SmoothL1Loss, LSTM, RNN, MultinomialLogisticLoss, InfogainLoss, HingeLoss,
        ContrastiveLoss, Embed, SPP, Im2col, Filter, BatchReindex, Parameter,
    )
}  # fmt: skip
