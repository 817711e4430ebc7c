"""The backward pass: accumulation, deep graphs, grad modes, retain_graph, keep_grads, hooks,
retain_grad, detach, mt.grad, anomaly mode, graph records and freeing the graph."""
import gc
import sys
import weakref

import numpy as np
import pytest

import microtensor as mt


def f64(data, requires_grad=True, name=None):
    return mt.tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad, name=name)


# ----- accumulation -------------------------------------------------------------------------------
def test_tensor_used_many_times_accumulates():
    x = f64([0.5, -1.0, 2.0])
    total = x * 0.0
    for i in range(1, 51):
        total = total + x * float(i)
    (total * total).sum().backward()
    s = sum(range(1, 51))
    np.testing.assert_allclose(x.grad, 2 * s * s * x.data)


def test_same_tensor_as_both_operands():
    x = f64([1.5, -2.0])
    (x * x + x / x + x - x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data)


def test_fan_out_through_intermediates():
    x = f64([0.3, 0.7])
    h = x.tanh()
    y = (h * h.exp() + h.sigmoid() * h).sum()
    y.backward()
    t, dt = np.tanh(x.data), 1 - np.tanh(x.data) ** 2
    sig = 1 / (1 + np.exp(-t))
    expected = (np.exp(t) + t * np.exp(t) + sig * (1 - sig) * t + sig) * dt
    np.testing.assert_allclose(x.grad, expected)


def test_indexing_many_times_mixed_with_dense_uses_accumulates():
    # Basic and advanced indices of one tensor, dense uses before and after, an intermediate.
    x = f64(np.arange(12.0).reshape(4, 3) / 10)
    h = x * 1.0
    total = h.sum(axis=0) * 0.5
    for t in range(4):
        total = total + h[t] * float(t + 1)
    total = total + h[[0, 0, 3]].sum(axis=0) + h[h.data > 0.5].sum() + h[1:, ::2].sum()
    total = total + x[-1]
    total.sum().backward()
    expected = np.zeros((4, 3)) + 0.5
    expected += np.arange(1.0, 5.0)[:, None]
    expected[0] += 2
    expected[3] += 1
    expected[x.data > 0.5] += 3          # the masked sum is broadcast over the 3 outputs
    expected[1:, ::2] += 3
    expected[-1] += 1
    np.testing.assert_allclose(x.grad, expected)


def test_leaf_gradients_never_alias_each_other_or_the_root_gradient():
    a, b = f64([1.0, 2.0]), f64([3.0, 4.0])
    seed = np.ones(2)
    (a + b).backward(seed)
    assert a.grad is not b.grad and a.grad is not seed and b.grad is not seed
    a.grad *= 10            # an optimizer clipping a.grad in place must not touch b.grad
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])
    np.testing.assert_array_equal(seed, [1.0, 1.0])


def test_leaf_as_root_gets_a_copy_of_the_seed():
    x = f64([1.0, 2.0])
    seed = np.array([5.0, 6.0])
    x.backward(seed)
    seed[:] = 0
    np.testing.assert_array_equal(x.grad, [5.0, 6.0])


def test_gradients_accumulate_across_backward_calls():
    x = f64([1.0, 2.0])
    (x * 3).sum().backward()
    (x * 4).sum().backward()
    np.testing.assert_array_equal(x.grad, [7.0, 7.0])
    x.zero_grad_()
    assert x.grad is None


def test_constants_get_no_gradient():
    x, c = f64([1.0]), f64([2.0], requires_grad=False)
    (x * c).sum().backward()
    assert c.grad is None and x.grad is not None


# ----- deep graphs: no recursion anywhere -----------------------------------------------------------
def _low_recursion_limit():
    """Current stack depth + 150: any recursion over a graph thousands deep would overflow."""
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    return depth + 150


def test_20000_op_chain_backward_and_walk():
    old = sys.getrecursionlimit()
    x = f64([1.0, -0.5])
    y = x
    for _ in range(10_000):
        y = y * 1.0001
        y = y + 0.001
    sys.setrecursionlimit(_low_recursion_limit())
    try:
        records = mt.graph.walk(y)
        assert sum(r.op is not None for r in records) == 20_000
        y.sum().backward()
    finally:
        sys.setrecursionlimit(old)
    np.testing.assert_allclose(x.grad, [1.0001 ** 10_000] * 2, rtol=1e-9)


