"""The one op registry: every differentiable op, its NumPy reference, arity and input domain.

``tests/test_ops.py`` drives its property tests from ``OPS``: for every entry, Hypothesis draws an
``example`` (the float64 input arrays and the op's constant arguments), then the op is checked
forward against the NumPy reference and backward against central differences (``mt.gradcheck``),
and its dtype is checked to survive float32. Adding an op = adding an entry here.

An entry's ``fn(*tensors, **consts)`` and ``reference(*arrays, **consts)`` take the same
arguments; ``consts`` (axis, keepdims, an index, a scalar operand...) are drawn with the inputs.
"""
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import microtensor as mt
import microtensor.nn.functional as F
from microtensor.ops import nn as nn_ops
from microtensor.testing import arrays, axes, broadcastable_shapes, inputs, shapes


@dataclass(frozen=True)
class OpSpec:
    """One op under test.

    ``example`` is a strategy of ``(arrays, consts)``; when None it is built from ``arity``,
    ``domain``, ``broadcast``, ``avoid`` and ``unique`` with :func:`microtensor.testing.inputs`.
    ``consts`` (optional) maps the input shapes to a strategy of constant keyword arguments.
    """
    name: str
    fn: Callable
    reference: Callable
    arity: int = 1
    domain: object = (-3.0, 3.0)
    broadcast: bool = False
    avoid: object = ()
    unique: bool = False
    consts: Optional[Callable] = None
    example: Optional[object] = None
    tags: tuple = field(default=())

    def strategy(self):
        """Strategy of ``(tuple_of_float64_arrays, dict_of_consts)``."""
        if self.example is not None:
            return self.example
        base = inputs(self.arity, self.domain, self.broadcast, unique=self.unique,
                      avoid=self.avoid)
        if self.consts is None:
            return base.map(lambda arrs: (arrs, {}))

        @st.composite
        def with_consts(draw):
            arrs = draw(base)
            return arrs, draw(self.consts(*[a.shape for a in arrs]))
        return with_consts()


# ----- helpers for constant arguments -----------------------------------------------------------
def axis_args(shape, allow_none=True, allow_tuple=True):
    """axis: None, an int (possibly negative) or a tuple of distinct axes; keepdims: bool."""
    return st.fixed_dictionaries({"axis": axes(shape, allow_none, allow_tuple),
                                  "keepdims": st.booleans()})


def one_axis(shape):
    """One axis, possibly negative (a 0-d tensor accepts 0 and -1, as in PyTorch)."""
    ndim = len(shape)
    return st.fixed_dictionaries({"axis": st.integers(-max(ndim, 1), max(ndim, 1) - 1)})


def _separated_pair():
    """Two broadcastable arrays that are never equal (a on even, b on odd multiples of 0.1)."""
    @st.composite
    def build(draw):
        sa, sb = draw(broadcastable_shapes(2))
        a = draw(hnp.arrays(np.float64, sa, elements=st.integers(-15, 15).map(lambda k: 0.2 * k)))
        b = draw(hnp.arrays(np.float64, sb,
                            elements=st.integers(-15, 14).map(lambda k: 0.2 * k + 0.1)))
        return (a, b) if draw(st.booleans()) else (b, a)
    return build().map(lambda ab: (ab, {}))


def _scalar_operand(low=-3.0, high=3.0, avoid_zero=False):
    values = st.floats(low, high, allow_nan=False, width=64)
    if avoid_zero:
        values = values.filter(lambda v: abs(v) >= 0.5)
    return st.one_of(values, st.integers(-3, 3).filter(lambda v: not avoid_zero or v != 0))


def _with_scalar(domain=(-3.0, 3.0), avoid=(), scalar=None):
    @st.composite
    def build(draw):
        a = draw(arrays(shapes(), domain, avoid=avoid))
        return (a,), {"c": draw(scalar if scalar is not None else _scalar_operand())}
    return build()


def _with_ndarray(domain_left=(-3.0, 3.0), domain_right=(-3.0, 3.0), avoid_right=()):
    """A tensor operand on the right of a plain ndarray (tests the reflected operators)."""
    @st.composite
    def build(draw):
        sa, sb = draw(broadcastable_shapes(2))
        left = draw(arrays(sa, domain_left))
        right = draw(arrays(sb, domain_right, avoid=avoid_right))
        return (right,), {"left": left}
    return build()


def _clip_example():
    @st.composite
    def build(draw):
        low = draw(st.one_of(st.none(), st.sampled_from([-1.5, -0.5, 0.0])))
        high = draw(st.sampled_from([0.5, 1.0, 2.0]) if low is None else
                    st.one_of(st.none(), st.sampled_from([0.5, 1.0, 2.0])))
        kinks = tuple(v for v in (low, high) if v is not None)
        a = draw(arrays(shapes(), (-3.0, 3.0), avoid=kinks))
        return (a,), {"low": low, "high": high}
    return build()


