"""rnn.RNN / LSTM / GRU / Recurrent: shapes, names, scopes, lengths, dropout, errors, long unrolls."""
import numpy as np
import pytest

import microtensor as mt
import rnn

KINDS = ["RNN", "LSTM", "GRU"]


def make(kind, *args, **kwargs):
    return getattr(rnn, kind)(*args, **kwargs).double()


def final_hidden(kind, h_n):
    return h_n[0] if kind == "LSTM" else h_n


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_output_shapes(kind, batch_first, bidirectional):
    model = make(kind, 3, 4, num_layers=2, batch_first=batch_first, bidirectional=bidirectional)
    T, B, D = 5, 2, 2 if bidirectional else 1
    x = mt.zeros(*((B, T, 3) if batch_first else (T, B, 3)), dtype="float64")
    out, h_n = model(x)
    assert out.shape == ((B, T, D * 4) if batch_first else (T, B, D * 4))
    states = h_n if kind == "LSTM" else (h_n,)
    assert all(s.shape == (2 * D, B, 4) for s in states)


@pytest.mark.parametrize("kind, gates", [("RNN", 1), ("LSTM", 4), ("GRU", 3)])
def test_parameter_names_and_shapes_are_pytorchs(kind, gates):
    model = getattr(rnn, kind)(3, 5, num_layers=2, bidirectional=True)
    expected = []
    for k in range(2):
        for suffix in ("", "_reverse"):
            in_size = 3 if k == 0 else 10
            expected += [(f"weight_ih_l{k}{suffix}", (gates * 5, in_size)),
                         (f"weight_hh_l{k}{suffix}", (gates * 5, 5)),
                         (f"bias_ih_l{k}{suffix}", (gates * 5,)),
                         (f"bias_hh_l{k}{suffix}", (gates * 5,))]
    assert [(n, p.shape) for n, p in model.named_parameters()] == expected
    no_bias = getattr(rnn, kind)(3, 5, bias=False)
    assert [n for n, _ in no_bias.named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]


def test_initialisation_uses_the_global_seed():
    mt.manual_seed(3)
    a = rnn.GRU(2, 3).state_dict()
    mt.manual_seed(3)
    b = rnn.GRU(2, 3).state_dict()
    c = rnn.GRU(2, 3).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["weight_hh_l0"], c["weight_hh_l0"])


def test_every_step_runs_in_its_scope():
    model = rnn.LSTM(2, 3, num_layers=2, bidirectional=True, name="enc")
    out, (h_n, c_n) = model(mt.ones(3, 1, 2))
    out.sum().backward(keep_grads=True)
    records = mt.graph.walk(out)
    scopes = {r.scope for r in records if r.op is not None}
    for k in range(2):
        for t in range(3):
            assert f"enc/l{k}/t{t}" in scopes
            assert f"enc/l{k}/reverse/t{t}" in scopes
    # The gates are named nodes inside their step's scope.
    names = {(r.scope, r.name) for r in records}
    for gate in "ifgoch":
        assert ("enc/l1/reverse/t2", gate) in names
    assert rnn.LSTM(2, 3).name == "lstm" and rnn.GRU(2, 3).name == "gru"


def test_fused_layer_runs_in_a_scope_per_layer_and_direction():
    model = rnn.GRU(2, 3, num_layers=2, bidirectional=True, fused=True)
    out, _ = model(mt.ones(3, 1, 2))
    ops = {(r.scope, r.op) for r in mt.graph.walk(out)}
    for scope in ("gru/l0", "gru/l0/reverse", "gru/l1", "gru/l1/reverse"):
        assert (scope, "gru_fused") in ops