def _numpy_rnn_bptt(xs, Wx, Wh, b, h0):
    """Forward and hand-derived BPTT of loss = sum of the last hidden state (float64)."""
    hs = [h0]
    for x in xs:
        hs.append(np.tanh(x @ Wx + hs[-1] @ Wh + b))
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    dh = np.ones_like(h0)
    for t in range(len(xs) - 1, -1, -1):
        da = dh * (1 - hs[t + 1] ** 2)
        dWx += xs[t].T @ da
        dWh += hs[t].T @ da
        db += da.sum(axis=0)
        dh = da @ Wh.T
    return hs[-1], dWx, dWh, db, dh


def test_5000_step_unrolled_vanilla_rnn_matches_hand_written_bptt():
    rng = np.random.default_rng(0)
    steps, batch, inp, hidden = 5000, 2, 3, 4
    xs = rng.standard_normal((steps, batch, inp))
    Wx0 = rng.standard_normal((inp, hidden)) * 0.5
    Wh0 = rng.standard_normal((hidden, hidden)) * 0.4
    b0 = rng.standard_normal(hidden) * 0.1
    Wx, Wh, b = f64(Wx0), f64(Wh0), f64(b0)
    h0 = f64(np.zeros((batch, hidden)))
    h = h0
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(_low_recursion_limit())
    try:
        for t in range(steps):
            with mt.scope("rnn"), mt.scope(f"t{t}"):
                h = (mt.tensor(xs[t]) @ Wx + h @ Wh + b).tanh()
        h.sum().backward()
    finally:
        sys.setrecursionlimit(old)
    h_last, dWx, dWh, db, dh0 = _numpy_rnn_bptt(xs, Wx0, Wh0, b0, np.zeros((batch, hidden)))
    np.testing.assert_allclose(h.data, h_last, rtol=1e-10, atol=1e-12)
    for got, want in ((Wx.grad, dWx), (Wh.grad, dWh), (b.grad, db), (h0.grad, dh0)):
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10)


# ----- grad modes -------------------------------------------------------------------------------------
def test_no_grad_records_nothing_and_restores():
    x = f64([1.0])
    assert mt.is_grad_enabled()
    with mt.no_grad():
        y = x * 2
        assert not mt.is_grad_enabled()
        with mt.enable_grad():
            z = x * 2
            assert mt.is_grad_enabled()
        w = x * 2
    assert mt.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and not w.requires_grad
    assert z.requires_grad and z.grad_fn.op == "mul"


def test_grad_mode_restored_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with mt.no_grad():
            1 / 0
    assert mt.is_grad_enabled()


@pytest.mark.parametrize("flag", [True, False])
def test_set_grad_enabled(flag):
    x = f64([1.0])
    with mt.no_grad(), mt.set_grad_enabled(flag):
        y = x.exp()
    assert y.requires_grad is flag
    assert mt.is_grad_enabled()


def test_set_grad_enabled_as_a_plain_call_like_pytorch():
    x = f64([1.0])
    try:
        mt.set_grad_enabled(False)
        assert not mt.is_grad_enabled() and not (x * 2).requires_grad
    finally:
        mt.set_grad_enabled(True)
    assert mt.is_grad_enabled() and (x * 2).requires_grad


def test_grad_modes_as_decorators_act_only_around_calls():
    @mt.set_grad_enabled(False)
    def frozen(x):
        return x * 2

    @mt.enable_grad()
    def recorded(x):
        return x * 2

    assert mt.is_grad_enabled()              # decorating changed nothing
    x = f64([1.0])
    assert not frozen(x).requires_grad and mt.is_grad_enabled()
    with mt.no_grad():
        assert recorded(x).requires_grad
        assert not mt.is_grad_enabled()


def test_a_grad_mode_object_is_reentrant():
    block = mt.no_grad()
    with block:
        with mt.enable_grad():
            with block:
                assert not mt.is_grad_enabled()
            assert mt.is_grad_enabled()
        assert not mt.is_grad_enabled()
    assert mt.is_grad_enabled()


def test_backward_of_a_tensor_without_graph_is_a_clear_error():
    x = f64([1.0])
    with mt.no_grad():
        y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