def _where_example():
    @st.composite
    def build(draw):
        sc, sa, sb = draw(broadcastable_shapes(3))
        cond = draw(hnp.arrays(np.bool_, sc))
        return (draw(arrays(sa)), draw(arrays(sb))), {"cond": cond}
    return build()


def _reshape_example():
    @st.composite
    def build(draw):
        shape = draw(shapes())
        new = list(draw(st.permutations(list(shape))))
        for _ in range(draw(st.integers(0, 2))):
            new.insert(draw(st.integers(0, len(new))), 1)
        if new and draw(st.booleans()):
            new[draw(st.integers(0, len(new) - 1))] = -1
        return (draw(arrays(shape)),), {"shape": tuple(new)}
    return build()


def _permutation_example():
    @st.composite
    def build(draw):
        shape = draw(shapes())
        axes = tuple(draw(st.permutations(list(range(len(shape))))))
        return (draw(arrays(shape)),), {"axes": axes}
    return build()


def _swap_example():
    @st.composite
    def build(draw):
        shape = draw(shapes(min_dims=1))
        ndim = len(shape)
        d0 = draw(st.integers(-ndim, ndim - 1))
        d1 = draw(st.integers(-ndim, ndim - 1))
        return (draw(arrays(shape)),), {"d0": d0, "d1": d1}
    return build()


def _torch_swap(a, d0, d1):
    return np.swapaxes(a, d0, d1)


def _squeeze_example():
    @st.composite
    def build(draw):
        shape = draw(shapes(max_side=2))
        ones = [i for i, s in enumerate(shape) if s == 1]
        axis = draw(st.one_of(st.none(), st.sampled_from(ones) if ones else st.none()))
        return (draw(arrays(shape)),), {"axis": axis}
    return build()


def _unsqueeze_example():
    @st.composite
    def build(draw):
        shape = draw(shapes())
        ndim = len(shape) + 1
        return (draw(arrays(shape)),), {"axis": draw(st.integers(-ndim, ndim - 1))}
    return build()


def _expand_example():
    @st.composite
    def build(draw):
        shape = draw(shapes(max_side=3))
        target = [draw(st.integers(1, 3)) if s == 1 else s for s in shape]
        target = [draw(st.integers(1, 3)) for _ in range(draw(st.integers(0, 2)))] + target
        lead = len(target) - len(shape)
        target = [-1 if i >= lead and draw(st.booleans()) else s for i, s in enumerate(target)]
        return (draw(arrays(shape)),), {"shape": tuple(target)}
    return build()


def _numpy_expand(a, shape):
    lead = len(shape) - a.ndim
    full = tuple(a.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
    return np.broadcast_to(a, full)


def _flatten_example():
    @st.composite
    def build(draw):
        shape = draw(shapes(min_dims=1))
        ndim = len(shape)
        start = draw(st.integers(0, ndim - 1))
        end = draw(st.integers(start, ndim - 1))
        # Also negative spellings, as PyTorch allows.
        if draw(st.booleans()):
            end -= ndim
        return (draw(arrays(shape)),), {"start_dim": start, "end_dim": end}
    return build()


def _numpy_flatten(a, start_dim, end_dim):
    end = end_dim % a.ndim
    return a.reshape(a.shape[:start_dim] + (-1,) + a.shape[end + 1:])


def _basic_index_example():
    @st.composite
    def build(draw):
        shape = draw(shapes(min_dims=1))
        index = draw(hnp.basic_indices(shape, min_dims=0, allow_newaxis=True, allow_ellipsis=True))
        return (draw(arrays(shape)),), {"index": index}
    return build()


def _int_array_index_example():
    @st.composite
    def build(draw):
        shape = draw(shapes(min_dims=1))
        # Indices drawn with replacement, so repeated indices (whose gradients add up) are common.
        index = draw(hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(
            min_dims=1, max_dims=2, max_side=5)))
        return (draw(arrays(shape)),), {"index": index}
    return build()


def _first_axis_index_example():
    """x[[2, 0, 2]] / x[1:, idx] forms: an integer list on one axis, combined with a slice."""
    @st.composite
    def build(draw):
        shape = draw(shapes(min_dims=1))
        axis = draw(st.integers(0, len(shape) - 1))
        picks = draw(st.lists(st.integers(-shape[axis], shape[axis] - 1), min_size=1, max_size=5))
        index = (slice(None),) * axis + (np.array(picks),)
        return (draw(arrays(shape)),), {"index": index}
    return build()


def _mask_index_example():
    @st.composite
    def build(draw):
        shape = draw(shapes(min_dims=1))
        lead = draw(st.integers(1, len(shape)))
        mask = draw(hnp.arrays(np.bool_, shape[:lead]))
        return (draw(arrays(shape)),), {"index": mask}
    return build()


def _cat_example():
    @st.composite
    def build(draw):
        shape = list(draw(shapes(min_dims=1)))
        ndim = len(shape)
        axis = draw(st.integers(-ndim, ndim - 1))
        parts = []
        for _ in range(draw(st.integers(1, 3))):
            shape[axis] = draw(st.integers(1, 3))
            parts.append(draw(arrays(tuple(shape))))
        return tuple(parts), {"axis": axis}
    return build()


