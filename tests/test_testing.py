"""microtensor.testing: the strategies generate what they promise, and the check helpers catch
wrong gradients and wrong values (so users can trust them for their own ops)."""
import numpy as np
import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

import microtensor as mt
from microtensor.testing import (arrays, broadcastable_shapes, check_forward, check_gradients,
                                 inputs, shapes, tensors)


@settings(max_examples=30)
@given(shapes(min_dims=1, max_dims=2, min_side=2, max_side=3))
def test_shapes_respect_bounds(shape):
    assert 1 <= len(shape) <= 2 and all(2 <= side <= 3 for side in shape)


def test_shapes_include_0d_and_size_1_axes():
    assert find(shapes(), lambda s: s == ()) == ()
    assert 1 in find(shapes(), lambda s: len(s) >= 2 and 1 in s and max(s) > 1)


@settings(max_examples=30)
@given(broadcastable_shapes(3))
def test_broadcastable_shapes_broadcast(triple):
    assert len(triple) == 3
    np.broadcast_shapes(*triple)       # raises if they do not


def test_broadcastable_shapes_cover_the_interesting_cases():
    # Different ranks, a size-1 axis stretched, and a 0-d operand all occur.
    find(broadcastable_shapes(2), lambda p: len(p[0]) != len(p[1]))
    find(broadcastable_shapes(2), lambda p: len(p[0]) == len(p[1]) and any(
        a == 1 and b > 1 for a, b in zip(*p)))
    find(broadcastable_shapes(2), lambda p: () in p)


@settings(max_examples=30)
@given(arrays(shapes(), domain=(-2, 2), avoid=(0.0, 1.0), margin=0.2))
def test_arrays_stay_in_domain_and_away_from_kinks(a):
    assert a.dtype == np.float64
    assert ((a >= -2) & (a <= 2)).all()
    assert (np.abs(a) >= 0.2).all() and (np.abs(a - 1) >= 0.2).all()


@settings(max_examples=30)
@given(arrays((3, 4), domain=(-1, 1), unique=True, margin=0.05))
def test_unique_arrays_are_separated(a):
    values = np.sort(a.ravel())
    assert (np.diff(values) >= 0.05 - 1e-12).all()


@settings(max_examples=10)
@given(arrays((2,), dtype=np.float32))
def test_arrays_in_float32(a):
    assert a.dtype == np.float32


@settings(max_examples=10)
@given(tensors((2, 3), domain=(0.5, 1.0)))
def test_tensors_are_float64_and_require_grad(t):
    assert isinstance(t, mt.Tensor) and t.dtype == np.float64 and t.requires_grad
    assert t.shape == (2, 3) and ((t.data >= 0.5) & (t.data <= 1.0)).all()


@settings(max_examples=20)
@given(inputs(2, domain=[(-1, 1), (2, 3)], avoid=[(0.0,), ()], broadcast=False))
def test_inputs_per_operand_domains(pair):
    a, b = pair
    assert a.shape == b.shape
    assert (np.abs(a) >= 0.1).all() and (np.abs(a) <= 1).all() and ((b >= 2) & (b <= 3)).all()


def test_inputs_list_must_match_arity():
    with pytest.raises(ValueError, match="one entry per input"):
        inputs(2, domain=[(0, 1)])


def test_arrays_bad_domain():
    with pytest.raises(ValueError, match="low <= high"):
        arrays((2,), domain=(1, 0))
    with pytest.raises(ValueError, match="do not fit in"):
        arrays((100,), domain=(0, 1), unique=True)


@settings(max_examples=20)
@given(arrays(shapes(max_side=4), domain=(0, 1), unique=True))
def test_unique_arrays_only_draw_shapes_that_fit(a):
    assert a.size <= 11 and len(np.unique(a)) == a.size


# ----- the check helpers catch wrong ops ---------------------------------------------------------
class WrongSquare(mt.Function):
    """x**2 with the classic mistake: forgetting the factor 2."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x


class AddWithoutUnbroadcast(mt.Function):
    """a + b whose backward forgets to sum the gradient over broadcast axes."""

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


def test_check_gradients_passes_correct_ops():
    check_gradients(lambda a, b: (a * b).tanh() - b.exp(), arity=2, max_examples=10)
    check_gradients(mt.abs, avoid=(0.0,), max_examples=10)


def test_check_gradients_catches_a_wrong_backward():
    with pytest.raises(mt.GradcheckError):
        check_gradients(WrongSquare.apply, settings=NO_SHRINK)


def test_check_gradients_catches_broadcasting_bugs():
    # Same shapes would pass: only generated broadcasting pairs expose the bug.
    check_gradients(AddWithoutUnbroadcast.apply, arity=2, broadcast=False, max_examples=10)
    with pytest.raises(mt.ShapeError, match="returned a gradient of shape"):
        check_gradients(AddWithoutUnbroadcast.apply, arity=2,
                        settings=settings(NO_SHRINK, max_examples=30))


# Failing checks need no shrinking here: that only makes the report nicer, and slower.
NO_SHRINK = settings(max_examples=10, phases=[Phase.generate], deadline=None)


def test_check_forward_passes_and_catches():
    check_forward(mt.sigmoid, lambda a: 1 / (1 + np.exp(-a)), max_examples=10)
    with pytest.raises(AssertionError):
        check_forward(mt.sigmoid, np.tanh, settings=NO_SHRINK)
    with pytest.raises(AssertionError, match="float32 result"):
        check_forward(lambda a: a.float(), lambda a: a, settings=NO_SHRINK)
    with pytest.raises(AssertionError, match="shape"):
        check_forward(lambda a: a.sum(), lambda a: a, shape=(2,), settings=NO_SHRINK)


def test_extending_guide_code_runs():
    # docs/extending.md is a tutorial: its Python blocks run in order, in one namespace.
    import pathlib
    import re
    text = (pathlib.Path(__file__).resolve().parent.parent / "docs" / "extending.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 4
    namespace = {}
    for block in blocks:
        exec(compile(block, "docs/extending.md", "exec"), namespace)
    assert namespace["x"].grad.dtype == np.float32


def test_check_float32_passes_a_dtype_keeping_op_and_catches_an_upcast():
    from microtensor.testing import check_float32
    check_float32(lambda a, b: (a * b).sin(), arity=2, max_examples=10)

    class Upcast(mt.Function):
        forward = staticmethod(lambda ctx, x: x.astype(np.float64) * 2)
        backward = staticmethod(lambda ctx, grad: grad * 2)
    with pytest.raises(AssertionError, match="float32 inputs gave a float64 result"):
        check_float32(Upcast.apply, max_examples=5)


@settings(max_examples=50)
@given(st.data())
def test_axes_are_always_valid_for_the_drawn_shape(data):
    from microtensor.testing import axes
    shape = data.draw(shapes())
    axis = data.draw(axes(shape))
    np.sum(np.zeros(shape), axis=axis)
    one = data.draw(axes(shape, allow_none=False, allow_tuple=False))
    assert isinstance(one, int)
    mt.zeros(*shape).sum(axis=one)
