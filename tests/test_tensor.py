"""Tensor basics: construction, dtypes (float32 default, no upcasting by Python scalars),
integer tensors, properties, repr, creation functions and the seeded generator."""
import numpy as np
import pytest

import microtensor as mt


# ----- construction and dtypes ----------------------------------------------------------------------
def test_python_floats_default_to_float32_ints_to_int64():
    assert mt.tensor([1.0, 2.0]).dtype == np.float32
    assert mt.tensor(3.5).dtype == np.float32
    assert mt.tensor([1, 2]).dtype == np.int64
    assert mt.tensor([True, False]).dtype == np.bool_


def test_ndarrays_keep_their_dtype_and_are_copied():
    a = np.arange(3.0)
    t = mt.tensor(a)
    assert t.dtype == np.float64
    a[0] = 99
    assert t.data[0] == 0
    assert mt.tensor(np.float64(2.0)).dtype == np.float64


def test_explicit_dtype():
    assert mt.tensor([1, 2], dtype="float64").dtype == np.float64
    assert mt.tensor([1.0], dtype=mt.float32).dtype == np.float32
    assert mt.Tensor([1.0, 2.0], requires_grad=True).requires_grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_python_scalars_never_upcast(dtype):
    x = mt.tensor(np.array([0.5, -1.5, 2.0], dtype=dtype), requires_grad=True)
    results = [x * 2.0, 2.0 * x, x + 1, 1 - x, x / 3, 3 / x, x ** 2, abs(x) ** 2.5, 2.0 ** x,
               x * np.float64(2.0), x * True,
               mt.maximum(x, 0.5), mt.minimum(x, 1), x.clip(-1, 1), x.clamp(min=0),
               mt.where(x > 0, x, 0), mt.where(x > 0, 0.0, x), mt.where(x > 0, x, 1),
               x.leaky_relu(0.2), x.softplus(), x.sigmoid(), x.mean(), x.var(), x.logsumexp(),
               x.softmax(), x.log_softmax(), x.astype(dtype), abs(x), -x, np.float64(2.0) * x,
               x + [1, 2, 3], [1.0, 2.0, 3.0] * x]
    for i, r in enumerate(results):
        assert r.dtype == dtype, f"result {i} is {r.dtype}"
    total = results[0]
    for r in results[1:]:
        total = total + r.sum()
    total.sum().backward()
    assert x.grad.dtype == dtype


def test_integer_tensors_stay_integer():
    i = mt.arange(4)
    assert (i + 1).dtype == np.int64 and (i * 2).dtype == np.int64
    assert i[1:].dtype == np.int64 and i.sum().dtype == np.int64


def test_mixed_float_dtypes_follow_numpy_and_gradients_keep_each_dtype():
    a = mt.ones(2, requires_grad=True)
    b = mt.ones(2, dtype="float64", requires_grad=True)
    y = a * b + a
    assert y.dtype == np.float64
    y.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_array_equal(a.grad, [2.0, 2.0])


@pytest.mark.parametrize("make", [
    lambda: mt.tensor([1, 2], requires_grad=True),
    lambda: mt.arange(3).requires_grad_(),
    lambda: mt.zeros(2, dtype="int64", requires_grad=True),
    lambda: mt.tensor([True], requires_grad=True),
])
def test_integer_tensors_refuse_requires_grad(make):
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients"):
        make()


def test_cast_to_integer_carries_no_gradient():
    x = mt.tensor([1.5, 2.5], requires_grad=True)
    i = x.astype("int64")
    assert i.dtype == np.int64 and not i.requires_grad


def test_cast_between_floats_is_differentiable():
    x = mt.tensor([1.5, 2.5], requires_grad=True)
    y = x.double()
    assert y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, [3.0, 5.0])
    assert y.float().dtype == np.float32


# ----- properties and conversions -------------------------------------------------------------------
def test_properties():
    t = mt.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and t.ndim == 3 and t.size == 24 and len(t) == 2
    assert t.T.shape == (4, 3, 2)
    assert t.is_leaf and t.grad_fn is None and t.grad is None
    assert isinstance(t.numpy(), np.ndarray) and t.numpy() is t.data
    assert mt.tensor([[1, 2]]).tolist() == [[1, 2]]


def test_item_and_bool():
    assert mt.tensor([2.5]).item() == 2.5
    assert isinstance(mt.tensor(3).item(), int)
    with pytest.raises(ValueError, match="one element"):
        mt.zeros(2).item()
    assert bool(mt.tensor([1.0]))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(mt.ones(2))
    with pytest.raises(TypeError):
        len(mt.tensor(1.0))


def test_iteration_gives_rows_with_gradients():
    x = mt.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    rows = list(x)
    assert [r.shape for r in rows] == [(2,), (2,)]
    (rows[0] * 2 + rows[1]).sum().backward()
    np.testing.assert_array_equal(x.grad, [[2.0, 2.0], [1.0, 1.0]])