def _stack_example():
    @st.composite
    def build(draw):
        shape = draw(shapes())
        ndim = len(shape) + 1
        axis = draw(st.integers(-ndim, ndim - 1))
        parts = tuple(draw(arrays(shape)) for _ in range(draw(st.integers(1, 3))))
        return parts, {"axis": axis}
    return build()


def _split_example(chunked=False):
    @st.composite
    def build(draw):
        shape = draw(shapes(min_dims=1, max_side=5))
        ndim = len(shape)
        axis = draw(st.integers(-ndim, ndim - 1))
        length = shape[axis]
        if chunked:
            how = draw(st.integers(1, length + 1))
        elif draw(st.booleans()):
            how = draw(st.integers(1, length + 1))
        else:
            cuts = sorted(draw(st.lists(st.integers(0, length), max_size=3)))
            how = [b - a for a, b in zip([0] + cuts, cuts + [length])]
        return (draw(arrays(shape)),), {"how": how, "axis": axis}
    return build()


def _numpy_split(a, how, axis):
    length = a.shape[axis]
    if isinstance(how, int):
        bounds = list(range(how, length, how))
    else:
        bounds = list(np.cumsum(how)[:-1])
    return tuple(np.split(a, bounds, axis=axis))


def _numpy_chunk(a, how, axis):
    length = a.shape[axis]
    size = max(-(-length // how), 1)
    return _numpy_split(a, size, axis)


def _matmul_example():
    @st.composite
    def build(draw):
        m, n, k = (draw(st.integers(1, 3)) for _ in range(3))
        rank_a, rank_b = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        batch_a, batch_b = draw(broadcastable_shapes(2, max_dims=2, max_side=3))
        batch_a = batch_a[len(batch_a) - max(rank_a - 2, 0):] if rank_a > 2 else ()
        batch_b = batch_b[len(batch_b) - max(rank_b - 2, 0):] if rank_b > 2 else ()
        shape_a = (n,) if rank_a == 1 else tuple(batch_a) + (m, n)
        shape_b = (n,) if rank_b == 1 else tuple(batch_b) + (n, k)
        return (draw(arrays(shape_a)), draw(arrays(shape_b))), {}
    return build()


def _linear_example(bias=True):
    @st.composite
    def build(draw):
        n_in, n_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        lead = draw(st.lists(st.integers(1, 3), min_size=0, max_size=2))
        xs = (draw(arrays(tuple(lead) + (n_in,))), draw(arrays((n_out, n_in))))
        return (xs + (draw(arrays((n_out,))),) if bias else xs), {}
    return build()


def _extremum_example(with_axis=True):
    @st.composite
    def build(draw):
        # At most 27 elements: the grid of distinct values 0.1 apart in [-3, 3] has 61.
        a = draw(arrays(shapes(max_side=3), (-3.0, 3.0), unique=True))
        return (a,), draw(axis_args(a.shape)) if with_axis else {}
    return build()


def _var_example(ddof):
    @st.composite
    def build(draw):
        shape = draw(shapes(min_dims=1, min_side=2) if ddof else shapes())
        kwargs = draw(axis_args(shape))
        return (draw(arrays(shape)),), dict(kwargs, ddof=ddof)
    return build()


def _spread_out(example):
    """A std example whose reduced values are not all equal (sqrt has no derivative at 0)."""
    (a,), consts = example
    if a.ndim == 0:
        return False
    return bool(np.all(np.var(a, axis=consts["axis"]) > 1e-3))


def _dim_alias(shape):
    """Reductions also accept PyTorch's ``dim`` for ``axis``."""
    ndim = len(shape)
    if not ndim:
        return st.fixed_dictionaries({"dim": st.none(), "keepdims": st.booleans()})
    return st.fixed_dictionaries({"dim": st.integers(-ndim, ndim - 1), "keepdims": st.booleans()})


def _np_logsumexp(a, axis=None, keepdims=False):
    shift = np.max(a, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(a - shift), axis=axis, keepdims=True)) + shift
    return out if keepdims else np.squeeze(out, axis=axis if axis is not None else None)


def _np_softmax(a, axis=-1):
    axis = axis if a.ndim else None
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_log_softmax(a, axis=-1):
    axis = axis if a.ndim else None
    shifted = a - a.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _np_sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _np_leaky(a, negative_slope=0.01):
    return np.where(a > 0, a, negative_slope * a)


def _pieces(fn):
    """Wrap a function returning several tensors so the tests see them one by one."""
    fn.returns_tuple = True
    return fn


def _split_fn(a, how, axis):
    return a.split(how, axis=axis)


def _chunk_fn(a, how, axis):
    return mt.chunk(a, how, axis)


_pieces(_split_fn)
_pieces(_chunk_fn)
_pieces(_numpy_split)
_pieces(_numpy_chunk)

KINK = 0.1   # distance kept from a non-differentiable point (eps of the gradient check is 1e-6)


# ----- the newer reductions and the fused nn ops ------------------------------------------------
def _with_zeros():
    """Arrays and reduction axes where some elements are exactly 0 (prod's hard case)."""
    @st.composite
    def build(draw):
        shape = draw(shapes())
        a = draw(arrays(shape, (-2.0, 2.0)))
        zeros = draw(hnp.arrays(np.bool_, shape))
        return (np.where(zeros, 0.0, a),), draw(axis_args(shape))
    return build()


def _cumsum_example():
    @st.composite
    def build(draw):
        shape = draw(shapes())
        axis = draw(st.none() | axes(shape, allow_none=False, allow_tuple=False))
        return (draw(arrays(shape)),), {"axis": axis}
    return build()


def _np_cumsum(a, axis):
    return np.cumsum(a, axis=axis) if a.ndim else a.copy() if axis is not None else a.reshape(1)


def _classes_example(spatial=False, smoothing=False, weighted=False):
    """Logits (N, C[, d]) with integer targets (some ignored) and optional class weights."""
    @st.composite
    def build(draw):
        n, c = draw(st.integers(1, 4)), draw(st.integers(2, 4))
        shape = (n, c, draw(st.integers(1, 3))) if spatial else (n, c)
        target_shape = (shape[0],) + shape[2:]
        target = draw(hnp.arrays(np.int64, target_shape, elements=st.integers(0, c - 1)))
        ignored = draw(hnp.arrays(np.bool_, target_shape))
        if ignored.all():
            ignored.flat[0] = False          # mean over no row is NaN, in PyTorch too
        target = np.where(ignored, -100, target)
        consts = {"target": target, "reduction": draw(st.sampled_from(["mean", "sum", "none"]))}
        if smoothing:
            consts["label_smoothing"] = draw(st.sampled_from([0.0, 0.1, 0.5]))
        if weighted:        # class weights are constants (PyTorch does not differentiate them)
            consts["weight"] = draw(arrays((c,), (0.2, 2.0)))
        return (draw(arrays(shape)),), consts
    return build()


def _np_nll(logp, target, reduction, weight=None):
    """PyTorch's nll_loss on (N, C[, d]) with ignore_index=-100, in plain NumPy."""
    moved = np.moveaxis(logp, 1, -1).reshape(-1, logp.shape[1])
    flat = target.reshape(-1)
    keep = flat != -100
    w = np.ones(logp.shape[1]) if weight is None else weight
    picked = -moved[np.arange(len(flat)), np.where(keep, flat, 0)] * w[np.where(keep, flat, 0)]
    picked = np.where(keep, picked, 0.0)
    if reduction == "none":
        return picked.reshape(target.shape)
    if reduction == "sum":
        return picked.sum()
    return picked.sum() / np.where(keep, w[np.where(keep, flat, 0)], 0.0).sum()


def _np_cross_entropy(z, target, reduction, label_smoothing=0.0, weight=None):
    logp = _np_log_softmax(z, axis=1)
    nll = _np_nll(logp, target, reduction, weight)
    if not label_smoothing:
        return nll
    c = z.shape[1]
    w = np.ones(c) if weight is None else weight
    keep = target != -100
    smooth = -(np.moveaxis(logp, 1, -1) * w).sum(axis=-1) / c        # (N[, d])
    smooth = np.where(keep, smooth, 0.0)
    if reduction == "none":
        smooth_r = smooth
    elif reduction == "sum":
        smooth_r = smooth.sum()
    else:
        smooth_r = smooth.sum() / np.where(keep, w[np.where(keep, target, 0)], 0.0).sum()
    return (1 - label_smoothing) * nll + label_smoothing * smooth_r


def _embedding_example():
    @st.composite
    def build(draw):
        rows, dim = draw(st.integers(1, 5)), draw(st.integers(1, 3))
        index_shape = draw(shapes(max_dims=2))
        indices = draw(hnp.arrays(np.int64, index_shape, elements=st.integers(0, rows - 1)))
        # (padding_idx is left out: its row gets no gradient by design, which a central
        # difference cannot agree with; test_functional.py checks it against torch.)
        return (draw(arrays((rows, dim))),), {"indices": indices, "padding_idx": None}
    return build()


def _layer_norm_example(affine=False):
    @st.composite
    def build(draw):
        shape = draw(shapes(min_dims=1, min_side=2))
        k = draw(st.integers(1, len(shape)))
        normalized = shape[len(shape) - k:]
        # Values pairwise apart: the variance is never near 0, where 1/sqrt(var) is steep.
        x = draw(arrays(shape, (-3.0, 3.0), unique=True, margin=0.05))
        parts = (x, draw(arrays(normalized)), draw(arrays(normalized))) if affine else (x,)
        return parts, {"normalized_shape": normalized}
    return build()


def _np_layer_norm(x, *affine, normalized_shape):
    axes_ = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    mean = x.mean(axis=axes_, keepdims=True)
    var = x.var(axis=axes_, keepdims=True)
    y = (x - mean) / np.sqrt(var + 1e-5)
    if affine:
        y = y * affine[0] + affine[1]
    return y


def _dropout_example():
    @st.composite
    def build(draw):
        shape = draw(shapes())
        mask = draw(hnp.arrays(np.bool_, shape))
        return (draw(arrays(shape)),), {"mask": mask, "scale": draw(st.sampled_from([1.0, 2.0]))}
    return build()


def _bce_example(weighted=False):
    @st.composite
    def build(draw):
        shape = draw(shapes())
        parts = (draw(arrays(shape)), draw(arrays(shape, (0.0, 1.0))))
        if weighted:
            parts += (draw(arrays(shape, (0.2, 2.0))),)
        consts = {"reduction": draw(st.sampled_from(["mean", "sum", "none"])),
                  "pos_weight": draw(st.none() | st.sampled_from([0.5, 3.0]))}
        return parts, consts
    return build()


def _np_bce(x, y, weight=None, reduction="mean", pos_weight=None):
    log_sig = -np.logaddexp(0, -x)
    log_one_minus = -np.logaddexp(0, x)
    pw = 1.0 if pos_weight is None else pos_weight
    losses = -(pw * y * log_sig + (1 - y) * log_one_minus)
    if weight is not None:
        losses = losses * weight
    return losses if reduction == "none" else losses.sum() if reduction == "sum" else losses.mean()


OPS = [
    # --- arithmetic, with broadcasting; reflected forms with Python numbers and ndarrays ---------
    OpSpec("add", lambda a, b: a + b, np.add, 2, broadcast=True),
    OpSpec("add_fn", mt.add, np.add, 2, broadcast=True),
    OpSpec("sub", lambda a, b: a - b, np.subtract, 2, broadcast=True),
    OpSpec("sub_fn", mt.sub, np.subtract, 2, broadcast=True),
    OpSpec("mul", lambda a, b: a * b, np.multiply, 2, broadcast=True),
    OpSpec("mul_fn", mt.mul, np.multiply, 2, broadcast=True),
    OpSpec("div", lambda a, b: a / b, np.divide, 2, broadcast=True, avoid=[(), (0.0,)]),
    OpSpec("div_fn", mt.div, np.divide, 2, broadcast=True, avoid=[(), (0.0,)]),
    OpSpec("pow", lambda a, b: a ** b, np.power, 2, domain=[(0.3, 2.5), (-2.0, 2.0)],
           broadcast=True),
    OpSpec("pow_fn", mt.pow, np.power, 2, domain=[(0.3, 2.5), (-2.0, 2.0)], broadcast=True),
    OpSpec("pow_int_exponent", lambda a, c: a ** c, lambda a, c: a ** c,
           example=_with_scalar(scalar=st.integers(0, 4))),
    OpSpec("pow_method", lambda a, c: a.pow(c), lambda a, c: a ** c,
           example=_with_scalar((0.3, 3.0), scalar=st.floats(-2, 2, width=64))),
    OpSpec("radd_scalar", lambda a, c: c + a, lambda a, c: c + a, example=_with_scalar()),
    OpSpec("add_scalar", lambda a, c: a + c, lambda a, c: a + c, example=_with_scalar()),
    OpSpec("rsub_scalar", lambda a, c: c - a, lambda a, c: c - a, example=_with_scalar()),
    OpSpec("sub_scalar", lambda a, c: a - c, lambda a, c: a - c, example=_with_scalar()),
    OpSpec("rmul_scalar", lambda a, c: c * a, lambda a, c: c * a, example=_with_scalar()),
    OpSpec("rdiv_scalar", lambda a, c: c / a, lambda a, c: c / a,
           example=_with_scalar(avoid=(0.0,))),
    OpSpec("div_scalar", lambda a, c: a / c, lambda a, c: a / c,
           example=_with_scalar(scalar=_scalar_operand(avoid_zero=True))),
    OpSpec("rpow_scalar", lambda a, c: c ** a, lambda a, c: c ** a,
           example=_with_scalar(scalar=st.floats(0.2, 3.0, width=64))),
    OpSpec("radd_ndarray", lambda b, left: left + b, lambda b, left: left + b,
           example=_with_ndarray()),
    OpSpec("rsub_ndarray", lambda b, left: left - b, lambda b, left: left - b,
           example=_with_ndarray()),
    OpSpec("rmul_ndarray", lambda b, left: left * b, lambda b, left: left * b,
           example=_with_ndarray()),
    OpSpec("rdiv_ndarray", lambda b, left: left / b, lambda b, left: left / b,
           example=_with_ndarray(avoid_right=(0.0,))),
    OpSpec("rpow_ndarray", lambda b, left: left ** b, lambda b, left: left ** b,
           example=_with_ndarray(domain_left=(0.3, 2.5))),
    OpSpec("neg", lambda a: -a, np.negative),
    OpSpec("neg_fn", mt.neg, np.negative),
    # --- unary --------------------------------------------------------------------------------
    OpSpec("exp", mt.exp, np.exp),
    OpSpec("log", mt.log, np.log, domain=(0.1, 5.0)),
    OpSpec("sqrt", mt.sqrt, np.sqrt, domain=(0.1, 5.0)),
    OpSpec("abs", mt.abs, np.abs, avoid=(0.0,)),
    OpSpec("abs_builtin", lambda a: abs(a), np.abs, avoid=(0.0,)),
    OpSpec("tanh", mt.tanh, np.tanh),
    OpSpec("sigmoid", mt.sigmoid, _np_sigmoid, domain=(-8.0, 8.0)),
    OpSpec("relu", mt.relu, lambda a: np.maximum(a, 0), avoid=(0.0,)),
    OpSpec("leaky_relu", mt.leaky_relu, _np_leaky, avoid=(0.0,),
           consts=lambda s: st.fixed_dictionaries(
               {"negative_slope": st.sampled_from([0.01, 0.2, 1.5])})),
    OpSpec("softplus", mt.softplus, lambda a: np.logaddexp(0, a), domain=(-8.0, 8.0)),
    OpSpec("clip", lambda a, low, high: mt.clip(a, low, high),
           lambda a, low, high: np.clip(a, low, high), example=_clip_example()),
    OpSpec("clamp_method", lambda a, low, high: a.clamp(low, high),
           lambda a, low, high: np.clip(a, low, high), example=_clip_example()),
    OpSpec("maximum", mt.maximum, np.maximum, 2, example=_separated_pair()),
    OpSpec("minimum", mt.minimum, np.minimum, 2, example=_separated_pair()),
    OpSpec("maximum_method", lambda a, b: a.maximum(b), np.maximum, 2, example=_separated_pair()),
    OpSpec("where", lambda a, b, cond: mt.where(cond, a, b),
           lambda a, b, cond: np.where(cond, a, b), 2, example=_where_example()),
    OpSpec("where_tensor_cond", lambda a, b, cond: mt.where(mt.tensor(cond), a, b),
           lambda a, b, cond: np.where(cond, a, b), 2, example=_where_example()),
    # --- reductions (axis None / int / tuple, negative axes, keepdims, the dim alias) ---------
    OpSpec("sum", lambda a, axis, keepdims: a.sum(axis=axis, keepdims=keepdims), np.sum,
           consts=axis_args),
    OpSpec("sum_fn", lambda a, axis, keepdims: mt.sum(a, axis, keepdims), np.sum,
           consts=axis_args),
    OpSpec("sum_dim", lambda a, dim, keepdims: a.sum(dim=dim, keepdims=keepdims),
           lambda a, dim, keepdims: np.sum(a, axis=dim, keepdims=keepdims), consts=_dim_alias),
    OpSpec("mean", lambda a, axis, keepdims: a.mean(axis=axis, keepdims=keepdims), np.mean,
           consts=axis_args),
    OpSpec("mean_dim", lambda a, dim, keepdims: mt.mean(a, dim=dim, keepdims=keepdims),
           lambda a, dim, keepdims: np.mean(a, axis=dim, keepdims=keepdims), consts=_dim_alias),
    OpSpec("max", lambda a, axis, keepdims: a.max(axis=axis, keepdims=keepdims), np.max,
           example=_extremum_example()),
    OpSpec("min", lambda a, axis, keepdims: mt.min(a, axis=axis, keepdims=keepdims), np.min,
           example=_extremum_example()),
    OpSpec("var", lambda a, axis, keepdims, ddof: a.var(axis=axis, keepdims=keepdims, ddof=ddof),
           np.var, example=_var_example(0)),
    OpSpec("var_ddof1", lambda a, axis, keepdims, ddof: mt.var(a, axis, keepdims, ddof=ddof),
           np.var, example=_var_example(1)),
    OpSpec("logsumexp", lambda a, axis, keepdims: a.logsumexp(axis=axis, keepdims=keepdims),
           _np_logsumexp, domain=(-20.0, 20.0), consts=axis_args),
    OpSpec("logsumexp_dim", lambda a, dim, keepdims: mt.logsumexp(a, dim=dim, keepdims=keepdims),
           lambda a, dim, keepdims: _np_logsumexp(a, dim, keepdims), consts=_dim_alias),
    OpSpec("softmax", lambda a, axis: mt.softmax(a, axis=axis), _np_softmax,
           domain=(-10.0, 10.0), consts=one_axis),
    OpSpec("softmax_dim", lambda a, axis: a.softmax(dim=axis), _np_softmax,
           consts=one_axis),
    OpSpec("log_softmax", lambda a, axis: mt.log_softmax(a, axis=axis), _np_log_softmax,
           domain=(-10.0, 10.0), consts=one_axis),
    OpSpec("log_softmax_dim", lambda a, axis: a.log_softmax(dim=axis), _np_log_softmax,
           consts=one_axis),
    # --- shape ops ------------------------------------------------------------------------------
    OpSpec("reshape", lambda a, shape: a.reshape(shape), lambda a, shape: a.reshape(shape),
           example=_reshape_example()),
    OpSpec("reshape_varargs", lambda a, shape: mt.reshape(a, *shape),
           lambda a, shape: a.reshape(shape), example=_reshape_example()),
    OpSpec("view", lambda a, shape: a.view(*shape), lambda a, shape: a.reshape(shape),
           example=_reshape_example()),
    OpSpec("transpose_all", lambda a, axes: a.transpose(), lambda a, axes: a.transpose(),
           example=_permutation_example()),
    OpSpec("T", lambda a, axes: a.T, lambda a, axes: a.T, example=_permutation_example()),
    OpSpec("transpose_swap", lambda a, d0, d1: a.transpose(d0, d1), _torch_swap,
           example=_swap_example()),
    OpSpec("transpose_swap_fn", lambda a, d0, d1: mt.transpose(a, d0, d1), _torch_swap,
           example=_swap_example()),
    OpSpec("permute", lambda a, axes: a.permute(*axes), lambda a, axes: a.transpose(axes),
           example=_permutation_example()),
    OpSpec("permute_fn", lambda a, axes: mt.permute(a, axes), lambda a, axes: a.transpose(axes),
           example=_permutation_example()),
    OpSpec("squeeze", lambda a, axis: a.squeeze(axis),
           lambda a, axis: np.squeeze(a, axis=axis), example=_squeeze_example()),
    OpSpec("unsqueeze", lambda a, axis: a.unsqueeze(axis),
           lambda a, axis: np.expand_dims(a, axis), example=_unsqueeze_example()),
    OpSpec("unsqueeze_dim", lambda a, axis: mt.unsqueeze(a, axis),
           lambda a, axis: np.expand_dims(a, axis), example=_unsqueeze_example()),
    OpSpec("expand", lambda a, shape: a.expand(*shape), _numpy_expand, example=_expand_example()),
    OpSpec("flatten", lambda a, start_dim, end_dim: a.flatten(start_dim, end_dim),
           _numpy_flatten, example=_flatten_example()),
    OpSpec("flatten_all", lambda a: mt.flatten(a), lambda a: a.reshape(-1)),
    # --- indexing -------------------------------------------------------------------------------
    OpSpec("getitem_basic", lambda a, index: a[index], lambda a, index: a[index],
           example=_basic_index_example()),
    OpSpec("getitem_int_arrays", lambda a, index: a[index], lambda a, index: a[index],
           example=_int_array_index_example()),
    OpSpec("getitem_int_list", lambda a, index: a[index[:-1] + (index[-1].tolist(),)],
           lambda a, index: a[index], example=_first_axis_index_example()),
    OpSpec("getitem_int_tensor", lambda a, index: a[index[:-1] + (mt.tensor(index[-1]),)],
           lambda a, index: a[index], example=_first_axis_index_example()),
    OpSpec("getitem_bool_mask", lambda a, index: a[index], lambda a, index: a[index],
           example=_mask_index_example()),
    OpSpec("getitem_bool_tensor", lambda a, index: a[mt.tensor(index)],
           lambda a, index: a[index], example=_mask_index_example()),
    # --- joining and splitting ------------------------------------------------------------------
    OpSpec("cat", lambda *parts, axis: mt.cat(parts, axis=axis),
           lambda *parts, axis: np.concatenate(parts, axis=axis), example=_cat_example()),
    OpSpec("cat_dim", lambda *parts, axis: mt.cat(list(parts), dim=axis),
           lambda *parts, axis: np.concatenate(parts, axis=axis), example=_cat_example()),
    OpSpec("stack", lambda *parts, axis: mt.stack(parts, axis=axis),
           lambda *parts, axis: np.stack(parts, axis=axis), example=_stack_example()),
    OpSpec("stack_dim", lambda *parts, axis: mt.stack(list(parts), dim=axis),
           lambda *parts, axis: np.stack(parts, axis=axis), example=_stack_example()),
    OpSpec("split", _split_fn, _numpy_split, example=_split_example()),
    OpSpec("chunk", _chunk_fn, _numpy_chunk, example=_split_example(chunked=True)),
    # --- trigonometry, products, running sums, deviations --------------------------------------
    OpSpec("sin", mt.sin, np.sin, domain=(-6.0, 6.0)),
    OpSpec("cos_method", lambda a: a.cos(), np.cos, domain=(-6.0, 6.0)),
    OpSpec("std", lambda a, axis, keepdims, ddof: a.std(axis=axis, keepdims=keepdims, ddof=ddof),
           np.std, example=_var_example(0).filter(_spread_out)),
    OpSpec("std_ddof1", lambda a, axis, keepdims, ddof: mt.std(a, axis, keepdims, ddof=ddof),
           np.std, example=_var_example(1).filter(_spread_out)),
    OpSpec("prod", lambda a, axis, keepdims: a.prod(axis=axis, keepdims=keepdims), np.prod,
           consts=axis_args),
    OpSpec("prod_with_zeros", lambda a, axis, keepdims: mt.prod(a, axis, keepdims), np.prod,
           example=_with_zeros()),
    OpSpec("cumsum", lambda a, axis: a.cumsum(axis=axis), _np_cumsum, example=_cumsum_example()),
    OpSpec("cumsum_fn", lambda a, axis: mt.cumsum(a, dim=axis), _np_cumsum,
           example=_cumsum_example()),
    # --- fused neural-network ops (microtensor/ops/nn.py, through nn.functional) ---------------
    OpSpec("cross_entropy", lambda z, target, reduction, label_smoothing:
           F.cross_entropy(z, target, reduction=reduction, label_smoothing=label_smoothing),
           _np_cross_entropy, example=_classes_example(smoothing=True)),
    OpSpec("cross_entropy_weighted", lambda z, target, reduction, weight:
           F.cross_entropy(z, target, weight=mt.tensor(weight), reduction=reduction),
           lambda z, target, reduction, weight: _np_cross_entropy(z, target, reduction,
                                                                  weight=weight),
           example=_classes_example(spatial=True, weighted=True)),
    OpSpec("nll_loss", lambda logp, target, reduction: F.nll_loss(logp, target, reduction=reduction),
           _np_nll, example=_classes_example(spatial=True)),
    OpSpec("embedding", lambda table, indices, padding_idx:
           F.embedding(mt.tensor(indices), table, padding_idx=padding_idx),
           lambda table, indices, padding_idx: table[indices], example=_embedding_example()),
    OpSpec("layer_norm", lambda x, normalized_shape: F.layer_norm(x, normalized_shape),
           _np_layer_norm, example=_layer_norm_example()),
    OpSpec("layer_norm_affine", lambda x, w, b, normalized_shape:
           F.layer_norm(x, normalized_shape, w, b), _np_layer_norm, 3,
           example=_layer_norm_example(affine=True)),
    OpSpec("dropout_mask", lambda x, mask, scale: nn_ops.Dropout.apply(x, mask=mask, scale=scale),
           lambda x, mask, scale: x * mask * scale, example=_dropout_example()),
    OpSpec("bce_with_logits", lambda x, y, reduction, pos_weight:
           F.binary_cross_entropy_with_logits(x, y, reduction=reduction, pos_weight=pos_weight),
           _np_bce, 2, example=_bce_example()),
    OpSpec("bce_with_logits_weighted", lambda x, y, w, reduction, pos_weight:
           F.binary_cross_entropy_with_logits(x, y, weight=w, reduction=reduction,
                                              pos_weight=pos_weight),
           _np_bce, 3, example=_bce_example(weighted=True)),
    OpSpec("mse_loss", lambda a, b: F.mse_loss(a, b), lambda a, b: np.mean((a - b) ** 2), 2,
           broadcast=False),
    # --- linear algebra -------------------------------------------------------------------------
    OpSpec("matmul", lambda a, b: a @ b, np.matmul, 2, example=_matmul_example()),
    OpSpec("linear", F.linear, lambda x, w, b: x @ w.T + b, 3, example=_linear_example()),
    OpSpec("linear_no_bias", F.linear, lambda x, w: x @ w.T, 2, example=_linear_example(False)),
    OpSpec("matmul_fn", mt.matmul, np.matmul, 2, example=_matmul_example()),
    OpSpec("matmul_method", lambda a, b: a.matmul(b), np.matmul, 2, example=_matmul_example()),
    OpSpec("rmatmul_ndarray", lambda b, left: left @ b, lambda b, left: left @ b,
           example=_matmul_example().map(lambda ex: ((ex[0][1],), {"left": ex[0][0]}))),
]

BY_NAME = {spec.name: spec for spec in OPS}
assert len(BY_NAME) == len(OPS), "op names in the registry must be unique"

# Function subclasses of microtensor and rnn that no entry above exercises, each with the reason
# and the test that covers it instead. tests/test_ops.py checks that every other subclass is run
# by some entry, so a new op without an entry (and without a line here) fails the suite.
EXEMPT = {
    "Less": "boolean result, no gradient: test_ops.py::test_comparisons_carry_no_gradient",
    "LessEqual": "boolean result, no gradient: test_ops.py::test_comparisons_carry_no_gradient",
    "Greater": "boolean result, no gradient: test_ops.py::test_comparisons_carry_no_gradient",
    "GreaterEqual": "boolean result, no gradient: test_ops.py::test_comparisons_carry_no_gradient",
    "Equal": "boolean result, no gradient: test_ops.py::test_comparisons_carry_no_gradient",
    "NotEqual": "boolean result, no gradient: test_ops.py::test_comparisons_carry_no_gradient",
    "Cast": "changes the dtype on purpose (float32 preservation cannot hold): test_tensor.py "
            "(astype) and test_ops.py::test_cast_gradients",
    "LSTMSequence": "rnn/fused.py (stream perf): a whole sequence with a hand-derived backward, "
                    "checked against the explicit cells, torch and gradcheck in test_rnn_fused.py",
    "GRUSequence": "rnn/fused.py: see LSTMSequence",
    "RNNSequence": "rnn/fused.py: see LSTMSequence",
}
