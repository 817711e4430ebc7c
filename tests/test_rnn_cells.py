"""rnn cells: names, shapes, init, the math against independent NumPy formulas, gradcheck, errors."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microtensor as mt
import rnn
from rnn import steps


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def numpy_lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh):
    gates = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    i, f, g, o = np.split(gates, 4, axis=1)
    c_new = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c_new), c_new


def numpy_gru_step(x, h, w_ih, w_hh, b_ih, b_hh):
    i_r, i_z, i_n = np.split(x @ w_ih.T + b_ih, 3, axis=1)
    h_r, h_z, h_n = np.split(h @ w_hh.T + b_hh, 3, axis=1)
    r, z = sigmoid(i_r + h_r), sigmoid(i_z + h_z)
    n = np.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h


def numpy_layer_norm(a, gamma, beta, eps=1e-5):
    return gamma * (a - a.mean(-1, keepdims=True)) / np.sqrt(a.var(-1, keepdims=True) + eps) + beta


def numpy_ln_lstm_step(x, h, c, p):
    gates = (numpy_layer_norm(x @ p["weight_ih"].T, p["ln_ih_weight"], p["ln_ih_bias"])
             + numpy_layer_norm(h @ p["weight_hh"].T, p["ln_hh_weight"], p["ln_hh_bias"])
             + p["bias"])
    i, f, g, o = np.split(gates, 4, axis=1)
    c_new = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    h_new = sigmoid(o) * np.tanh(numpy_layer_norm(c_new, p["ln_cell_weight"], p["ln_cell_bias"]))
    return h_new, c_new


def randomise(cell, seed=0):
    """Give every parameter (including layer-norm gains and shifts) random float64 values."""
    rng = np.random.default_rng(seed)
    cell.double()
    for p in cell.parameters():
        p.data[...] = rng.uniform(-0.8, 0.8, size=p.shape)
    return {n: p.data for n, p in cell.named_parameters()}


@pytest.mark.parametrize("cls, gates", [(rnn.RNNCell, 1), (rnn.LSTMCell, 4), (rnn.GRUCell, 3)])
def test_parameter_names_shapes_and_init(cls, gates):
    mt.manual_seed(0)
    cell = cls(3, 16)
    shapes = [(n, p.shape) for n, p in cell.named_parameters()]
    assert shapes == [("weight_ih", (gates * 16, 3)), ("weight_hh", (gates * 16, 16)),
                      ("bias_ih", (gates * 16,)), ("bias_hh", (gates * 16,))]
    for _, p in cell.named_parameters():
        assert p.dtype == np.float32
        assert 0.2 < np.abs(p.data).max() <= 0.25               # U(-1/sqrt(16), 1/sqrt(16))
    assert [n for n, _ in cls(3, 4, bias=False).named_parameters()] == ["weight_ih", "weight_hh"]


def test_lstm_cell_matches_numpy_formula_and_names_its_gates():
    cell = rnn.LSTMCell(3, 4)
    p = randomise(cell)
    rng = np.random.default_rng(1)
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    h1, c1 = cell(mt.tensor(x), (mt.tensor(h), mt.tensor(c)))
    h_ref, c_ref = numpy_lstm_step(x, h, c, p["weight_ih"], p["weight_hh"], p["bias_ih"],
                                   p["bias_hh"])
    np.testing.assert_allclose(h1.data, h_ref, atol=1e-12)
    np.testing.assert_allclose(c1.data, c_ref, atol=1e-12)
    x_t = mt.tensor(x, requires_grad=True)
    h1, c1 = cell(x_t)
    names = [r.name for r in mt.graph.walk(h1, c1) if r.name]
    for gate in "ifgoch":
        assert gate in names
    gate_i = next(r for r in mt.graph.walk(h1) if r.name == "i")
    assert gate_i.op == "sigmoid" and gate_i.shape == (2, 4)


def test_gru_cell_matches_numpy_formula_and_names_its_gates():
    cell = rnn.GRUCell(3, 4)
    p = randomise(cell)
    rng = np.random.default_rng(2)
    x, h = rng.standard_normal((5, 3)), rng.standard_normal((5, 4))
    h1 = cell(mt.tensor(x, requires_grad=True), mt.tensor(h))
    ref = numpy_gru_step(x, h, p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"])
    np.testing.assert_allclose(h1.data, ref, atol=1e-12)
    assert {"r", "z", "n", "h"} <= {r.name for r in mt.graph.walk(h1)}


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_cell_matches_numpy_formula(nonlinearity):
    cell = rnn.RNNCell(3, 4, nonlinearity=nonlinearity)
    p = randomise(cell)
    x, h = np.random.default_rng(3).standard_normal((2, 3)), np.ones((2, 4))
    pre = x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
    ref = np.tanh(pre) if nonlinearity == "tanh" else np.maximum(pre, 0)
    np.testing.assert_allclose(cell(mt.tensor(x), mt.tensor(h)).data, ref, atol=1e-12)


def test_layer_norm_lstm_cell_matches_numpy_formula():
    cell = rnn.LayerNormLSTMCell(3, 4)
    p = randomise(cell)
    rng = np.random.default_rng(4)
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    h1, c1 = cell(mt.tensor(x), (mt.tensor(h), mt.tensor(c)))
    h_ref, c_ref = numpy_ln_lstm_step(x, h, c, p)
    np.testing.assert_allclose(h1.data, h_ref, atol=1e-12)
    np.testing.assert_allclose(c1.data, c_ref, atol=1e-12)
    assert sorted(n for n, _ in rnn.LayerNormLSTMCell(3, 4, bias=False).named_parameters()) == \
        ["ln_cell_weight", "ln_hh_weight", "ln_ih_weight", "weight_hh", "weight_ih"]


def test_zero_state_by_default():
    cell = rnn.GRUCell(2, 3)
    x = mt.ones(4, 2)
    np.testing.assert_array_equal(cell(x).data, cell(x, mt.zeros(4, 3)).data)
    lstm = rnn.LSTMCell(2, 3)
    a, b = lstm(x), lstm(x, (mt.zeros(4, 3), mt.zeros(4, 3)))
    np.testing.assert_array_equal(a[1].data, b[1].data)


CELLS = [
    ("rnn-tanh", lambda f: rnn.RNNCell(3, 2, fused=f)),
    ("rnn-relu", lambda f: rnn.RNNCell(3, 2, nonlinearity="relu", fused=f)),
    ("lstm", lambda f: rnn.LSTMCell(3, 2, fused=f)),
    ("gru", lambda f: rnn.GRUCell(3, 2, fused=f)),
    ("gru-nobias", lambda f: rnn.GRUCell(3, 2, bias=False, fused=f)),
    ("ln-lstm", lambda f: rnn.LayerNormLSTMCell(3, 2)),
]


@pytest.mark.parametrize("name, factory", CELLS, ids=[c[0] for c in CELLS])
@pytest.mark.parametrize("fused", [False, True])
def test_gradcheck_tiny_cells(name, factory, fused):
    if fused and name == "ln-lstm":
        pytest.skip("LayerNormLSTMCell has no fused version")
    mt.manual_seed(7)
    cell = factory(fused)
    randomise(cell, seed=8)
    rng = np.random.default_rng(9)
    x = mt.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    h = mt.tensor(rng.standard_normal((2, 2)), requires_grad=True)
    names = [n for n, _ in cell.named_parameters()]
    params = list(cell.parameters())

    def bind(ps):
        # gradcheck passes perturbed copies of the parameters: make the cell use them.
        for n, p in zip(names, ps):
            cell._parameters[n] = p

    if getattr(cell, "num_states", 1) == 2:
        c = mt.tensor(rng.standard_normal((2, 2)), requires_grad=True)

        def fn(x, h, c, *ps):
            bind(ps)
            h1, c1 = cell(x, (h, c))
            return h1 * c1 + h1
        assert mt.gradcheck(fn, [x, h, c] + params)
    else:
        def fn(x, h, *ps):
            bind(ps)
            return cell(x, h)
        assert mt.gradcheck(fn, [x, h] + params)


# ----- errors -----------------------------------------------------------------------------------
def test_wrong_input_size():
    with pytest.raises(mt.ShapeError, match=r"\(batch, input_size=3\)"):
        rnn.LSTMCell(3, 4)(mt.ones(2, 5))
    with pytest.raises(mt.ShapeError, match="input_size=3"):
        rnn.GRUCell(3, 4)(mt.ones(2, 2, 3))


@pytest.mark.parametrize("cls", [rnn.RNNCell, rnn.LSTMCell, rnn.GRUCell, rnn.LayerNormLSTMCell])
def test_unbatched_cell_input_is_a_batch_of_one(cls):
    cell = cls(3, 4)
    x = mt.tensor(np.arange(3.0, dtype=np.float32))
    states = tuple(mt.tensor(np.full(4, 0.1 * (j + 1), dtype=np.float32))
                   for j in range(cell.num_states))
    hx = states if cell.num_states == 2 else states[0]
    hx_batched = tuple(s.unsqueeze(0) for s in states)
    one = cell(x, hx)
    batched = cell(x.unsqueeze(0), hx_batched if cell.num_states == 2 else hx_batched[0])
    for a, b in zip(one if cell.num_states == 2 else (one,),
                    batched if cell.num_states == 2 else (batched,)):
        assert a.shape == (4,)
        np.testing.assert_allclose(a.data, b.data[0], atol=1e-6)
    with pytest.raises(mt.ShapeError, match="unbatched states"):
        cell(x, hx_batched if cell.num_states == 2 else hx_batched[0])


def test_wrong_state():
    with pytest.raises(mt.ShapeError, match=r"\(batch=2, hidden_size=4\)"):
        rnn.GRUCell(3, 4)(mt.ones(2, 3), mt.ones(2, 5))
    with pytest.raises(TypeError, match=r"tuple of 2 tensors \(h, c\)"):
        rnn.LSTMCell(3, 4)(mt.ones(2, 3), mt.ones(2, 4))
    with pytest.raises(mt.ShapeError, match="batch=2"):
        rnn.LSTMCell(3, 4)(mt.ones(2, 3), (mt.ones(2, 4), mt.ones(1, 4)))


def test_bad_construction_and_dtype():
    with pytest.raises(ValueError, match="nonlinearity"):
        rnn.RNNCell(2, 3, nonlinearity="gelu")
    with pytest.raises(ValueError, match="input_size must be a positive integer"):
        rnn.LSTMCell(0, 3)
    with pytest.raises(TypeError, match="float64 but the parameters are float32"):
        rnn.GRUCell(2, 3)(mt.ones(1, 2, dtype="float64"))
    with pytest.raises(TypeError, match="Tensor"):
        rnn.GRUCell(2, 3)([[1.0, 2.0]])


def test_custom_cell_recipe_in_docs_runs():
    """docs/custom_cell.md cannot rot: its python blocks run in order in one namespace."""
    import contextlib
    import io
    import pathlib
    import re
    text = (pathlib.Path(__file__).resolve().parent.parent / "docs" / "custom_cell.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 3
    namespace = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for block in blocks:
            exec(compile(block, "docs/custom_cell.md", "exec"), namespace)
    # The output the page shows in a comment is the output it produces.
    assert "['weight_ih_l0', 'bias_ih_l0', 'bias_hh_l0', 'recurrent_weight_l0']" in printed.getvalue()


# ----- the stateless step functions (rnn.steps) that the cells and layers call -------------------

STEP_KINDS = {"rnn-tanh": 1, "rnn-relu": 1, "lstm": 4, "gru": 3, "ln-lstm": 4}


def _step_inputs(kind, B, In, H, bias, rng):
    """Float64 tensors (requires_grad) for one call of the step function of ``kind``."""
    G = STEP_KINDS[kind]

    def t(*shape):
        return mt.tensor(rng.uniform(-0.9, 0.9, size=shape), requires_grad=True)
    x, h, c = t(B, In), t(B, H), t(B, H)
    w_ih, w_hh = t(G * H, In), t(G * H, H)
    b_ih, b_hh = (t(G * H), t(G * H)) if bias else (None, None)
    if kind == "ln-lstm":
        norms = [(t(G * H), t(G * H) if bias else None), (t(G * H), t(G * H) if bias else None),
                 (t(H), t(H) if bias else None)]
        return x, h, c, w_ih, w_hh, b_ih, norms
    return x, h, c, w_ih, w_hh, b_ih, b_hh


def _run_step(kind, x, h, c, w_ih, w_hh, b_ih, b_hh):
    """The step's new state as one tensor (B, S*H) (gradcheck wants one output)."""
    if kind.startswith("rnn"):
        return steps.rnn_step(x, h, w_ih, w_hh, b_ih, b_hh, nonlinearity=kind[4:])
    if kind == "gru":
        return steps.gru_step(x, h, w_ih, w_hh, b_ih, b_hh)
    if kind == "lstm":
        return mt.cat(steps.lstm_step(x, (h, c), w_ih, w_hh, b_ih, b_hh), axis=1)
    return mt.cat(steps.layer_norm_lstm_step(x, (h, c), w_ih, w_hh, b_ih, *b_hh), axis=1)


