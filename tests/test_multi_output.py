"""Ops with several outputs: one node, one gradient per output, integer outputs without gradient;
split/chunk as one such node; walk()'s node_id/output_index/num_outputs and backward_order()."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import microtensor as mt
from microtensor.testing import arrays


def f64(data, requires_grad=True, name=None):
    return mt.tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad, name=name)


class MaxWithIndex(mt.Function):
    """(values, argmax) along axis 1: the issue's two-output op."""

    @staticmethod
    def forward(ctx, x):
        index = np.argmax(x, axis=1)
        ctx.shape, ctx.index = x.shape, index
        return x[np.arange(x.shape[0]), index], index

    @staticmethod
    def backward(ctx, grad_values, grad_index):
        assert grad_index is None               # an integer output takes no gradient
        out = np.zeros(ctx.shape, dtype=grad_values.dtype)
        out[np.arange(ctx.shape[0]), ctx.index] = grad_values
        return out


class SumAndSquares(mt.Function):
    """Two float outputs of different shapes: x.sum() and x * x."""
    seen = []

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sum(x), x * x

    @staticmethod
    def backward(ctx, grad_sum, grad_squares):
        (x,) = ctx.saved_tensors
        SumAndSquares.seen.append((grad_sum.copy(), grad_squares.copy()))
        return grad_sum + 2 * x * grad_squares


def test_two_output_op_keeps_the_integer_output_and_backpropagates():
    x = f64([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    values, index = MaxWithIndex.apply(x)
    assert index.dtype == np.int64 and index.tolist() == [1, 0]   # not cast to float
    assert not index.requires_grad and values.requires_grad
    assert values.grad_fn is index.grad_fn
    (values * f64([10.0, 20.0], requires_grad=False)).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 10, 0], [20, 0, 0]])


def test_outputs_of_unequal_shapes_and_an_unused_output_gets_zeros():
    SumAndSquares.seen.clear()
    x = f64([1.0, 2.0, 3.0])
    total, squares = SumAndSquares.apply(x)
    assert total.shape == () and squares.shape == (3,)
    (squares * 1.0).sum().backward()                 # `total` is not used
    grad_sum, grad_squares = SumAndSquares.seen[-1]
    assert grad_sum.shape == () and grad_sum == 0    # PyTorch's default for an unused output
    np.testing.assert_array_equal(grad_squares, [1, 1, 1])
    np.testing.assert_array_equal(x.grad, [2, 4, 6])


def test_both_outputs_used_match_finite_differences():
    x = mt.tensor(np.random.default_rng(0).normal(size=(4,)), requires_grad=True)

    def fn(x):
        total, squares = SumAndSquares.apply(x)
        return (total * squares).tanh()
    assert mt.gradcheck(fn, [x])


def test_backward_runs_once_per_node_also_when_outputs_are_reached_separately():
    SumAndSquares.seen.clear()
    x = f64([1.0, -2.0])
    total, squares = SumAndSquares.apply(x)
    loss = (total * 3.0) + squares.sum() * total.detach()   # both outputs, far apart in the graph
    loss.backward()
    assert len(SumAndSquares.seen) == 1
    np.testing.assert_allclose(x.grad, 3.0 + 2 * x.data * (-1.0))


def test_hooks_retain_grad_keep_grads_and_grad_on_outputs():
    x = f64([1.0, 2.0, 3.0, 4.0])
    a, b = x.split(2)
    seen = []
    b.register_hook(lambda g: seen.append(g.copy()))
    a.retain_grad()
    loss = (a * 2.0).sum() + (b * b).sum()
    loss.backward(retain_graph=True)
    np.testing.assert_array_equal(seen[0], [6.0, 8.0])
    np.testing.assert_array_equal(a.grad, [2.0, 2.0])
    assert b.grad is None                               # neither kept nor retained
    (gb,) = mt.grad(loss, [b], retain_graph=True)
    np.testing.assert_array_equal(gb, [6.0, 8.0])
    x.grad = None
    loss.backward(keep_grads=True)
    np.testing.assert_array_equal(b.grad, [6.0, 8.0])
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 6.0, 8.0])


def test_a_freed_multi_output_node_says_so():
    x = f64([1.0, 2.0])
    a, b = x.split(1)
    loss = (a * b).sum()
    loss.backward()
    with pytest.raises(mt.GraphFreedError):
        (a * b).sum().backward()


def test_no_grad_records_nothing():
    x = f64([1.0, 2.0])
    with mt.no_grad():
        a, b = x.split(1)
    assert a.grad_fn is None and not a.requires_grad


@pytest.mark.parametrize("returned, message", [
    (lambda x: 3.0, "forward returned float"),
    (lambda x: mt.tensor(x), "forward returned a Tensor"),
    (lambda x: (x, 2.0), r"forward returned float \(output 1\)"),
    (lambda x: (), "forward returned an empty tuple"),
    (lambda x: np.array(["a"]), "forward returned an array of dtype <U1"),
    (lambda x: [x, x], "forward returned list"),
])
def test_a_bad_forward_result_is_a_clear_error_naming_the_op(returned, message):
    class Odd(mt.Function):
        forward = staticmethod(lambda ctx, x: returned(x))
        backward = staticmethod(lambda ctx, grad: grad)
    with pytest.raises(TypeError, match="odd: " + message):
        Odd.apply(f64([1.0, 2.0]))