def test_batch_first_equals_time_major():
    mt.manual_seed(0)
    a = make("LSTM", 3, 4, num_layers=2, bidirectional=True)
    b = make("LSTM", 3, 4, num_layers=2, bidirectional=True, batch_first=True)
    b.load_state_dict(a.state_dict())
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    out_a, (h_a, _) = a(mt.tensor(x))
    out_b, (h_b, _) = b(mt.tensor(x.transpose(1, 0, 2)))
    np.testing.assert_allclose(out_b.data, out_a.data.transpose(1, 0, 2), atol=1e-12)
    np.testing.assert_allclose(h_b.data, h_a.data, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fused", [False, True])
def test_lengths_equal_running_each_sequence_alone(kind, fused):
    """A padded batch with lengths == each sequence run alone: outputs, states and all grads."""
    mt.manual_seed(1)
    model = make(kind, 2, 3, num_layers=2, bidirectional=True, fused=fused)
    rng = np.random.default_rng(2)
    T, lengths = 5, [5, 2, 3]
    B = len(lengths)
    x_np = rng.standard_normal((T, B, 2))
    g_out = rng.standard_normal((T, B, 6))
    g_h = rng.standard_normal((4, B, 3))
    x = mt.tensor(x_np, requires_grad=True)
    out, h_n = model(x, lengths=np.array(lengths))
    h_n = final_hidden(kind, h_n)
    ((out * mt.tensor(g_out)).sum() + (h_n * mt.tensor(g_h)).sum()).backward()
    batch_grads = {n: p.grad.copy() for n, p in model.named_parameters()}
    np.testing.assert_array_equal(out.data[3:, 2], 0)          # zero past a length
    np.testing.assert_array_equal(x.grad[2:, 1], 0)            # padded steps get no gradient
    summed = {n: 0 for n in batch_grads}
    for b, n in enumerate(lengths):
        model.zero_grad()
        xb = mt.tensor(x_np[:n, b:b + 1], requires_grad=True)
        out_b, h_b = model(xb)
        h_b = final_hidden(kind, h_b)
        ((out_b * mt.tensor(g_out[:n, b:b + 1])).sum()
         + (h_b * mt.tensor(g_h[:, b:b + 1])).sum()).backward()
        np.testing.assert_allclose(out.data[:n, b:b + 1], out_b.data, atol=1e-12)
        np.testing.assert_allclose(h_n.data[:, b:b + 1], h_b.data, atol=1e-12)
        np.testing.assert_allclose(x.grad[:n, b:b + 1], xb.grad, atol=1e-12)
        for name, p in model.named_parameters():
            summed[name] = summed[name] + p.grad
    for name in batch_grads:
        np.testing.assert_allclose(batch_grads[name], summed[name], atol=1e-12, err_msg=name)


def test_lengths_equal_to_sequence_length_change_nothing():
    model = make("GRU", 2, 3, bidirectional=True)
    x = mt.tensor(np.random.default_rng(0).standard_normal((4, 2, 2)))
    out_a, h_a = model(x)
    out_b, h_b = model(x, lengths=[4, 4])
    np.testing.assert_array_equal(out_a.data, out_b.data)
    np.testing.assert_array_equal(h_a.data, h_b.data)


def test_initial_state_is_used_and_gets_gradients():
    model = make("LSTM", 2, 3, num_layers=2)
    x = mt.tensor(np.ones((3, 2, 2)))
    h0 = mt.tensor(np.full((2, 2, 3), 0.5), requires_grad=True)
    c0 = mt.tensor(np.full((2, 2, 3), -0.5), requires_grad=True)
    out_zero, _ = model(x)
    out, (h_n, c_n) = model(x, (h0, c0))
    assert not np.allclose(out.data, out_zero.data)
    (out.sum() + c_n.sum()).backward()
    assert h0.grad.shape == (2, 2, 3) and np.abs(h0.grad).min() > 0
    assert np.abs(c0.grad).min() > 0


def test_dropout_between_layers_only_in_training():
    mt.manual_seed(0)
    model = make("GRU", 3, 8, num_layers=2, dropout=0.5)
    x = mt.tensor(np.random.default_rng(0).standard_normal((4, 2, 3)))
    model.eval()
    a, _ = model(x)
    b, _ = model(x)
    np.testing.assert_array_equal(a.data, b.data)               # eval: deterministic
    model.train()
    mt.manual_seed(5)
    c, _ = model(x)
    mt.manual_seed(5)
    d, _ = model(x)
    e, _ = model(x)
    np.testing.assert_array_equal(c.data, d.data)               # reproducible from the seed
    assert not np.allclose(c.data, a.data)                      # dropout changed layer 1's input
    assert not np.allclose(c.data, e.data)
    with pytest.warns(UserWarning, match="no effect with num_layers=1"):
        single = make("GRU", 3, 8, num_layers=1, dropout=0.5)   # no layer after the last
    np.testing.assert_array_equal(single(x)[0].data, single.eval()(x)[0].data)


def test_dropout_scales_kept_units():
    model = make("RNN", 1, 1)
    model.dropout = 0.25
    x = mt.ones(200, 50, 1, dtype="float64")
    y = model._dropout(x).data
    assert set(np.unique(y).round(6)) <= {0.0, round(1 / 0.75, 6)}
    assert abs((y == 0).mean() - 0.25) < 0.03


def test_custom_cell_plugs_into_the_generic_layer():
    layer = rnn.Recurrent(rnn.LayerNormLSTMCell, 3, 4, num_layers=2, bidirectional=True,
                          name="ln")
    names = [n for n, _ in layer.named_parameters()]
    assert "ln_cell_weight_l1_reverse" in names and "weight_ih_l0" in names
    assert layer.num_states == 2
    x = mt.tensor(np.random.default_rng(0).standard_normal((3, 2, 3)).astype(np.float32),
                  requires_grad=True)
    out, (h_n, c_n) = layer(x, lengths=[3, 1])
    assert out.shape == (3, 2, 8) and h_n.shape == (4, 2, 4)
    out.sum().backward()
    assert all(p.grad is not None for p in layer.parameters())
    # The layer's copy and the cell's parameter are the same object, even after replacement.
    layer.weight_hh_l0 = mt.nn.Parameter(np.zeros((16, 4), dtype=np.float32))
    assert layer.cells()[0].weight_hh is layer.weight_hh_l0
    with pytest.raises(ValueError, match="fused_sequence"):
        rnn.Recurrent(rnn.LayerNormLSTMCell, 3, 4, fused=True)


def test_state_dict_round_trip_and_dtype_conversion():
    a, b = rnn.LSTM(2, 3, num_layers=2), rnn.LSTM(2, 3, num_layers=2)
    b.load_state_dict(a.state_dict())
    x = mt.ones(4, 1, 2)
    np.testing.assert_array_equal(a(x)[0].data, b(x)[0].data)
    b.double()
    assert b(mt.ones(4, 1, 2, dtype="float64"))[0].dtype == np.float64


def test_repr_names_the_settings():
    text = repr(rnn.LSTM(3, 4, num_layers=2, bidirectional=True))
    assert text == "LSTM(3, 4, num_layers=2, bidirectional=True)"
    assert "nonlinearity='relu'" in repr(rnn.RNN(1, 2, nonlinearity="relu"))


def test_long_unroll_backpropagates():
    """5,000 steps: the iterative engine must not hit a recursion limit."""
    model = make("RNN", 1, 2)
    x = mt.tensor(np.full((5000, 1, 1), 0.01), requires_grad=True)
    out, h_n = model(x)
    h_n.sum().backward()
    assert x.grad.shape == (5000, 1, 1) and np.isfinite(x.grad).all()
    assert np.abs(x.grad[-1]).max() > 0


# ----- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_wrong_input_feature_size(kind):
    with pytest.raises(mt.ShapeError, match="input_size=3"):
        make(kind, 3, 4)(mt.zeros(5, 2, 2, dtype="float64"))
    with pytest.raises(mt.ShapeError, match="3-d input"):
        make(kind, 3, 4)(mt.zeros(5, 1, 2, 3, dtype="float64"))
    with pytest.raises(mt.ShapeError, match="input_size=3"):
        make(kind, 3, 4)(mt.zeros(5, 2, dtype="float64"))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fused", [False, True])
def test_unbatched_input_is_a_batch_of_one(kind, fused):
    model = make(kind, 3, 4, num_layers=2, bidirectional=True, batch_first=True, fused=fused)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3))
    states = [rng.standard_normal((4, 4)) for _ in range(2 if kind == "LSTM" else 1)]
    hx = tuple(mt.tensor(s) for s in states) if kind == "LSTM" else mt.tensor(states[0])
    out, h_n = model(mt.tensor(x), hx)
    hx_batched = tuple(mt.tensor(s[:, None]) for s in states)
    out_b, h_b = model(mt.tensor(x[None]), hx_batched if kind == "LSTM" else hx_batched[0])
    assert out.shape == (5, 8)
    np.testing.assert_allclose(out.data, out_b.data[0], atol=1e-12)
    for a, b in zip(h_n if kind == "LSTM" else (h_n,), h_b if kind == "LSTM" else (h_b,)):
        assert a.shape == (4, 4)
        np.testing.assert_allclose(a.data, b.data[:, 0], atol=1e-12)
    with pytest.raises(ValueError, match="lengths needs a batched input"):
        model(mt.tensor(x), lengths=[5])
    with pytest.raises(mt.ShapeError, match="unbatched input"):
        model(mt.tensor(x), tuple(s[:, None] for s in hx_batched) if kind == "LSTM"
              else hx_batched[0])


