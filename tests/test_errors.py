"""Every error a user can hit names what was expected: the op, every operand's shape, the fix."""
import numpy as np
import pytest

import microtensor as mt


def test_hierarchy():
    assert issubclass(mt.ShapeError, ValueError)
    assert issubclass(mt.GraphFreedError, RuntimeError)
    assert issubclass(mt.AnomalyError, RuntimeError)
    assert issubclass(mt.GradcheckError, AssertionError)
    for error in (mt.ShapeError, mt.GraphFreedError, mt.AnomalyError, mt.GradcheckError):
        assert issubclass(error, mt.MicrotensorError)


def _message(fn, error=mt.ShapeError):
    with pytest.raises(error) as info:
        fn()
    return str(info.value)


def test_matmul_message_is_exact():
    assert _message(lambda: mt.zeros(3, 4) @ mt.zeros(5, 6)) == \
        "matmul: (3, 4) @ (5, 6): inner dimensions 4 != 5"
    assert _message(lambda: mt.zeros(3) @ mt.zeros(2, 4)) == \
        "matmul: (3,) @ (2, 4): inner dimensions 3 != 2"
    assert _message(lambda: mt.zeros(2, 3, 4) @ mt.zeros(3, 4, 5)) == \
        "matmul: (2, 3, 4) @ (3, 4, 5): batch dimensions cannot be broadcast together"
    assert "at least 1 dimension" in _message(lambda: mt.zeros(3) @ mt.tensor(2.0))


@pytest.mark.parametrize("op,symbol", [("add", "+"), ("sub", "-"), ("mul", "*"), ("div", "/"),
                                       ("pow", "**")])
def test_broadcast_errors_name_op_and_both_shapes(op, symbol):
    message = _message(lambda: getattr(mt, op)(mt.ones(2, 3), mt.ones(4)))
    assert message == f"{op}: (2, 3) {symbol} (4,): shapes cannot be broadcast together"


@pytest.mark.parametrize("fn", [mt.maximum, mt.minimum])
def test_maximum_minimum_broadcast_errors(fn):
    message = _message(lambda: fn(mt.ones(2, 3), mt.ones(4)))
    assert fn.__name__ in message and "(2, 3)" in message and "(4,)" in message


def test_comparison_broadcast_error():
    assert "(2, 3)" in _message(lambda: mt.ones(2, 3) < mt.ones(4))


def test_where_error_names_three_shapes():
    assert _message(lambda: mt.where(mt.zeros(2) > 0, mt.zeros(3), mt.zeros(2))) == \
        "where: condition (2,), a (3,), b (2,): shapes cannot be broadcast together"


@pytest.mark.parametrize("fn,expected", [
    (lambda: mt.zeros(2, 3).reshape(4, 2), "reshape: cannot reshape (2, 3) (6 elements) into (4, 2)"),
    (lambda: mt.zeros(2, 3).sum(axis=2), "sum: axis 2 is out of range for a tensor with 2 dimensions"),
    (lambda: mt.zeros(2, 3).mean(axis=(0, 0)), "mean: repeated axis in (0, 0)"),
    (lambda: mt.zeros(2, 3).softmax(axis=3), "softmax: axis 3 is out of range"),
    (lambda: mt.zeros(2, 3).permute(0, 0),
     "transpose: axes (0, 0) are not a permutation of the 2 axes of a tensor of shape (2, 3)"),
    (lambda: mt.zeros(2, 3).permute(0, 5), "are not a permutation"),
    (lambda: mt.zeros(2, 3, 4).transpose(0, 5), "transpose: axis 5 is out of range"),
    (lambda: mt.zeros(2, 3).squeeze(0), "squeeze: axis 0 of shape (2, 3) has size 2, not 1"),
    (lambda: mt.zeros(2, 1).squeeze(4), "squeeze: axis 4 is out of range"),
    (lambda: mt.zeros(2, 3).unsqueeze(5), "unsqueeze: axis 5 out of range for 2-d shape (2, 3)"),
    (lambda: mt.zeros(2, 3).expand(4, 3), "expand: cannot expand (2, 3) to (4, 3)"),
    (lambda: mt.zeros(3).expand(-1, 3), "only allowed for existing axes"),
    (lambda: mt.zeros(2, 3).flatten(5), "flatten: axis 5 is out of range"),
    (lambda: mt.cat([mt.zeros(2, 3), mt.zeros(3, 2)]), "cat: shapes [(2, 3), (3, 2)] differ outside axis 0"),
    (lambda: mt.cat([mt.zeros(2, 3)], axis=2), "cat: axis 2 is out of range"),
    (lambda: mt.cat([mt.tensor(1.0)]), "cat: cannot concatenate 0-d tensors"),
    (lambda: mt.cat([]), "cat: needs at least one tensor"),
    (lambda: mt.stack([mt.zeros(2, 3), mt.zeros(3, 2)]),
     "stack: all shapes must be equal, got [(2, 3), (3, 2)]"),
    (lambda: mt.zeros(5).split([2, 2]), "split: sizes [2, 2] sum to 4, but axis 0 of shape (5,) has 5"),
    (lambda: mt.zeros(5).split(2, axis=1), "split: axis 1 is out of range"),
    (lambda: mt.zeros(2, 3)[5], "getitem: index 5 does not fit shape (2, 3)"),
    (lambda: mt.ones(1).var(ddof=1), "var: 1 elements"),
    (lambda: mt.zeros(0).max(), "max: cannot reduce an empty tensor of shape (0,)"),
    (lambda: mt.zeros(2, requires_grad=True).sum().backward(np.ones(3)),
     "backward: gradient shape (3,) != tensor shape ()"),
])
def test_shape_errors(fn, expected):
    assert expected in _message(fn)