def test_tensors_are_hashable_and_compare_elementwise():
    a, b = mt.ones(2), mt.ones(2)
    assert len({a, b}) == 2
    assert (a == b).data.all()


def test_numpy_on_the_left_gives_a_tensor():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0], dtype=np.float32) * x
    assert isinstance(y, mt.Tensor) and y.requires_grad
    assert np.asarray(x).dtype == np.float32


def test_repr():
    assert repr(mt.tensor([1.0, 2.0])) == "tensor([1., 2.], dtype=float32)"
    x = mt.tensor([1.0], requires_grad=True, name="w")
    assert repr(x) == "tensor([1.], dtype=float32, requires_grad=True, name='w')"
    with mt.scope("rnn/t0"):
        y = x * 2
    assert repr(y) == "tensor([2.], dtype=float32, op=mul, scope='rnn/t0')"
    big = repr(mt.zeros(1000))
    assert "..." in big and len(big) < 200


def test_requires_grad_():
    t = mt.zeros(2)
    assert t.requires_grad_() is t and t.requires_grad
    t.requires_grad_(False)
    assert not t.requires_grad


# ----- creation ---------------------------------------------------------------------------------------
def test_creation_functions():
    assert mt.zeros(2, 3).shape == (2, 3) and mt.zeros((2, 3)).shape == (2, 3)
    assert mt.ones(2, dtype="float64").dtype == np.float64
    np.testing.assert_array_equal(mt.full((2, 2), 7.0).data, np.full((2, 2), 7.0))
    np.testing.assert_array_equal(mt.eye(3).data, np.eye(3))
    assert mt.eye(2, 3).shape == (2, 3)
    np.testing.assert_array_equal(mt.arange(1, 7, 2).data, [1, 3, 5])
    assert mt.arange(3).dtype == np.int64 and mt.arange(3.0).dtype == np.float32
    base = mt.ones(2, 2, dtype="float64")
    assert mt.zeros_like(base).dtype == np.float64 and mt.ones_like(base).shape == (2, 2)
    assert mt.zeros_like(base, dtype=np.dtype("float32")).dtype == np.float32
    assert mt.randn(3, 4).dtype == np.float32 and mt.rand(5).shape == (5,)
    w = mt.randn(2, requires_grad=True, name="w")
    assert w.requires_grad and w.name == "w"
    assert ((mt.rand(100).data >= 0) & (mt.rand(100).data < 1)).all()


def test_manual_seed_reproduces_every_random_source():
    mt.manual_seed(123)
    a = (mt.randn(3).data, mt.rand(2).data, mt.get_rng().integers(0, 100, 4))
    mt.manual_seed(123)
    b = (mt.randn(3).data, mt.rand(2).data, mt.get_rng().integers(0, 100, 4))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    mt.manual_seed(124)
    assert not np.array_equal(mt.randn(3).data, a[0])


# ----- custom Function API ---------------------------------------------------------------------------
class _Cube(mt.Function):
    @staticmethod
    def forward(ctx, x, scale=1.0):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return scale * x ** 3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * ctx.scale * x ** 2


class _Mix(mt.Function):
    name = "mix_op"

    @staticmethod
    def forward(ctx, a, b):
        ctx.needs = ctx.needs_input_grad
        return a * 2 + b

    @staticmethod
    def backward(ctx, grad):
        return grad * 2, None       # None: no gradient for b


def test_function_subclass_name_attrs_and_gradient():
    x = mt.tensor([1.0, -2.0], dtype="float64", requires_grad=True)
    y = _Cube.apply(x, scale=0.5)
    assert y.grad_fn.op == "_cube"
    assert mt.gradcheck(lambda x: _Cube.apply(x, scale=0.5), [x])


def test_function_needs_input_grad_and_none_gradients():
    a = mt.tensor([1.0], requires_grad=True)
    b = mt.tensor([2.0], requires_grad=True)
    c = mt.tensor([3.0])
    y = _Mix.apply(a, c)
    assert y.grad_fn.op == "mix_op" and y.grad_fn.ctx.needs == (True, False)
    y2 = _Mix.apply(a, b)
    y2.sum().backward()
    assert a.grad[0] == 2.0 and b.grad is None


def test_function_with_no_gradient_needed_records_nothing():
    y = _Cube.apply(mt.tensor([1.0]))
    assert y.grad_fn is None and not y.requires_grad


def test_function_wrong_number_of_gradients_is_an_error():
    class Bad(mt.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, grad):
            return grad

    y = Bad.apply(mt.ones(2, requires_grad=True), mt.ones(2, requires_grad=True))
    with pytest.raises(RuntimeError, match="returned 1 gradients for 2 inputs"):
        y.sum().backward()


def test_function_wrong_gradient_shape_is_an_error():
    class Bad(mt.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, grad):
            return grad.sum()

    with pytest.raises(mt.ShapeError, match="backward of 'bad' returned a gradient of shape"):
        Bad.apply(mt.ones(3, requires_grad=True)).sum().backward()
