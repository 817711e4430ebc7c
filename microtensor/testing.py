"""Hypothesis strategies and check helpers: test YOUR ops exactly as microtensor tests its own.

The strategies generate shapes (including 0-d tensors and size-1 axes), sets of shapes that
broadcast together, float64 arrays whose values stay inside an op's domain and away from its
kinks, float64 tensors that require gradients, and valid ``axis`` arguments for a drawn shape
(:func:`axes`). :func:`check_gradients` property-tests any function's gradients with
:func:`microtensor.gradcheck`; :func:`check_forward` compares its values with a NumPy reference;
:func:`check_float32` checks that float32 inputs give float32 results and gradients. All raise
(with Hypothesis' smallest failing example) on a mismatch.

Values are float64 by default (what a gradient check needs); every strategy takes ``dtype=``:
``arrays(shape, dtype=np.float32)``, ``tensors(dtype=np.float32)``, ``inputs(2, dtype=np.float32)``
draw float32 inputs (the values are drawn in float64 and rounded).

Needs the ``hypothesis`` package (``pip install microtensor[dev]``).

Example:
    >>> import numpy as np
    >>> import microtensor as mt
    >>> from microtensor.testing import check_forward, check_gradients
    >>> check_forward(mt.tanh, np.tanh, max_examples=5)
    >>> check_gradients(lambda a, b: a * b.exp(), arity=2, max_examples=5)
"""
import numpy as np
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .gradcheck import gradcheck
from .tensor import Tensor, tensor

__all__ = ["shapes", "broadcastable_shapes", "arrays", "tensors", "inputs", "axes",
           "check_gradients", "check_forward", "check_float32"]

# Small sides keep the elementwise gradient check (two forward passes per element) fast.
MAX_DIMS = 3
MAX_SIDE = 4


def shapes(min_dims=0, max_dims=MAX_DIMS, min_side=1, max_side=MAX_SIDE):
    """Shapes (tuples of ints), including ``()`` (0-d) and size-1 axes unless excluded.

    Example:
        >>> from hypothesis import given
        >>> from microtensor.testing import shapes
        >>> @given(shapes(min_dims=2, max_dims=2, max_side=3))
        ... def test_shapes(shape):
        ...     assert len(shape) == 2 and all(1 <= side <= 3 for side in shape)
        >>> test_shapes()
    """
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def broadcastable_shapes(n=2, min_dims=0, max_dims=MAX_DIMS, min_side=1, max_side=MAX_SIDE):
    """Tuples of ``n`` shapes that broadcast together under NumPy's rules.

    The shapes may differ in length (leading axes are added) and in size-1 axes, and may be 0-d.

    Example:
        >>> import numpy as np
        >>> from hypothesis import given
        >>> from microtensor.testing import broadcastable_shapes
        >>> @given(broadcastable_shapes(2))
        ... def test_pairs(pair):
        ...     a, b = pair
        ...     assert np.broadcast_shapes(a, b) == (np.zeros(a) + np.zeros(b)).shape
        >>> test_pairs()
    """
    return hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=min_dims, max_dims=max_dims,
                                             min_side=min_side, max_side=max_side).map(
        lambda result: result.input_shapes)


def _far_from(points, margin):
    points = tuple(float(p) for p in points)
    return lambda value: all(abs(value - p) >= margin for p in points)


def arrays(shape, domain=(-3.0, 3.0), unique=False, avoid=(), margin=0.1, dtype=np.float64):
    """float64 arrays of ``shape`` with values in ``domain`` = (low, high).

    Args:
        shape: a shape tuple, or a strategy of shapes (e.g. :func:`shapes`).
        domain: (low, high), both included; keep it inside the op's domain (``(0.1, 5)`` for log).
        unique: values pairwise at least ``margin`` apart, so that a max, a min or a sort has no
            ties and a finite-difference step cannot change which element wins.
        avoid: points to keep ``margin`` away from: the kinks of the op (0 for abs and relu,
            the bounds of a clip), where the derivative does not exist.
        margin: the distance kept from ``avoid`` (and between values when ``unique``).
        dtype: float64 by default (what gradient checks need); float32 for dtype tests.

    Example:
        >>> import numpy as np
        >>> from hypothesis import given
        >>> from microtensor.testing import arrays
        >>> @given(arrays((2, 3), domain=(-1, 1), avoid=(0,)))
        ... def test_arrays(a):
        ...     assert a.shape == (2, 3) and a.dtype == np.float64
        ...     assert ((np.abs(a) >= 0.1) & (np.abs(a) <= 1)).all()
        >>> test_arrays()
    """
    low, high = (float(v) for v in domain)
    if not low <= high:
        raise ValueError(f"arrays: domain must be (low, high) with low <= high, got {domain}")
    if unique:
        # A grid `margin` apart: distinct values can never be closer than that.
        steps = int(np.floor((high - low) / margin))
        elements = st.integers(0, steps).map(lambda k: low + k * margin)
        # The grid holds steps + 1 values (fewer with `avoid`): only shapes that fit are drawn.
        if isinstance(shape, st.SearchStrategy):
            shape = shape.filter(lambda s: int(np.prod(s)) <= steps + 1)
        elif int(np.prod(shape)) > steps + 1:
            raise ValueError(f"arrays: {int(np.prod(shape))} values pairwise {margin} apart do "
                             f"not fit in {domain}: widen the domain or lower the margin")
        if avoid:
            elements = elements.filter(_far_from(avoid, margin))
    else:
        elements = st.floats(low, high, allow_nan=False, allow_infinity=False, width=64)
        if avoid:
            elements = elements.filter(_far_from(avoid, margin))
    return hnp.arrays(np.float64, shape, elements=elements, unique=unique).map(
        lambda a: a.astype(dtype, copy=False))