def test_shape_errors_come_before_numpy_messages():
    for fn in (lambda: mt.ones(2, 3) + mt.ones(4), lambda: mt.ones(2, 3) @ mt.ones(4, 2)):
        message = _message(fn)
        assert "operands could not be broadcast" not in message and "mismatch" not in message


@pytest.mark.parametrize("data", ["abc", [[1, 2], [3]], [[1.0], 2.0], None, {"a": 1}, [1 + 2j],
                                  np.array(["x"]), object()])
def test_bad_data_is_a_type_error(data):
    with pytest.raises(TypeError, match="tensor|dtype"):
        mt.tensor(data)


def test_ragged_message_says_rectangular():
    assert "rectangular" in _message(lambda: mt.tensor([[1, 2], [3]]), TypeError)


def test_text_message_says_numbers():
    assert _message(lambda: mt.tensor("abc"), TypeError) == \
        "cannot make a tensor from text ('abc'); give numbers"


def test_bad_operand_type():
    assert "op input must be a Tensor, an ndarray or a number, not str" in \
        _message(lambda: mt.ones(2) + "a", TypeError)


def test_float_index_array():
    assert "integers or booleans" in _message(lambda: mt.ones(3)[np.array([0.5])], TypeError)


def test_axis_and_dim_together():
    assert "give axis or dim, not both" in _message(lambda: mt.ones(2).sum(axis=0, dim=0), TypeError)


def test_clip_without_bounds():
    assert _message(lambda: mt.ones(2).clip(), TypeError) == "clip: give at least one of min and max"


def test_split_and_chunk_sizes_must_be_positive():
    assert "must be positive" in _message(lambda: mt.ones(4).split(0), ValueError)
    assert "must be positive" in _message(lambda: mt.ones(4).chunk(0), ValueError)


def test_backward_without_gradient_needs_a_scalar():
    message = _message(lambda: (mt.ones(2, requires_grad=True) * 2).backward(), RuntimeError)
    assert "scalar" in message and "(2,)" in message and "gradient=" in message


def test_user_op_value_error_names_op_and_shapes_and_keeps_its_type():
    class Picky(mt.Function):
        @staticmethod
        def forward(ctx, a, b, mode="dot"):
            if mode != "dot":
                raise ValueError(f"unknown mode {mode!r}")
            return np.dot(a, b)

        @staticmethod
        def backward(ctx, grad):
            return None, None

    message = _message(lambda: Picky.apply(mt.ones(2, 3), mt.ones(2, 3)), ValueError)
    assert message.startswith("picky (operands of shapes (2, 3), (2, 3)): shapes (2,3) and (2,3)")
    # A bad argument is not a shape problem: it stays a plain ValueError.
    with pytest.raises(ValueError) as caught:
        Picky.apply(mt.ones(2, 3), mt.ones(3, 2), mode="cross")
    assert type(caught.value) is ValueError
    assert str(caught.value) == "picky (operands of shapes (2, 3), (3, 2)): unknown mode 'cross'"


def test_freed_graph_message():
    x = mt.ones(2, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    message = _message(y.backward, mt.GraphFreedError)
    assert "second time" in message and "retain_graph=True" in message


def test_requires_grad_on_integers_message():
    assert _message(lambda: mt.tensor([1, 2], requires_grad=True), TypeError) == (
        "only floating-point tensors can require gradients, not int64 (integer tensors serve "
        "as indices and targets)")


# ----- issue 13's engine messages and issue 11's backward errors ------------------------------
def test_an_integer_to_a_negative_integer_power_says_so():
    with pytest.raises(ValueError, match="integers to negative integer powers are not allowed"):
        mt.tensor([2, 3]) ** -1
    assert (mt.tensor([2.0, 4.0]) ** -1).tolist() == [0.5, 0.25]
    with pytest.raises(mt.ShapeError, match="shapes cannot be broadcast"):
        mt.tensor([2, 3]) ** mt.tensor([1, 2, 3])


def test_numpy_reductions_accept_a_tensor():
    x = mt.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    total = np.sum(x)
    assert isinstance(total, mt.Tensor) and total.item() == 10.0
    total.backward()
    np.testing.assert_array_equal(x.grad, np.ones((2, 2)))
    assert np.mean(x, axis=0).tolist() == [2.0, 3.0] and np.max(x).item() == 4.0
    assert np.sum(x, dtype=np.float64).dtype == np.float64
    assert np.cumsum(x, axis=1).tolist() == [[1.0, 3.0], [3.0, 7.0]]
    with pytest.raises(TypeError, match="sum: out= is not supported"):
        np.sum(x, out=np.zeros(()))


@pytest.mark.parametrize("op", ["mul", "add", "sub", "div", "maximum", "where"])
def test_a_float_tensor_keeps_its_dtype_against_an_integer_tensor(op):
    x, i = mt.ones(3), mt.tensor([1, 2, 3])
    fn = {"mul": lambda a, b: a * b, "add": lambda a, b: a + b, "sub": lambda a, b: a - b,
          "div": lambda a, b: a / b, "maximum": mt.maximum,
          "where": lambda a, b: mt.where(a > 0, a, b)}[op]
    assert fn(x, i).dtype == np.float32 and fn(i, x).dtype == np.float32
    assert fn(x.double(), i).dtype == np.float64


def test_an_error_in_a_users_backward_names_the_op_and_scope():
    class Broken(mt.Function):
        forward = staticmethod(lambda ctx, x: x * 2)

        @staticmethod
        def backward(ctx, grad):
            raise KeyError("no such gate")
    with mt.scope("lstm/l0/t3"):
        y = Broken.apply(mt.ones(2, requires_grad=True)).sum()
    with pytest.raises(KeyError, match="backward of 'broken' in scope 'lstm/l0/t3': no such gate"):
        y.backward()
