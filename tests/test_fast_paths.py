"""The engine's performance paths give exactly the gradients of the plain ones.

Sparse indexing gradients (IndexedGrad), weight gradients multiplied late (OuterGrad), in-place
accumulation into buffers the backward pass owns, and the few-rows matmul formulation are each
compared with a dense NumPy computation of the same gradient.
"""
import numpy as np
import pytest

import microtensor as mt
from microtensor.extend import IndexedGrad, OuterGrad


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def test_indexing_every_step_of_a_sequence_accumulates_like_dense_gradients():
    x = mt.tensor(_rand(6, 3, 4), requires_grad=True)
    weights = _rand(6, 3, 4, seed=1)
    total = None
    for t in range(6):
        term = (x[t] * mt.tensor(weights[t])).sum() + x[t, 1:, ::2].sum()
        total = term if total is None else total + term
    total.backward()
    expected = weights.copy()
    expected[:, 1:, ::2] += 1
    np.testing.assert_allclose(x.grad, expected, rtol=1e-12)


def test_repeated_advanced_indices_still_accumulate():
    x = mt.tensor(_rand(5), requires_grad=True)
    (x[np.array([1, 1, 3])].sum() + x[1] * 2).backward()
    np.testing.assert_array_equal(x.grad, [0, 4, 0, 1, 0])


def test_weight_used_at_every_step_through_transpose_gets_the_summed_gradient():
    w = mt.tensor(_rand(5, 3), requires_grad=True)          # (out, in) like weight_hh
    xs = [_rand(2, 3, seed=s) for s in range(4)]
    gs = [_rand(2, 5, seed=10 + s) for s in range(4)]
    loss = sum((mt.tensor(x) @ w.T * mt.tensor(g)).sum() for x, g in zip(xs, gs))
    loss.backward()
    expected = sum(g.T @ x for x, g in zip(xs, gs))
    np.testing.assert_allclose(w.grad, expected, rtol=1e-12)


def test_weight_used_both_transposed_and_not_and_in_an_elementwise_op():
    w = mt.tensor(_rand(3, 3), requires_grad=True)
    a, b = _rand(2, 3, seed=1), _rand(2, 3, seed=2)
    loss = (mt.tensor(a) @ w).sum() + (mt.tensor(b) @ w.T).sum() + (w * w).sum()
    loss.backward()
    ones = np.ones((2, 3))
    expected = a.T @ ones + (b.T @ ones).T + 2 * w.data
    np.testing.assert_allclose(w.grad, expected, rtol=1e-12)


def test_outer_grad_partial_sums_when_pending_factors_exceed_the_bound(monkeypatch):
    monkeypatch.setattr(OuterGrad, "max_pending", 40)       # flush after ~2 terms
    w = mt.tensor(_rand(4, 3), requires_grad=True)
    xs = [_rand(2, 3, seed=s) for s in range(7)]
    loss = sum((mt.tensor(x) @ w.T).sum() for x in xs)
    loss.backward()
    expected = sum(np.ones((2, 4)).T @ x for x in xs)         # d/dW of sum(x @ W.T)
    np.testing.assert_allclose(w.grad, expected, rtol=1e-12)


def test_hooks_and_kept_grads_see_plain_ndarrays():
    w = mt.tensor(_rand(4, 3), requires_grad=True)
    wt = w.T
    seen = []
    wt.register_hook(lambda g: seen.append(type(g)))
    x = mt.tensor(_rand(2, 3))
    (x @ wt).sum().backward(keep_grads=True)
    assert seen == [np.ndarray]
    assert type(wt.grad) is np.ndarray and type(w.grad) is np.ndarray
    captured = mt.grad((mt.tensor(_rand(2, 3)) @ w.T).sum(), w)[0]
    assert type(captured) is np.ndarray