def test_wrong_hx_shape():
    with pytest.raises(mt.ShapeError, match=r"num_directions=4, batch=2, hidden_size=4"):
        make("GRU", 3, 4, num_layers=2, bidirectional=True)(mt.zeros(5, 2, 3, dtype="float64"),
                                                            mt.zeros(2, 2, 4, dtype="float64"))
    lstm = make("LSTM", 3, 4)
    x = mt.zeros(5, 2, 3, dtype="float64")
    with pytest.raises(mt.ShapeError, match=r"hx\[1\]"):
        lstm(x, (mt.zeros(1, 2, 4, dtype="float64"), mt.zeros(1, 3, 4, dtype="float64")))
    with pytest.raises(TypeError, match="tuple of 2"):
        lstm(x, mt.zeros(1, 2, 4, dtype="float64"))


def test_bad_lengths():
    model = make("LSTM", 1, 2)
    x = mt.zeros(4, 2, 1, dtype="float64")
    with pytest.raises(ValueError, match="at most the sequence length 4"):
        model(x, lengths=[5, 1])
    with pytest.raises(ValueError, match="positive"):
        model(x, lengths=[0, 1])
    with pytest.raises(ValueError, match="one length per sequence"):
        model(x, lengths=[1, 2, 3])


def test_empty_sequence():
    with pytest.raises(ValueError, match="empty sequence"):
        make("RNN", 2, 3)(mt.zeros(0, 4, 2, dtype="float64"))
    with pytest.raises(ValueError, match="empty sequence"):
        make("RNN", 2, 3, batch_first=True)(mt.zeros(4, 0, 2, dtype="float64"))