def tensors(shape=None, domain=(-3.0, 3.0), unique=False, avoid=(), margin=0.1, dtype=np.float64,
            requires_grad=True):
    """float64 tensors with ``requires_grad=True`` (see :func:`arrays` for the arguments).

    ``shape`` defaults to any small shape from :func:`shapes`.

    Example:
        >>> import microtensor as mt
        >>> from hypothesis import given
        >>> from microtensor.testing import tensors
        >>> @given(tensors(domain=(0.1, 2)))
        ... def test_log_grad(x):
        ...     assert x.dtype == mt.float64 and x.requires_grad
        ...     mt.gradcheck(mt.log, [x])
        >>> test_log_grad()
    """
    shape = shapes() if shape is None else shape
    return arrays(shape, domain, unique, avoid, margin, dtype).map(
        lambda a: tensor(a, requires_grad=requires_grad))


def axes(shape, allow_none=True, allow_tuple=True):
    """Valid ``axis`` arguments for a tensor of ``shape``: None (all axes), one axis (negative
    ones too) or a tuple of distinct axes. A 0-d tensor gets None (valid in NumPy too), or, with
    ``allow_none=False``, 0 or -1 (which PyTorch and microtensor accept for a 0-d tensor).

    ``shape`` is a tuple, typically drawn first: ``shape = draw(shapes()); axis = draw(axes(shape))``.

    Example:
        >>> import numpy as np
        >>> from hypothesis import given, strategies as st
        >>> from microtensor.testing import axes, shapes
        >>> @given(st.data())
        ... def test_sum_axis(data):
        ...     shape = data.draw(shapes())
        ...     axis = data.draw(axes(shape))
        ...     np.sum(np.zeros(shape), axis=axis)       # never raises: the axis is valid
        >>> test_sum_axis()
    """
    ndim = len(shape)
    if ndim == 0:
        return st.none() if allow_none else st.integers(-1, 0)
    options = [st.none()] if allow_none else []
    options.append(st.integers(-ndim, ndim - 1))
    if allow_tuple and ndim:
        options.append(st.lists(st.integers(-ndim, ndim - 1), min_size=1, max_size=ndim)
                       .filter(lambda axes_: len({a % ndim for a in axes_}) == len(axes_))
                       .map(tuple))
    return st.one_of(options)


def _per_input(value, arity, what):
    """``value`` for every input, or one value per input when given as a list."""
    if isinstance(value, list):
        if len(value) != arity:
            raise ValueError(f"{what}: a list needs one entry per input ({arity}), got {len(value)}")
        return value
    return [value] * arity


def inputs(arity=1, domain=(-3.0, 3.0), broadcast=True, shape=None, unique=False, avoid=(),
           margin=0.1, dtype=np.float64):
    """Tuples of ``arity`` arrays for an op: broadcastable shapes (or one shared shape).

    ``domain`` and ``avoid`` may be lists with one entry per input, e.g. a division keeps its
    denominator away from 0: ``inputs(2, avoid=[(), (0,)])``.

    Example:
        >>> from hypothesis import given
        >>> from microtensor.testing import inputs
        >>> @given(inputs(2, domain=[(-1, 1), (0.5, 2)]))
        ... def test_inputs(pair):
        ...     a, b = pair
        ...     assert (abs(a) <= 1).all() and (b >= 0.5).all()
        >>> test_inputs()
    """
    domains = _per_input(domain if isinstance(domain, list) else tuple(domain), arity, "domain")
    avoids = _per_input(avoid if isinstance(avoid, list) else tuple(avoid), arity, "avoid")

    @st.composite
    def build(draw):
        if shape is not None:
            shape_list = [shape] * arity
        elif broadcast and arity > 1:
            shape_list = draw(broadcastable_shapes(arity))
        else:
            shape_list = [draw(shapes())] * arity
        return tuple(draw(arrays(s, d, unique, a, margin, dtype))
                     for s, d, a in zip(shape_list, domains, avoids))
    return build()