# ----- retain_graph and the freed graph ---------------------------------------------------------------
def test_retain_graph_allows_a_second_backward():
    x = f64([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.copy()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * first)


def test_second_backward_through_freed_graph_says_retain_graph():
    x = f64([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"retain_graph=True") as info:
        y.backward()
    assert isinstance(info.value, mt.GraphFreedError)


def test_shared_subgraph_is_freed_by_the_first_loss():
    x = f64([1.0, 2.0])
    h = x.tanh()
    loss1, loss2 = h.sum(), (h * 2).sum()
    loss1.backward()
    with pytest.raises(mt.GraphFreedError, match="retain_graph=True"):
        loss2.backward()


def test_graph_is_freed_after_backward_no_leak():
    x = f64(np.ones((3, 3)))
    hidden = x.tanh()
    ref = weakref.ref(hidden.grad_fn)
    loss = (hidden * 2).sum()
    del hidden
    assert ref() is not None            # the loss's graph holds the tanh node before backward
    loss.backward()
    assert ref() is None                # freed by backward itself, no gc needed (no cycles)
    gc.collect()
    assert ref() is None


def test_the_graph_holds_no_activation_that_no_backward_saved():
    # `a + b` saves nothing, and `pre.tanh()` saves only its output: once the user drops `pre`,
    # its array is gone although the graph still leads through it (PyTorch's graph is the same).
    x, w = f64(np.ones((4, 4))), f64(np.ones((4, 4)))
    pre = x + w
    array, tensor = weakref.ref(pre.data), weakref.ref(pre)
    h = pre.tanh()
    saved = weakref.ref(h.data)
    del pre
    assert array() is None and tensor() is None
    records = mt.graph.walk(h.sum())
    add = next(r for r in records if r.op == "add")
    assert add.tensor.data is None and add.shape == (4, 4)
    del h
    assert saved() is not None          # tanh's backward saved it
    # Under keep_values() (for drawings) the graph keeps every value.
    with mt.keep_values():
        pre = x + w
        loss = pre.tanh().sum()
    del pre
    add = next(r for r in mt.graph.walk(loss) if r.op == "add")
    np.testing.assert_array_equal(add.tensor.data, np.full((4, 4), 2.0))
    loss.backward()
    np.testing.assert_allclose(w.grad, 1 - np.tanh(2.0) ** 2)


def test_keep_grads_keeps_the_graph_alive_for_drawing():
    x = f64(np.ones((2, 2)))
    hidden = x.tanh()
    ref = weakref.ref(hidden.grad_fn)
    loss = (hidden * 2).sum()
    del hidden
    loss.backward(keep_grads=True)
    assert ref() is not None
    tanh = next(r for r in mt.graph.walk(loss) if r.op == "tanh")
    np.testing.assert_allclose(tanh.grad, np.full((2, 2), 2.0))
    np.testing.assert_allclose(tanh.tensor.data, np.tanh(np.ones((2, 2))))   # saved: still shown
    del loss, tanh
    gc.collect()
    assert ref() is None


# ----- keep_grads and retain_grad -----------------------------------------------------------------------
def test_keep_grads_keeps_every_intermediate_gradient():
    x = f64([[0.5, -1.0]], name="x")
    W = f64([[1.0, 2.0, 0.5], [0.3, -0.2, 1.0]], name="W")
    with mt.scope("layer"):
        pre = x @ W
        h = pre.tanh()
    loss = (h * h).mean()
    loss.backward(keep_grads=True)
    dh = 2 * h.data / h.size
    np.testing.assert_allclose(loss.grad, 1.0)
    np.testing.assert_allclose(h.grad, dh)
    np.testing.assert_allclose(pre.grad, dh * (1 - h.data ** 2))
    np.testing.assert_allclose(W.grad, x.data.T @ pre.grad)
    records = mt.graph.walk(loss)
    assert all(r.grad is not None for r in records if r.tensor.requires_grad)
    assert [r.scope for r in records if r.op in ("matmul", "tanh")] == ["layer", "layer"]
    assert all(r.grad.shape == r.shape for r in records if r.grad is not None)


def test_without_keep_grads_intermediates_have_no_grad():
    x = f64([1.0])
    h = x * 2
    (h * h).sum().backward()
    assert h.grad is None and x.grad is not None


def test_retain_grad_on_an_intermediate():
    x = f64([1.0, 2.0])
    h = x * 3
    h.retain_grad()
    y = (h * h).sum()
    y.retain_grad()
    y.backward()
    np.testing.assert_allclose(h.grad, 2 * h.data)
    np.testing.assert_allclose(y.grad, 1.0)


# ----- hooks ----------------------------------------------------------------------------------------------
def test_hook_sees_the_gradient():
    x = f64([1.0, 2.0])
    h = x * 2
    seen = []
    h.register_hook(lambda g: seen.append(g.copy()))
    (h * h).sum().backward()
    np.testing.assert_allclose(seen[0], 2 * h.data)
    np.testing.assert_allclose(x.grad, 4 * h.data)


def test_hook_replacement_changes_what_flows_upstream():
    x = f64([1.0, 2.0])
    h = x * 2
    h.register_hook(lambda g: g * 0 + 1)
    (h * h).sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 2.0])


