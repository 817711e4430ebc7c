"""rnn layers and cells equal PyTorch's: outputs, final states and every gradient, in float64.

Each case runs the same parameters, input, initial state and upstream gradients through PyTorch and
through rnn (explicit and fused), with random upstream gradients so every output element matters.
The saved fixtures in tests/fixtures (made by tests/fixtures/make_fixtures.py) check the same
without torch: see test_fixtures_match at the end.
"""
import pathlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microtensor as mt
import rnn

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
TOL = 1e-6


def run_rnn_case(kind, state, inputs, fused=False, generic=False):
    """Run our layer on a case dict; returns a dict of results named like the fixture keys.

    ``generic``: the layer is ``rnn.Recurrent(rnn.<kind>Cell, ...)`` (cell sub-modules and their
    ``prepare_sequence``) instead of the built-in ``rnn.<kind>`` (its own weights + rnn.steps).
    """
    cfg = inputs
    kwargs = dict(num_layers=int(cfg["num_layers"]), bias=bool(cfg["bias"]),
                  batch_first=bool(cfg["batch_first"]), bidirectional=bool(cfg["bidirectional"]),
                  fused=fused)
    if kind == "RNN":
        kwargs["nonlinearity"] = str(cfg["nonlinearity"])
    if generic:
        model = rnn.Recurrent(getattr(rnn, kind + "Cell"), int(cfg["input_size"]),
                              int(cfg["hidden_size"]), **kwargs).double()
    else:
        model = getattr(rnn, kind)(int(cfg["input_size"]), int(cfg["hidden_size"]),
                                   **kwargs).double()
    model.load_state_dict(state)
    x = mt.tensor(cfg["x"], requires_grad=True)
    h0 = mt.tensor(cfg["h0"], requires_grad=True)
    c0 = mt.tensor(cfg["c0"], requires_grad=True)
    lengths = cfg["lengths"] if cfg["lengths"].size else None
    is_lstm = kind == "LSTM"
    out, h_n = model(x, (h0, c0) if is_lstm else h0, lengths=lengths)
    c_n = None
    if is_lstm:
        h_n, c_n = h_n
    loss = (out * mt.tensor(cfg["g_out"])).sum() + (h_n * mt.tensor(cfg["g_h"])).sum()
    if is_lstm:
        loss = loss + (c_n * mt.tensor(cfg["g_c"])).sum()
    loss.backward()
    result = {"out": out.data, "h_n": h_n.data, "grad_x": x.grad, "grad_h0": h0.grad}
    if is_lstm:
        result["c_n"] = c_n.data
        result["grad_c0"] = c0.grad
    for name, p in model.named_parameters():
        result["grad_" + name] = p.grad
    return result


def make_case(kind, input_size, hidden_size, num_layers, bias, batch_first, bidirectional,
              nonlinearity, batch, steps, lengths, seed):
    """Random inputs and upstream gradients for one configuration (all float64)."""
    rng = np.random.default_rng(seed)
    D = 2 if bidirectional else 1
    x_shape = (batch, steps, input_size) if batch_first else (steps, batch, input_size)
    out_shape = x_shape[:2] + (D * hidden_size,)
    state_shape = (num_layers * D, batch, hidden_size)
    return {
        "input_size": np.int64(input_size), "hidden_size": np.int64(hidden_size),
        "num_layers": np.int64(num_layers), "bias": np.bool_(bias),
        "batch_first": np.bool_(batch_first), "bidirectional": np.bool_(bidirectional),
        "nonlinearity": np.str_(nonlinearity),
        "lengths": np.asarray(lengths if lengths is not None else [], dtype=np.int64),
        "x": rng.standard_normal(x_shape), "h0": rng.standard_normal(state_shape),
        "c0": rng.standard_normal(state_shape), "g_out": rng.standard_normal(out_shape),
        "g_h": rng.standard_normal(state_shape), "g_c": rng.standard_normal(state_shape),
    }