def test_dtype_mismatch_and_bad_arguments():
    with pytest.raises(TypeError, match="float64 but the parameters are float32"):
        rnn.LSTM(2, 3)(mt.zeros(1, 1, 2, dtype="float64"))
    with pytest.raises(ValueError, match="dropout"):
        rnn.LSTM(2, 3, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size"):
        rnn.GRU(2, 0)
    with pytest.raises(ValueError, match="nonlinearity"):
        rnn.RNN(2, 3, nonlinearity="sigmoid")


# ----- what a step records (the static views and the explorer draw exactly this) ----------------
# (op, name) of every node one step makes, in creation order; rnn/steps.py documents the names.
STEP_RECORDS = {
    "LSTM": [("getitem", "x_proj"), ("linear", "h_proj"), ("add", "gates"),
             ("split", "i_pre"), ("split", "f_pre"), ("split", "g_pre"), ("split", "o_pre"),
             ("sigmoid", "i"), ("sigmoid", "f"), ("tanh", "g"), ("sigmoid", "o"),
             ("mul", "f*c"), ("mul", "i*g"), ("add", "c"), ("tanh", "tanh(c)"), ("mul", "h")],
    "GRU": [("getitem", "x_proj"), ("split", "r_x"), ("split", "z_x"), ("split", "n_x"),
            ("linear", "h_proj"), ("split", "r_h"), ("split", "z_h"),
            ("split", "n_h"), ("add", None), ("sigmoid", "r"), ("add", None), ("sigmoid", "z"),
            ("mul", "r*n_h"), ("add", None), ("tanh", "n"), (None, None), ("sub", "1-z"),
            ("mul", "(1-z)*n"), ("mul", "z*h"), ("add", "h")],
    "RNN": [("getitem", "x_proj"), ("linear", "h_proj"), ("add", None), ("tanh", "h")],
}
# Made once per layer and direction, in its scope: the initial states, the input projection of
# all steps (one linear op; for RNN and LSTM with b_hh folded in); the outputs' stack after the
# steps. No transpose of a weight anywhere: both projections are linear ops on the stored weights.
FAMILY_RECORDS = {
    "LSTM": [(None, "h0"), (None, "c0"), ("add", "b_ih+b_hh"), ("linear", "x_proj"),
             ("stack", None)],
    "GRU": [(None, "h0"), ("linear", "x_proj"), ("stack", None)],
    "RNN": [(None, "h0"), ("add", "b_ih+b_hh"), ("linear", "x_proj"), ("stack", None)],
}


def records_by_scope(model, T=3, B=2, **call):
    x = mt.tensor(np.random.default_rng(0).standard_normal((T, B, model.input_size)),
                  requires_grad=True)
    out, h_n = model(x, **call)
    loss = out.sum() + sum(s.sum() for s in (h_n if isinstance(h_n, tuple) else (h_n,)))
    by_scope = {}
    for r in mt.graph.walk(loss):
        if r.scope:
            by_scope.setdefault(r.scope, []).append((r.op, r.name))
    return by_scope


@pytest.mark.parametrize("kind", KINDS)
def test_each_step_records_the_same_named_ops_and_the_layer_the_rest(kind):
    """Every step of every layer and direction records exactly STEP_RECORDS (gates in PyTorch's
    order, products named, no transpose, no per-step input matmul); each layer/direction scope
    records the hoisted work once, with h0 and c0 as separate named leaves."""
    model = make(kind, 3, 4, num_layers=2, bidirectional=True)
    by_scope = records_by_scope(model, T=3)
    families = [f"{kind.lower()}/l{k}{r}" for k in range(2) for r in ("", "/reverse")]
    assert sorted(by_scope) == sorted(families + [f"{f}/t{t}" for f in families for t in range(3)])
    for family in families:
        assert by_scope[family] == FAMILY_RECORDS[kind], family
        for t in range(3):
            assert by_scope[f"{family}/t{t}"] == STEP_RECORDS[kind], (family, t)


def test_a_layer_of_builtin_cells_records_what_the_builtin_layer_records():
    generic = records_by_scope(rnn.Recurrent(rnn.LSTMCell, 3, 4, name="lstm").double())
    assert generic == records_by_scope(make("LSTM", 3, 4))


def test_given_initial_states_are_named_per_layer_and_direction():
    lstm = make("LSTM", 2, 3, num_layers=2)
    h0 = mt.zeros(2, 1, 3, dtype="float64", requires_grad=True)
    c0 = mt.zeros(2, 1, 3, dtype="float64", requires_grad=True)
    by_scope = records_by_scope(lstm, B=1, hx=(h0, c0))
    for k in range(2):
        assert by_scope[f"lstm/l{k}"][:2] == [("getitem", "h0"), ("getitem", "c0")]


def test_a_cell_without_prepare_sequence_gets_its_input_row_per_step():
    class Plain(mt.nn.Module):                       # the bare contract, no RecurrentCell base
        num_states = 1

        def __init__(self, input_size, hidden_size, bias=True):
            super().__init__()
            self.input_size, self.hidden_size = input_size, hidden_size
            self.weight = mt.nn.Parameter(np.full((input_size, hidden_size), 0.1))

        def forward(self, x, h):
            h = (x @ self.weight + h).tanh()
            h.name = "h"
            return h
    by_scope = records_by_scope(rnn.Recurrent(Plain, 3, 4, name="plain"))
    assert by_scope["plain/l0"] == [(None, "h0"), ("stack", None)]
    assert by_scope["plain/l0/t1"] == [("getitem", None), ("matmul", None), ("add", None),
                                       ("tanh", "h")]


def test_masked_steps_record_the_mask_leaf_and_wheres_inside_the_step():
    by_scope = records_by_scope(make("GRU", 3, 4), T=3, B=2, lengths=[3, 1])
    assert by_scope["gru/l0/t1"][:len(STEP_RECORDS["GRU"])] == STEP_RECORDS["GRU"]
    assert by_scope["gru/l0/t1"][len(STEP_RECORDS["GRU"]):] == [
        (None, "mask"), (None, "0"), ("where", "masked output"), ("where", "masked h")]
    assert by_scope["gru/l0/t0"] == STEP_RECORDS["GRU"]          # nothing masked at t = 0


def test_builtin_layers_have_no_cells_and_say_what_to_use():
    with pytest.raises(TypeError, match=r"rnn.Recurrent\(rnn.LSTMCell"):
        rnn.LSTM(2, 3).cells()


def test_lengths_that_are_not_whole_numbers_are_named():
    model = make("LSTM", 1, 2)
    x = mt.zeros(4, 3, 1, dtype="float64")
    with pytest.raises(ValueError, match=r"lengths\[0\] is inf \(lengths = \[inf, 2.0, 3.0\]\)"):
        model(x, lengths=[float("inf"), 2, 3])
    with pytest.raises(ValueError, match=r"lengths\[2\] is nan"):
        model(x, lengths=[1, 2, float("nan")])
    with pytest.raises(ValueError, match=r"lengths\[1\] is 2.5"):
        model(x, lengths=np.array([1.0, 2.5, 3.0]))
    with pytest.raises(TypeError, match="lengths must be integers"):
        model(x, lengths=np.array([True, True, False]))
    model(x, lengths=np.array([4.0, 2.0, 3.0]))                   # whole floats are lengths


def test_rnn_writes_into_no_module_internals():
    """rnn/, the custom-cell recipe and the examples use Module's public API only: no
    assignment into _parameters/_modules/_buffers, no object.__setattr__ (issue 11, item 8)."""
    import pathlib
    import re
    root = pathlib.Path(__file__).resolve().parent.parent
    files = sorted((root / "rnn").glob("*.py")) + sorted((root / "examples").glob("*.py")) + \
        [root / "docs" / "custom_cell.md", root / "docs" / "tutorial.md"]
    pattern = re.compile(r"\._(parameters|modules|buffers)\b|object\.__setattr__")
    found = [f"{p.relative_to(root)}:{i}: {line.strip()}" for p in files
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if pattern.search(line)]
    assert not found, "\n".join(found)


def _private_engine_uses(source):
    """``mt.<...>._x`` attribute chains and ``from microtensor... import _x`` in ``source``."""
    import ast
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            chain, base = [], node
            while isinstance(base, ast.Attribute):
                chain.append(base.attr)
                base = base.value
            if isinstance(base, ast.Name) and base.id == "mt" and \
                    any(part.startswith("_") for part in chain):
                found.append((node.lineno, "mt." + ".".join(reversed(chain))))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("microtensor"):
            names = [a.name for a in node.names]
            if any(p.startswith("_") for p in node.module.split(".") + names):
                found.append((node.lineno, f"from {node.module} import {names}"))
    return sorted(found)


def test_rnn_uses_only_the_engines_public_names():
    """rnn is built from microtensor's public API only (design.md: a user could have written it)."""
    import pathlib
    root = pathlib.Path(__file__).resolve().parent.parent / "rnn"
    found = [f"rnn/{p.name}:{line}: {what}" for p in sorted(root.glob("*.py"))
             for line, what in _private_engine_uses(p.read_text(encoding="utf-8"))]
    assert not found, "\n".join(found)
    # ... and the check sees what it claims to:
    assert _private_engine_uses("import microtensor as mt\nx = mt.autograd._Mode\n"
                                "from microtensor.graph import _walk\n") == [
        (2, "mt.autograd._Mode"), (3, "from microtensor.graph import ['_walk']")]


@pytest.mark.parametrize("generic", [False, True])
def test_assigning_a_parameter_through_the_layer_takes_effect(generic):
    """``layer.weight_hh_l0 = p`` is used by the next forward, for the built-in layer (its own
    weights) and for a layer of cells (the cell gets the same object)."""
    def build():
        mt.manual_seed(3)
        if generic:
            return rnn.Recurrent(rnn.GRUCell, 2, 3, name="gru").double()
        return make("GRU", 2, 3)
    a, b = build(), build()
    zeros = np.zeros((9, 3))
    a.weight_hh_l0 = mt.nn.Parameter(zeros.copy())
    b.load_state_dict({**b.state_dict(), "weight_hh_l0": zeros})
    x = mt.tensor(np.random.default_rng(1).standard_normal((4, 1, 2)))
    np.testing.assert_array_equal(a(x)[0].data, b(x)[0].data)
    assert sorted(n for n, _ in a.named_parameters()) == sorted(n for n, _ in b.named_parameters())
    a(x)[0].sum().backward()
    assert a.weight_hh_l0.grad is not None


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_a_long_unroll_projects_its_input_a_block_of_steps_at_a_time(kind):
    # T = 2 blocks + 3 steps, both directions: the blocks' projections join up exactly (the fused
    # layer projects the whole sequence at once), and each block is one x_proj node.
    from rnn.layers import PROJECTION_BLOCK
    T = 2 * PROJECTION_BLOCK + 3
    mt.manual_seed(0)
    layer = getattr(rnn, kind)(2, 3, bidirectional=True).double()
    x = mt.randn(T, 2, 2, dtype="float64", requires_grad=True)
    results = []
    for fused in (False, True):
        layer.fused = fused
        layer.zero_grad()
        x.grad = None
        out, _ = layer(x)
        if not fused:
            projections = [r for r in mt.graph.walk(out) if r.name == "x_proj" and r.op == "linear"]
        (out * out).sum().backward()
        results.append((out.data, x.grad, [p.grad for p in layer.parameters()]))
    assert len(projections) == 2 * 3                      # 3 blocks per direction
    (out_a, dx_a, grads_a), (out_b, dx_b, grads_b) = results
    np.testing.assert_allclose(out_a, out_b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx_a, dx_b, rtol=1e-9, atol=1e-12)
    for a, b in zip(grads_a, grads_b):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