def test_hooks_run_in_order_and_chain():
    x = f64([1.0])
    x.register_hook(lambda g: g + 1)
    x.register_hook(lambda g: g * 10)
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad, [40.0])


def test_hook_can_return_a_tensor():
    x = f64([1.0])
    x.register_hook(lambda g: mt.tensor(g * 5))
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad, [15.0])


def test_hook_removal():
    x = f64([1.0])
    handle = x.register_hook(lambda g: g * 100)
    handle.remove()
    handle.remove()         # removing twice is harmless
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad, [3.0])


def test_hook_runs_once_on_the_accumulated_gradient():
    x = f64([1.0])
    calls = []
    x.register_hook(lambda g: calls.append(g.copy()))
    (x * 2 + x * 3).sum().backward()
    assert len(calls) == 1
    np.testing.assert_allclose(calls[0], [5.0])


def test_hook_on_tensor_without_grad_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        f64([1.0], requires_grad=False).register_hook(lambda g: g)


# ----- detach --------------------------------------------------------------------------------------------
def test_detach_cuts_the_graph_and_shares_data():
    x = f64([1.0, 2.0])
    h = x * 2
    d = h.detach()
    assert d.is_leaf and not d.requires_grad and d.data is h.data
    y = (d * x).sum()
    records = mt.graph.walk(y, h)
    by_tensor = {id(r.tensor): r for r in records}
    assert by_tensor[id(d)].detached_from == by_tensor[id(h)].id
    y.backward()
    np.testing.assert_allclose(x.grad, h.data)      # no gradient through d back to x


def test_detach_does_not_keep_the_source_alive():
    x = f64([1.0])
    h = x * 2
    d = h.detach()
    ref = weakref.ref(h)
    del h
    assert ref() is None and d._detached_from() is None
    assert mt.graph.walk(d)[0].detached_from is None


# ----- mt.grad ---------------------------------------------------------------------------------------------
def test_grad_returns_gradients_without_writing_dot_grad():
    x = f64([1.0, 2.0])
    w = f64([3.0, -1.0])
    h = x * w
    y = (h * h).sum()
    gx, gh = mt.grad(y, [x, h])
    np.testing.assert_allclose(gx, 2 * h.data * w.data)
    np.testing.assert_allclose(gh, 2 * h.data)
    assert x.grad is None and w.grad is None and h.grad is None


def test_grad_with_grad_outputs_and_several_outputs():
    x = f64([1.0, 2.0])
    a, b = x * 2, x.exp()
    (gx,) = mt.grad([a, b], [x], grad_outputs=[np.array([1.0, 0.0]), np.array([0.0, 1.0])])
    np.testing.assert_allclose(gx, [2.0, np.exp(2.0)])


def test_grad_unused_input():
    x, unused = f64([1.0]), f64([2.0])
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        mt.grad((x * 2).sum(), [x, unused], retain_graph=True)
    y = (x * 2).sum()
    gx, gu = mt.grad(y, [x, unused], allow_unused=True)
    assert gu is None and gx is not None


def test_grad_retain_graph():
    x = f64([2.0])
    y = (x ** 3).sum()
    assert mt.grad(y, x, retain_graph=True)[0] == pytest.approx(12.0)
    assert mt.grad(y, x)[0] == pytest.approx(12.0)
    with pytest.raises(mt.GraphFreedError):
        mt.grad(y, x)


# ----- anomaly mode ----------------------------------------------------------------------------------------
def test_anomaly_names_op_scope_and_forward():
    x = f64([-1.0, 1.0])
    with np.errstate(all="ignore"), mt.detect_anomaly(), mt.scope("lstm/l0"), mt.scope("t37"):
        with pytest.raises(mt.AnomalyError) as info:
            x.log()
    message = str(info.value)
    assert "forward" in message and "'log'" in message and "'lstm/l0/t37'" in message
    assert "NaN" in message