def torch_reference(torch, kind, case, seed=0):
    """PyTorch's state dict (as NumPy) and results for ``case`` (packed sequences for lengths)."""
    torch.manual_seed(seed)
    kwargs = dict(num_layers=int(case["num_layers"]), bias=bool(case["bias"]),
                  batch_first=bool(case["batch_first"]),
                  bidirectional=bool(case["bidirectional"]))
    if kind == "RNN":
        kwargs["nonlinearity"] = str(case["nonlinearity"])
    model = getattr(torch.nn, kind)(int(case["input_size"]), int(case["hidden_size"]),
                                    **kwargs).double()
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    x = torch.tensor(case["x"], requires_grad=True)
    h0 = torch.tensor(case["h0"], requires_grad=True)
    c0 = torch.tensor(case["c0"], requires_grad=True)
    is_lstm = kind == "LSTM"
    hx = (h0, c0) if is_lstm else h0
    batch_first = bool(case["batch_first"])
    steps = case["x"].shape[1 if batch_first else 0]
    if case["lengths"].size:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            x, torch.tensor(case["lengths"]), batch_first=batch_first, enforce_sorted=False)
        out, h_n = model(packed, hx)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=batch_first,
                                                        total_length=steps)
    else:
        out, h_n = model(x, hx)
    c_n = None
    if is_lstm:
        h_n, c_n = h_n
    loss = (out * torch.tensor(case["g_out"])).sum() + (h_n * torch.tensor(case["g_h"])).sum()
    if is_lstm:
        loss = loss + (c_n * torch.tensor(case["g_c"])).sum()
    loss.backward()
    result = {"out": out.detach().numpy(), "h_n": h_n.detach().numpy(),
              "grad_x": x.grad.numpy(), "grad_h0": h0.grad.numpy()}
    if is_lstm:
        result["c_n"] = c_n.detach().numpy()
        result["grad_c0"] = c0.grad.numpy()
    for name, p in model.named_parameters():
        result["grad_" + name] = p.grad.numpy()
    return state, result


def assert_results_equal(ours, expected, tol=TOL):
    assert sorted(ours) == sorted(expected)
    for key, value in expected.items():
        assert ours[key].shape == value.shape, key
        np.testing.assert_allclose(ours[key], value, rtol=0, atol=tol, err_msg=key)


@st.composite
def configurations(draw):
    kind = draw(st.sampled_from(["RNN", "LSTM", "GRU"]))
    batch = draw(st.integers(1, 3))
    steps = draw(st.integers(1, 5))
    use_lengths = draw(st.booleans())
    lengths = None
    if use_lengths:
        lengths = draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch))
    return dict(kind=kind, input_size=draw(st.integers(1, 4)), hidden_size=draw(st.integers(1, 4)),
                num_layers=draw(st.integers(1, 3)), bias=draw(st.booleans()),
                batch_first=draw(st.booleans()), bidirectional=draw(st.booleans()),
                nonlinearity=draw(st.sampled_from(["tanh", "relu"])), batch=batch, steps=steps,
                lengths=lengths, seed=draw(st.integers(0, 2 ** 16)))


@settings(max_examples=20, deadline=None)
@given(configurations(), st.booleans())
def test_layers_equal_pytorch(config, fused):
    torch = pytest.importorskip("torch", reason="PyTorch parity needs torch")
    kind = config.pop("kind")
    case = make_case(kind, **config)
    state, expected = torch_reference(torch, kind, case, seed=config["seed"])
    assert_results_equal(run_rnn_case(kind, state, case, fused=fused), expected)


@settings(max_examples=10, deadline=None)
@given(configurations(), st.booleans())
def test_generic_layer_of_builtin_cells_equals_pytorch(config, fused):
    """rnn.Recurrent(rnn.LSTMCell, ...) (a layer of cells, hoisted through prepare_sequence)
    loads PyTorch's state dict under the same names and gives PyTorch's numbers too."""
    torch = pytest.importorskip("torch", reason="PyTorch parity needs torch")
    kind = config.pop("kind")
    case = make_case(kind, **config)
    state, expected = torch_reference(torch, kind, case, seed=config["seed"])
    assert_results_equal(run_rnn_case(kind, state, case, fused=fused, generic=True), expected)


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("fused", [False, True])
def test_cells_equal_pytorch(kind, fused):
    torch = pytest.importorskip("torch", reason="PyTorch parity needs torch")
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    B, I, H = 3, 4, 5
    theirs = getattr(torch.nn, kind)(I, H).double()
    ours = getattr(rnn, kind)(I, H, fused=fused).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x_np, h_np, c_np, g_h, g_c = (rng.standard_normal((B, n)) for n in (I, H, H, H, H))
    x, h, c = (mt.tensor(a, requires_grad=True) for a in (x_np, h_np, c_np))
    xt, ht, ct = (torch.tensor(a, requires_grad=True) for a in (x_np, h_np, c_np))
    if kind == "LSTMCell":
        h1, c1 = ours(x, (h, c))
        h1t, c1t = theirs(xt, (ht, ct))
        ((h1 * mt.tensor(g_h)).sum() + (c1 * mt.tensor(g_c)).sum()).backward()
        ((h1t * torch.tensor(g_h)).sum() + (c1t * torch.tensor(g_c)).sum()).backward()
        np.testing.assert_allclose(c1.data, c1t.detach().numpy(), atol=TOL, rtol=0)
        np.testing.assert_allclose(c.grad, ct.grad.numpy(), atol=TOL, rtol=0)
    else:
        h1, h1t = ours(x, h), theirs(xt, ht)
        (h1 * mt.tensor(g_h)).sum().backward()
        (h1t * torch.tensor(g_h)).sum().backward()
    np.testing.assert_allclose(h1.data, h1t.detach().numpy(), atol=TOL, rtol=0)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), atol=TOL, rtol=0)
    np.testing.assert_allclose(h.grad, ht.grad.numpy(), atol=TOL, rtol=0)
    for (name, p), (tname, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert name == tname
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), atol=TOL, rtol=0, err_msg=name)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_state_dict_round_trips_with_pytorch(kind):
    torch = pytest.importorskip("torch", reason="PyTorch interop needs torch")
    ours = getattr(rnn, kind)(3, 4, num_layers=2, bidirectional=True)
    theirs = getattr(torch.nn, kind)(3, 4, num_layers=2, bidirectional=True)
    # ours -> PyTorch, unchanged: every key and shape must be what PyTorch expects.
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    for name, p in theirs.named_parameters():
        np.testing.assert_array_equal(p.detach().numpy(), getattr(ours, name).data)
    # PyTorch -> ours, after changing PyTorch's weights so that the copy is visible.
    with torch.no_grad():
        for p in theirs.parameters():
            p.mul_(-2.0)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for name, p in theirs.named_parameters():
        np.testing.assert_array_equal(getattr(ours, name).data, p.detach().numpy())
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    out, _ = ours(mt.tensor(x))
    out_t, _ = theirs(torch.from_numpy(x))
    np.testing.assert_allclose(out.data, out_t.detach().numpy(), atol=1e-5)