def test_backward_returning_the_wrong_number_of_gradients_names_the_op():
    class TwoIn(mt.Function):
        forward = staticmethod(lambda ctx, a, b: (a + b, a - b))
        backward = staticmethod(lambda ctx, ga, gb: ga + gb)     # one gradient, two inputs
    s, d = TwoIn.apply(f64([1.0]), f64([2.0]))
    with pytest.raises(RuntimeError, match="backward of 'twoin' returned 1 gradients for 2 inputs"):
        (s + d).sum().backward()


# ----- split / chunk as one node ------------------------------------------------------------------
def test_split_is_one_node_with_named_outputs():
    gates = mt.zeros(2, 8, requires_grad=True)
    with mt.scope("lstm/l0/t0"):
        i, f, g, o = gates.chunk(4, axis=1)
    for t, name in zip((i, f, g, o), "ifgo"):
        t.name = name
    assert len({id(t.grad_fn) for t in (i, f, g, o)}) == 1
    records = mt.graph.walk(i * f + g * o)
    split = [r for r in records if r.op == "split"]
    assert [r.name for r in split] == list("ifgo")
    assert [r.output_index for r in split] == [0, 1, 2, 3]
    assert {r.node_id for r in split} == {split[0].id} and {r.num_outputs for r in split} == {4}
    assert all(r.scope == "lstm/l0/t0" and r.inputs == (0,) for r in split)
    others = [r for r in records if r.op != "split"]
    assert all(r.node_id == r.id and r.output_index == 0 and r.num_outputs == 1 for r in others)


def test_walk_shows_every_live_output_once_one_is_reached():
    x = mt.ones(6, requires_grad=True)
    a, b, c = x.split(2)
    records = mt.graph.walk(b * 2.0)
    assert [r.op for r in records] == [None, "split", "split", "split", None, "mul"]
    assert [r.output_index for r in records if r.op == "split"] == [0, 1, 2]


# Values kept away from 0: near a subnormal such as 5e-324, the engine's product order and the
# expected 2 * p * w round differently in the last representable bit, which says nothing of split.
@given(arrays(shape=st.sampled_from([(6,), (3, 4), (2, 6, 1)]), avoid=(0,), dtype=np.float64),
       st.data())
def test_split_pieces_used_in_any_combination_match_numpy(data, draw):
    axis = draw.draw(st.integers(0, data.ndim - 1))
    length = data.shape[axis]
    cut = draw.draw(st.integers(0, length))
    weights = draw.draw(st.lists(st.sampled_from([0.0, 1.0, -2.5]), min_size=2, max_size=2))
    x = mt.tensor(data, requires_grad=True)
    pieces = x.split([cut, length - cut], axis=axis)
    for piece, expected in zip(pieces, np.split(data, [cut], axis=axis)):
        np.testing.assert_array_equal(piece.data, expected)
    loss = sum(((p * p) * w).sum() for p, w in zip(pieces, weights) if w)
    if not isinstance(loss, mt.Tensor):
        return
    loss.backward()
    scale = np.concatenate([np.full(p.shape, w) for p, w in zip(pieces, weights)], axis=axis)
    np.testing.assert_allclose(x.grad, 2 * data * scale)


# ----- the order backward visits the graph --------------------------------------------------------
def _hook_order(records):
    """Register a hook on every tensor that takes part in backward; return the ids they fire in."""
    fired = []
    for r in records:
        if r.requires_grad:
            r.tensor.register_hook(lambda g, rid=r.id: fired.append(rid))
    return fired


def test_backward_order_is_the_order_backward_visits_the_graph():
    x = f64([1.0, 2.0, 3.0, 4.0], name="x")
    w = f64([0.5, -1.0], name="w")
    a, b = x.split(2)
    h = (a * w).tanh() + b.sigmoid() * w
    loss = (h * h).sum() + a.sum()
    records = mt.graph.walk(loss)
    order = mt.graph.backward_order(loss)
    fired = _hook_order(records)
    loss.backward()
    assert fired == order
    assert order[0] == records[-1].id
    assert sorted(order) == [r.id for r in records if r.requires_grad]


def test_backward_order_of_an_lstm_matches_its_backward():
    rnn = pytest.importorskip("rnn")
    mt.manual_seed(0)
    lstm = rnn.LSTM(3, 4, num_layers=2)
    out, (h, c) = lstm(mt.randn(5, 2, 3))
    loss = out.sum() + c.sum()
    records = mt.graph.walk(loss)
    order = mt.graph.backward_order(loss)
    fired = _hook_order(records)
    loss.backward()
    assert fired == order and len(order) > 100


def test_a_ten_thousand_step_chain_of_splits_backpropagates():
    x = f64(np.ones(2))
    h = x
    for _ in range(10_000):
        a, b = h.split(1)
        h = mt.cat([b, a]) * 1.0
    h.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])