def test_anomaly_names_op_scope_and_backward():
    x = f64([0.0, 1.0])
    with mt.scope("rnn/t3"):
        y = x.sqrt()                      # forward is finite: sqrt(0) = 0
    loss = y.sum()
    with np.errstate(all="ignore"), mt.detect_anomaly():
        with pytest.raises(mt.AnomalyError) as info:
            loss.backward()
    message = str(info.value)
    assert "backward" in message and "'sqrt'" in message and "'rnn/t3'" in message
    assert "Inf" in message


def test_anomaly_mode_is_off_outside_the_block():
    x = f64([-1.0])
    with mt.detect_anomaly():
        pass
    with np.errstate(all="ignore"):
        assert np.isnan(x.log().data).all()


# ----- the graph as data ----------------------------------------------------------------------------------
def _program(offset):
    # Unrelated tensors made first shift the global creation counter; ids must not change.
    _ = [mt.zeros(1) for _ in range(offset)]
    x = mt.tensor([[1.0, 2.0]], requires_grad=True, name="x")
    W = mt.tensor([[0.5], [0.25]], requires_grad=True, name="W")
    with mt.scope("rnn"), mt.scope("t0"):
        h = (x @ W).tanh()
    with mt.scope("rnn"), mt.scope("t1"):
        h2 = (h * x).sigmoid()
    loss = (h2 * h2).mean()
    return loss, h


def _summary(records):
    return [(r.id, r.op, r.inputs, r.scope, r.name, r.shape, str(r.dtype), r.is_leaf)
            for r in records]


def test_walk_ids_are_stable_across_runs():
    loss_a, h_a = _program(0)
    loss_b, h_b = _program(7)
    assert _summary(mt.graph.walk(loss_a)) == _summary(mt.graph.walk(loss_b))
    # The order of the roots does not matter either.
    assert _summary(mt.graph.walk(loss_a, h_a)) == _summary(mt.graph.walk(h_a, loss_a))


def test_walk_records_scopes_names_and_inputs():
    loss, _ = _program(0)
    records = mt.graph.walk(loss)
    assert [r.op for r in records] == [None, None, "matmul", "tanh", "mul", "sigmoid", "mul",
                                       "mean"]
    assert records[0].name == "x" and records[1].name == "W"
    assert records[2].inputs == (0, 1) and records[2].scope == "rnn/t0"
    assert records[5].scope == "rnn/t1" and records[7].scope == ""
    for r in records:                       # topological: inputs come first
        assert all(i < r.id for i in r.inputs)


def test_topological_order_puts_inputs_first():
    x = f64([1.0])
    y = x * 2
    z = y + x
    order = mt.graph.topological_order([z])
    position = {id(v): i for i, v in enumerate(order)}
    vertex = mt.graph.vertex_of
    assert position[id(x)] < position[id(vertex(y))] < position[id(vertex(z))]


def test_scope_nesting_and_current_scope():
    assert mt.current_scope() == ""
    with mt.scope("a"):
        with mt.scope("b/c"):
            assert mt.current_scope() == "a/b/c"
            y = mt.ones(1, requires_grad=True) * 2
        assert mt.current_scope() == "a"
    assert mt.current_scope() == ""
    assert y.grad_fn.scope == "a/b/c"
    with pytest.raises(ValueError):
        with mt.scope(""):
            pass


def test_user_visible_gradients_are_plain_ndarrays():
    # Whatever the backward pass uses internally (lazy or sparse gradients), hooks, mt.grad,
    # .grad and the kept intermediate gradients are ordinary ndarrays of the right shape.
    rng = np.random.default_rng(1)
    W, x = f64(rng.standard_normal((3, 3))), f64(rng.standard_normal((4, 3)))
    seen = []
    W.register_hook(lambda g: seen.append(g))
    h = (x @ W).tanh()
    h2 = h @ W @ W.T
    y = h2[0].sum() + h2[[1, 1, 3]].sum() + h2[h2.data > 0].sum()
    grads = mt.grad(y, [W, x, h], retain_graph=True)
    y.backward(keep_grads=True)
    kept = [r.grad for r in mt.graph.walk(y) if r.tensor.requires_grad]
    for g in list(grads) + seen + kept:
        assert type(g) is np.ndarray
    np.testing.assert_allclose(grads[0], W.grad)
    np.testing.assert_allclose(grads[1], x.grad)
    np.testing.assert_allclose(grads[2], h.grad)
    assert mt.gradcheck(lambda W, x: ((x @ W).tanh() @ W @ W.T)[[1, 1, 3]].sum(), [W, x])