@pytest.mark.parametrize("kind", sorted(STEP_KINDS))
@settings(max_examples=8, deadline=None)
@given(B=st.integers(1, 3), In=st.integers(1, 3), H=st.integers(1, 3), bias=st.booleans(),
       seed=st.integers(0, 2 ** 16))
def test_step_functions_gradcheck(kind, B, In, H, bias, seed):
    """Every input of every step function (state and weights included) against central
    differences in float64, on drawn sizes, with and without biases."""
    x, h, c, w_ih, w_hh, b_ih, rest = _step_inputs(kind, B, In, H, bias,
                                                   np.random.default_rng(seed))
    uses_c = kind in ("lstm", "ln-lstm")
    named = {"x": x, "h": h, "c": c if uses_c else None, "w_ih": w_ih, "w_hh": w_hh, "b_ih": b_ih}
    if kind == "ln-lstm":
        named.update({f"ln{j}_{part}": t for j, pair in enumerate(rest)
                      for part, t in zip(("w", "b"), pair)})
    else:
        named["b_hh"] = rest
    names = [k for k, v in named.items() if v is not None]

    def fn(*tensors):
        a = dict.fromkeys(named)
        a.update(zip(names, tensors))
        if kind == "ln-lstm":
            norms = [(a[f"ln{j}_w"], a[f"ln{j}_b"]) for j in range(3)]
            return _run_step(kind, a["x"], a["h"], a["c"], a["w_ih"], a["w_hh"], a["b_ih"], norms)
        return _run_step(kind, a["x"], a["h"], a["c"], a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"])
    assert mt.gradcheck(fn, [named[k] for k in names])


def test_step_functions_match_numpy_formulas():
    rng = np.random.default_rng(7)
    x, h, c, w_ih, w_hh, b_ih, b_hh = _step_inputs("lstm", 2, 3, 4, True, rng)
    arrays = [a.data for a in (x, h, c, w_ih, w_hh, b_ih, b_hh)]
    h1, c1 = steps.lstm_step(x, (h, c), w_ih, w_hh, b_ih, b_hh)
    h_ref, c_ref = numpy_lstm_step(*arrays)
    np.testing.assert_allclose(h1.data, h_ref, atol=1e-12)
    np.testing.assert_allclose(c1.data, c_ref, atol=1e-12)
    x, h, _, w_ih, w_hh, b_ih, b_hh = _step_inputs("gru", 2, 3, 4, True, rng)
    np.testing.assert_allclose(steps.gru_step(x, h, w_ih, w_hh, b_ih, b_hh).data,
                               numpy_gru_step(*(a.data for a in (x, h, w_ih, w_hh, b_ih, b_hh))),
                               atol=1e-12)


@pytest.mark.parametrize("cls", [rnn.RNNCell, rnn.LSTMCell, rnn.GRUCell, rnn.LayerNormLSTMCell])
def test_prepare_sequence_equals_stepping_the_cell(cls):
    """A cell's hoisted form (all inputs projected at once, the rest per step) gives the numbers
    of calling the cell step by step."""
    cell = cls(3, 4)
    randomise(cell)
    x = mt.tensor(np.random.default_rng(5).standard_normal((6, 2, 3)))
    xs, step = cell.prepare_sequence(x)
    state_a = state_b = None if cell.num_states == 1 else cell.init_state(2, np.float64)
    if state_a is None:
        state_a = state_b = mt.zeros(2, 4, dtype="float64")
    for t in range(6):
        state_a = step(xs[t], state_a)
        state_b = cell(x[t], state_b)
        for a, b in zip(state_a if isinstance(state_a, tuple) else (state_a,),
                        state_b if isinstance(state_b, tuple) else (state_b,)):
            np.testing.assert_allclose(a.data, b.data, atol=1e-12, rtol=0)
