"""The fused path (rnn.fused) equals the explicit cells to 1e-10 in float64, gradients included."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microtensor as mt
import rnn
from rnn.fused import gru_sequence, lstm_sequence, rnn_sequence

TOL = 1e-10


def run(model, kind, x_np, h0_np, c0_np, lengths, g_out, g_h):
    """Outputs, final states and all gradients of one forward/backward, as a dict."""
    x = mt.tensor(x_np, requires_grad=True)
    h0 = mt.tensor(h0_np, requires_grad=True)
    c0 = mt.tensor(c0_np, requires_grad=True)
    model.zero_grad()
    out, h_n = model(x, (h0, c0) if kind == "LSTM" else h0, lengths=lengths)
    states = h_n if kind == "LSTM" else (h_n,)
    loss = (out * mt.tensor(g_out)).sum()
    for s in states:
        loss = loss + (s * mt.tensor(g_h)).sum()
    loss.backward()
    result = {"out": out.data, "x": x.grad, "h0": h0.grad}
    result.update({f"state{j}": s.data for j, s in enumerate(states)})
    if kind == "LSTM":
        result["c0"] = c0.grad
    result.update({n: p.grad for n, p in model.named_parameters()})
    return result


@settings(max_examples=25, deadline=None)
@given(kind=st.sampled_from(["RNN", "LSTM", "GRU"]), num_layers=st.integers(1, 2),
       bidirectional=st.booleans(), batch_first=st.booleans(), bias=st.booleans(),
       relu=st.booleans(), batch=st.integers(1, 3), steps=st.integers(1, 5),
       use_lengths=st.booleans(), data=st.data())
def test_fused_layers_equal_explicit(kind, num_layers, bidirectional, batch_first, bias, relu,
                                     batch, steps, use_lengths, data):
    lengths = None
    if use_lengths:
        lengths = data.draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch))
    extra = {"nonlinearity": "relu" if relu else "tanh"} if kind == "RNN" else {}
    kwargs = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first,
                  bias=bias, **extra)
    explicit = getattr(rnn, kind)(3, 4, **kwargs).double()
    fused = getattr(rnn, kind)(3, 4, fused=True, **kwargs).double()
    fused.load_state_dict(explicit.state_dict())
    rng = np.random.default_rng(steps * 7 + batch)
    D = 2 if bidirectional else 1
    x_shape = (batch, steps, 3) if batch_first else (steps, batch, 3)
    state_shape = (num_layers * D, batch, 4)
    args = (rng.standard_normal(x_shape), rng.standard_normal(state_shape),
            rng.standard_normal(state_shape), lengths,
            rng.standard_normal(x_shape[:2] + (D * 4,)), rng.standard_normal(state_shape))
    a, b = run(explicit, kind, *args), run(fused, kind, *args)
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_allclose(b[key], a[key], rtol=0, atol=TOL, err_msg=key)


@pytest.mark.parametrize("cls", [rnn.RNNCell, rnn.LSTMCell, rnn.GRUCell])
def test_fused_cells_equal_explicit(cls):
    explicit = cls(3, 4).double()
    fused = cls(3, 4, fused=True).double()
    fused.load_state_dict(explicit.state_dict())
    rng = np.random.default_rng(0)
    x_np, h_np, c_np = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), \
        rng.standard_normal((2, 4))
    results = []
    for cell in (explicit, fused):
        x, h, c = (mt.tensor(a, requires_grad=True) for a in (x_np, h_np, c_np))
        out = cell(x, (h, c)) if cls is rnn.LSTMCell else (cell(x, h),)
        loss = sum(((o * o).sum() for o in out), mt.tensor(0.0, dtype="float64"))
        loss.backward()
        grads = [x.grad, h.grad] + [p.grad for p in cell.parameters()]
        if cls is rnn.LSTMCell:
            grads.append(c.grad)
        results.append(([o.data for o in out], grads))
    for a, b in zip(results[0][0] + results[0][1], results[1][0] + results[1][1]):
        np.testing.assert_allclose(b, a, rtol=0, atol=TOL)


def _sequence_inputs(gates, T=4, B=2, I=3, H=2, seed=0):  # noqa: E741 (the sizes' usual names)
    rng = np.random.default_rng(seed)

    def t(*shape):
        return mt.tensor(rng.uniform(-1, 1, size=shape), requires_grad=True)
    return t(T, B, I), t(B, H), t(B, H), t(gates * H, I), t(gates * H, H), t(gates * H), t(gates * H)


MASK = np.array([[1, 1], [1, 0], [1, 0], [0, 0]], dtype=bool)[:, :, None]   # lengths 3, 1


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("mask", [None, MASK], ids=["full", "masked"])
def test_gradcheck_fused_sequences(reverse, mask):
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = _sequence_inputs(4)

    def lstm(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        out, (h, c) = lstm_sequence(x, (h0, c0), w_ih, w_hh, b_ih, b_hh, mask=mask,
                                    reverse=reverse)
        return out.sum(axis=0) * h + c
    assert mt.gradcheck(lstm, [x, h0, c0, w_ih, w_hh, b_ih, b_hh])
    x, h0, _, w_ih, w_hh, b_ih, b_hh = _sequence_inputs(3, seed=1)

    def gru(x, h0, w_ih, w_hh, b_ih, b_hh):
        out, h = gru_sequence(x, h0, w_ih, w_hh, b_ih, b_hh, mask=mask, reverse=reverse)
        return out.sum(axis=0) * h
    assert mt.gradcheck(gru, [x, h0, w_ih, w_hh, b_ih, b_hh])
    x, h0, _, w_ih, w_hh, b_ih, b_hh = _sequence_inputs(1, seed=2)

    def elman(x, h0, w_ih, w_hh, b_ih, b_hh):
        out, h = rnn_sequence(x, h0, w_ih, w_hh, b_ih, b_hh, mask=mask, reverse=reverse)
        return out.sum(axis=0) * h
    assert mt.gradcheck(elman, [x, h0, w_ih, w_hh, b_ih, b_hh])


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_backward_twice_with_retain_graph(kind):
    """Backward must not modify what forward saved: a second pass gives the same gradients."""
    model = getattr(rnn, kind)(2, 3, bidirectional=True, fused=True).double()
    x = mt.tensor(np.random.default_rng(0).standard_normal((4, 2, 2)), requires_grad=True)
    out, _ = model(x, lengths=[4, 2])
    loss = (out * out).sum()
    loss.backward(retain_graph=True)
    first = {n: p.grad.copy() for n, p in model.named_parameters()}
    first_x = x.grad.copy()
    loss.backward()
    for n, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * first[n], rtol=1e-12, err_msg=n)
    np.testing.assert_allclose(x.grad, 2 * first_x, rtol=1e-12)


def test_inputs_without_gradients_and_float32():
    """Constant x and h0 (an embedding output detached, a carried state) and float32 data."""
    mt.manual_seed(0)
    explicit, fused = rnn.LSTM(3, 4), rnn.LSTM(3, 4, fused=True)
    fused.load_state_dict(explicit.state_dict())
    x = mt.randn(6, 2, 3)
    h0, c0 = mt.randn(1, 2, 4), mt.randn(1, 2, 4)
    outs = []
    for model in (explicit, fused):
        out, (h, c) = model(x, (h0, c0))
        (out.sum() + c.sum()).backward()
        assert out.dtype == np.float32 and model.weight_hh_l0.grad.dtype == np.float32
        outs.append((out.data, model.weight_hh_l0.grad, model.bias_ih_l0.grad))
    for a, b in zip(*outs):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


def test_fused_sequence_argument_errors():
    x, h0, c0, w_ih, w_hh, b_ih, _ = _sequence_inputs(4)
    with pytest.raises(ValueError, match="both bias_ih and bias_hh"):
        lstm_sequence(x, (h0, c0), w_ih, w_hh, b_ih, None)
    with pytest.raises(mt.ShapeError, match=r"\(T, B, 1\)"):
        lstm_sequence(x, (h0, c0), w_ih, w_hh, mask=np.ones((4, 2), dtype=bool))
    with pytest.raises(ValueError, match="nonlinearity"):
        rnn_sequence(x, h0, w_ih, w_hh, nonlinearity="gelu")


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("reverse", [False, True])
def test_output_is_the_kept_states_and_an_in_place_change_is_refused(kind, reverse):
    """The fused output is a view of the states backward reads (no copy, like the NumPy
    reference); changing it in place must make backward refuse, not use the changed states."""
    rng = np.random.default_rng(1)
    T, B, I, H = 4, 2, 3, 2
    G = {"RNN": 1, "LSTM": 4, "GRU": 3}[kind]
    x = mt.tensor(rng.standard_normal((T, B, I)), requires_grad=True)
    h0 = mt.tensor(rng.standard_normal((B, H)))
    weights = [mt.tensor(rng.standard_normal((G * H, n)), requires_grad=True) for n in (I, H)]
    run = {"RNN": rnn_sequence, "LSTM": lstm_sequence, "GRU": gru_sequence}[kind]
    state = (h0, mt.tensor(rng.standard_normal((B, H)))) if kind == "LSTM" else h0
    out, _ = run(x, state, *weights, reverse=reverse)
    before = out.data.copy()
    loss = out.sum()                       # (sum keeps no input: only the fused op can see it)
    with mt.no_grad():
        out.mul_(2.0)
    np.testing.assert_array_equal(out.data, 2 * before)
    with pytest.raises(RuntimeError, match=r"lstm_fused|gru_fused|rnn_fused"):
        loss.backward()


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_one_layer_fused_final_states_come_straight_from_the_op(kind):
    """With one layer and direction the fused op returns h_n (and c_n) as (1, B, H) itself: no
    reshape node between it and the layer's outputs (test_fused_layers_equal_explicit checks
    their values and gradients)."""
    model = getattr(rnn, kind)(3, 4, fused=True)
    out, h_n = model(mt.randn(5, 2, 3))
    for state in (h_n if kind == "LSTM" else (h_n,)):
        assert state.shape == (1, 2, 4)
        assert state.grad_fn is out.grad_fn