def test_in_place_accumulation_never_writes_into_an_array_someone_else_holds():
    x = mt.tensor(_rand(3), requires_grad=True)
    h = x * 1.0
    h.retain_grad()
    y = h + h + h + h                                       # add passes `grad` through (aliases)
    y.backward(mt.tensor(np.full(3, 2.0)))
    np.testing.assert_array_equal(h.grad, np.full(3, 8.0))
    np.testing.assert_array_equal(x.grad, np.full(3, 8.0))
    assert not np.shares_memory(h.grad, x.grad)


def test_leaf_gradient_accumulates_across_backward_calls():
    w = mt.tensor(_rand(2, 2), requires_grad=True)
    for _ in range(3):
        (mt.tensor(np.ones((1, 2))) @ w.T).sum().backward()
    np.testing.assert_allclose(w.grad, np.full((2, 2), 3.0))


@pytest.mark.parametrize("rows", [1, 16, 200])
def test_few_rows_matmul_against_a_transposed_weight_gives_numpys_numbers(rows):
    x = _rand(rows, 8).astype(np.float32)
    w = _rand(12, 8, seed=3).astype(np.float32)
    out = mt.tensor(x) @ mt.tensor(w).T
    np.testing.assert_allclose(out.data, x @ w.T, rtol=1e-5, atol=1e-6)
    assert out.dtype == np.float32 and out.shape == (rows, 12)


def test_indexed_and_outer_grads_to_dense():
    g = IndexedGrad((3,), (np.array([0, 0, 2]),), np.array([1.0, 2.0, 5.0]), advanced=True)
    np.testing.assert_array_equal(g.to_dense(), [3.0, 0.0, 5.0])
    a, b = _rand(4, 2), _rand(4, 3, seed=1)
    outer = OuterGrad([a[:2]], [b[:2]]).copy()
    outer.extend(OuterGrad([a[2:]], [b[2:]]))
    np.testing.assert_allclose(outer.to_dense(), a.T @ b, rtol=1e-12)
    np.testing.assert_allclose(outer.transpose((1, 0)).to_dense(), b.T @ a, rtol=1e-12)


def test_backward_pauses_the_cyclic_collector_only_while_it_runs():
    import gc

    class Probe(mt.Function):
        seen = []

        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, grad):
            Probe.seen.append(gc.isenabled())
            return grad

    class Broken(Probe):
        @staticmethod
        def backward(ctx, grad):
            raise ValueError("boom")

    x = mt.ones(2, requires_grad=True)
    assert gc.isenabled()
    Probe.apply(x).sum().backward()
    assert Probe.seen == [False] and gc.isenabled()
    with pytest.raises(ValueError, match="backward of 'broken'"):
        Broken.apply(x).sum().backward()
    assert gc.isenabled()
    gc.disable()                    # a caller that keeps it off finds it off afterwards
    try:
        Probe.apply(x).sum().backward()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_engine_runs_exactly_the_schedule_backward_steps_describes():
    # The engine builds its schedule on the fly (a heap of tensors that got a gradient); the
    # public description is graph.backward_steps. Both must give the same order, multi-output
    # ops included, with a tensor used by several consumers and an unused split piece.
    order = []
    x = mt.tensor(np.linspace(-1, 1, 8), requires_grad=True)
    w = mt.tensor(np.linspace(0.5, 1.5, 8), requires_grad=True)
    a, b, c, d = (x * w).split(2)
    h = (a * b).tanh() + a.sigmoid() * c
    loss = (h * h).sum() + a.sum()
    records = mt.graph.walk(loss)
    for r in records:
        if r.requires_grad:
            r.tensor.register_hook(lambda g, i=r.id: order.append(i))
    expected = mt.graph.backward_order(loss)
    loss.backward()
    assert order == expected and len(order) == len(set(order))
    unused = [r.id for r in records if r.op == "split" and r.output_index == 3]
    assert unused and unused[0] not in order


def test_gc_paused_is_reentrant_and_restores_on_error():
    import gc
    with mt.gc_paused():
        with mt.gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()          # the inner block leaves it as the outer one set it
    assert gc.isenabled()
    with pytest.raises(KeyError):
        with mt.gc_paused():
            raise KeyError("x")
    assert gc.isenabled()