def _settings(max_examples, settings):
    # Inherit the active profile (deadline, derandomize in CI) and only change the example count.
    base = settings if settings is not None else hypothesis_settings.default
    if max_examples is None:
        return hypothesis_settings(base)
    return hypothesis_settings(base, max_examples=max_examples)


def check_gradients(fn, arity=1, domain=(-3.0, 3.0), broadcast=True, shape=None, unique=False,
                    avoid=(), margin=0.1, max_examples=None, eps=1e-6, atol=1e-5, rtol=1e-3,
                    settings=None):
    """Property-test ``fn``'s gradients with :func:`microtensor.gradcheck` on generated inputs.

    ``fn(*tensors)`` must return a Tensor. Inputs are float64 tensors from :func:`inputs`
    (broadcastable shapes unless ``broadcast=False``, values in ``domain`` and away from
    ``avoid``). Raises on the first (shrunk) input where analytic and numeric gradients differ.
    ``max_examples`` overrides the active Hypothesis profile's count; ``settings`` (a
    ``hypothesis.settings``) replaces the profile altogether.

    Example:
        >>> import microtensor as mt
        >>> from microtensor.testing import check_gradients
        >>> check_gradients(lambda x: mt.log(x) * x, domain=(0.1, 3), max_examples=5)
    """
    strategy = inputs(arity, domain, broadcast, shape, unique, avoid, margin)

    @_settings(max_examples, settings)
    @given(strategy)
    def run(arrays_):
        ts = [tensor(a, requires_grad=True) for a in arrays_]
        gradcheck(fn, ts, eps=eps, atol=atol, rtol=rtol)

    run()


def check_forward(fn, reference, arity=1, domain=(-3.0, 3.0), broadcast=True, shape=None,
                  unique=False, avoid=(), margin=0.1, max_examples=None, rtol=1e-7, atol=1e-10,
                  settings=None):
    """Property-test that ``fn(*tensors)`` equals ``reference(*ndarrays)``: shape, dtype, values.

    Inputs are float64; the result must be float64 too (no silent change of precision).
    ``max_examples`` and ``settings`` work as in :func:`check_gradients`.

    Example:
        >>> import numpy as np
        >>> import microtensor as mt
        >>> from microtensor.testing import check_forward
        >>> check_forward(lambda a, b: a / b, np.divide, arity=2, avoid=[(), (0,)], max_examples=5)
    """
    strategy = inputs(arity, domain, broadcast, shape, unique, avoid, margin)

    @_settings(max_examples, settings)
    @given(strategy)
    def run(arrays_):
        out = fn(*[tensor(a) for a in arrays_])
        if not isinstance(out, Tensor):
            raise AssertionError(f"fn must return a Tensor, got {type(out).__name__}")
        expected = np.asarray(reference(*arrays_))
        assert out.shape == expected.shape, f"shape {out.shape} != reference {expected.shape}"
        assert out.dtype == np.float64, f"float64 inputs gave a {out.dtype} result"
        np.testing.assert_allclose(out.data, expected, rtol=rtol, atol=atol)

    run()


def check_float32(fn, arity=1, domain=(-3.0, 3.0), broadcast=True, shape=None, unique=False,
                  avoid=(), margin=0.1, max_examples=None, rtol=1e-4, atol=1e-5, settings=None):
    """Property-test that float32 inputs give a float32 result and float32 gradients, close to
    the float64 computation (no silent upcast to float64, no silent loss to float16).

    ``fn(*tensors)`` must return a Tensor; the other arguments work as in :func:`check_gradients`.

    Example:
        >>> import microtensor as mt
        >>> from microtensor.testing import check_float32
        >>> check_float32(lambda a, b: (a * b).tanh(), arity=2, max_examples=5)
    """
    strategy = inputs(arity, domain, broadcast, shape, unique, avoid, margin)

    @_settings(max_examples, settings)
    @given(strategy)
    def run(arrays_):
        ts = [tensor(a.astype(np.float32), requires_grad=True) for a in arrays_]
        out = fn(*ts)
        if not isinstance(out, Tensor):
            raise AssertionError(f"fn must return a Tensor, got {type(out).__name__}")
        assert out.dtype == np.float32, f"float32 inputs gave a {out.dtype} result"
        # The float64 computation on the same (float32-rounded) values.
        exact = fn(*[tensor(t.data.astype(np.float64)) for t in ts])
        np.testing.assert_allclose(out.data, exact.data, rtol=rtol, atol=atol)
        if out.requires_grad:
            out.backward(np.ones(out.shape, dtype=np.float32))
            for i, t in enumerate(ts):
                if t.grad is not None:
                    assert t.grad.dtype == np.float32, f"input {i}: a {t.grad.dtype} gradient"
                    assert t.grad.shape == t.shape, f"input {i}: gradient shape {t.grad.shape}"

    run()