def test_cell_state_dict_round_trips_with_pytorch():
    torch = pytest.importorskip("torch", reason="PyTorch interop needs torch")
    for kind in ("RNNCell", "LSTMCell", "GRUCell"):
        ours, theirs = getattr(rnn, kind)(3, 4, bias=False), getattr(torch.nn, kind)(3, 4, bias=False)
        theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
        ours.load_state_dict({k: v.numpy() * 3 for k, v in theirs.state_dict().items()})
        np.testing.assert_array_equal(ours.weight_hh.data, theirs.weight_hh.detach().numpy() * 3)


def test_initialisation_matches_pytorch_bounds():
    # U(-1/sqrt(H), 1/sqrt(H)) for every parameter, as PyTorch: check the range is filled.
    mt.manual_seed(0)
    model = rnn.LSTM(10, 16, num_layers=2)
    bound = 1 / np.sqrt(16)
    for name, p in model.named_parameters():
        assert p.dtype == np.float32, name
        assert np.abs(p.data).max() <= bound, name
        assert np.abs(p.data).max() > 0.9 * bound, name


def _fixture_files():
    return sorted(FIXTURES.glob("*.npz"))


def test_fixtures_exist():
    assert len(_fixture_files()) >= 6, "run python tests/fixtures/make_fixtures.py"


@pytest.mark.parametrize("path", _fixture_files(), ids=lambda p: p.stem)
@pytest.mark.parametrize("fused", [False, True])
def test_fixtures_match(path, fused):
    """Parity with saved PyTorch results: runs without torch installed."""
    with np.load(path, allow_pickle=False) as data:
        arrays = dict(data)
    kind = str(arrays.pop("kind"))
    state = {k[len("state/"):]: v for k, v in arrays.items() if k.startswith("state/")}
    case = {k[len("case/"):]: v for k, v in arrays.items() if k.startswith("case/")}
    expected = {k[len("expected/"):]: v for k, v in arrays.items() if k.startswith("expected/")}
    assert_results_equal(run_rnn_case(kind, state, case, fused=fused), expected)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_unbatched_input_equals_pytorch(kind):
    torch = pytest.importorskip("torch", reason="PyTorch parity needs torch")
    torch.manual_seed(0)
    theirs = getattr(torch.nn, kind)(3, 4, num_layers=2, bidirectional=True).double()
    ours = getattr(rnn, kind)(3, 4, num_layers=2, bidirectional=True).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 3))          # (T, I): one sequence
    xt = torch.tensor(x, requires_grad=True)
    xm = mt.tensor(x, requires_grad=True)
    out_t, h_t = theirs(xt)
    out, h = ours(xm)
    h_t = h_t[0] if kind == "LSTM" else h_t
    h = h[0] if kind == "LSTM" else h
    assert out.shape == tuple(out_t.shape) and h.shape == tuple(h_t.shape)
    np.testing.assert_allclose(out.data, out_t.detach().numpy(), atol=TOL, rtol=0)
    np.testing.assert_allclose(h.data, h_t.detach().numpy(), atol=TOL, rtol=0)
    (out.sum() + h.sum()).backward()
    (out_t.sum() + h_t.sum()).backward()
    np.testing.assert_allclose(xm.grad, xt.grad.numpy(), atol=TOL, rtol=0)
