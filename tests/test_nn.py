"""microtensor.nn: layers vs PyTorch modules, init, containers, Module state handling."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microtensor as mt
from microtensor import nn


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="PyTorch parity tests need torch (pip install torch)")


def copy_params_to_torch(ours, theirs, torch):
    """Give the torch module exactly our parameters (by PyTorch name)."""
    ref = dict(theirs.named_parameters())
    assert set(ref) == {n for n, _ in ours.named_parameters()}
    with torch.no_grad():
        for name, p in ours.named_parameters():
            ref[name].copy_(torch.tensor(p.data))


def assert_grads_match(ours, theirs):
    ref = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, ref[name].grad.numpy(), rtol=1e-9, atol=1e-11,
                                   err_msg=name)


# ----- layers vs torch --------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(torch, bias):
    rng = np.random.default_rng(0)
    ours = nn.Linear(5, 3, bias=bias, dtype="float64")
    theirs = torch.nn.Linear(5, 3, bias=bias).double()
    copy_params_to_torch(ours, theirs, torch)
    x = rng.standard_normal((2, 4, 5))
    xm, xt = mt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(xm), theirs(xt)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)
    ref.backward(torch.tensor(upstream))
    assert_grads_match(ours, theirs)
    np.testing.assert_allclose(xm.grad, xt.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_embedding_module_matches_torch(torch):
    ours = nn.Embedding(6, 3, padding_idx=1, dtype="float64")
    theirs = torch.nn.Embedding(6, 3, padding_idx=1).double()
    copy_params_to_torch(ours, theirs, torch)
    idx = np.array([[1, 2, 2], [5, 1, 0]])
    out, ref = ours(mt.tensor(idx)), theirs(torch.tensor(idx))
    np.testing.assert_allclose(out.data, ref.detach().numpy())
    upstream = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(upstream)
    ref.backward(torch.tensor(upstream))
    assert_grads_match(ours, theirs)
    np.testing.assert_array_equal(ours.weight.grad[1], 0)


@pytest.mark.parametrize("affine,bias", [(True, True), (True, False), (False, False)])
def test_layer_norm_module_matches_torch(torch, affine, bias):
    rng = np.random.default_rng(2)
    ours = nn.LayerNorm((2, 4), elementwise_affine=affine, bias=bias, dtype="float64")
    theirs = torch.nn.LayerNorm((2, 4), elementwise_affine=affine, bias=bias).double()
    if affine:   # make the affine part non-trivial
        ours.weight.data[...] = rng.standard_normal((2, 4))
        if bias:
            ours.bias.data[...] = rng.standard_normal((2, 4))
    copy_params_to_torch(ours, theirs, torch)
    x = rng.standard_normal((3, 2, 4)) * 5
    xm, xt = mt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(xm), theirs(xt)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-9, atol=1e-10)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)
    ref.backward(torch.tensor(upstream))
    np.testing.assert_allclose(xm.grad, xt.grad.numpy(), rtol=1e-8, atol=1e-10)
    if affine:
        assert_grads_match(ours, theirs)


def test_mlp_training_step_matches_torch(torch):
    """A Sequential MLP with every activation: loss, gradients and weights after 3 SGD steps."""
    rng = np.random.default_rng(3)
    ours = nn.Sequential(nn.Linear(4, 6, dtype="float64"), nn.Tanh(), nn.Linear(6, 6, dtype="float64"),
                         nn.ReLU(), nn.Linear(6, 5, dtype="float64"), nn.Sigmoid(),
                         nn.Linear(5, 3, dtype="float64"))
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 6),
                                 torch.nn.ReLU(), torch.nn.Linear(6, 5), torch.nn.Sigmoid(),
                                 torch.nn.Linear(5, 3)).double()
    copy_params_to_torch(ours, theirs, torch)
    x, y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
    opt = mt.optim.SGD(ours.parameters(), lr=0.3, momentum=0.9)
    ref_opt = torch.optim.SGD(theirs.parameters(), lr=0.3, momentum=0.9)
    for _ in range(3):
        opt.zero_grad()
        loss = mt.nn.functional.cross_entropy(ours(mt.tensor(x)), y)
        loss.backward()
        ref_opt.zero_grad()
        ref_loss = torch.nn.functional.cross_entropy(theirs(torch.tensor(x)), torch.tensor(y))
        ref_loss.backward()
        assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-10)
        assert_grads_match(ours, theirs)
        opt.step()
        ref_opt.step()
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.data, dict(theirs.named_parameters())[name].detach().numpy(),
                                   rtol=1e-9, atol=1e-11)


# ----- layer behaviour --------------------------------------------------------------------------
def test_linear_default_init_bounds_dtype_and_seed():
    mt.manual_seed(0)
    layer = nn.Linear(16, 200)
    bound = 1 / math.sqrt(16)
    assert layer.weight.dtype == np.float32 and layer.weight.shape == (200, 16)
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.bias.data).max() <= bound
    assert np.abs(layer.weight.data).max() > 0.9 * bound           # uses the whole range
    mt.manual_seed(0)
    again = nn.Linear(16, 200)
    np.testing.assert_array_equal(layer.weight.data, again.weight.data)
    assert nn.Linear(2, 2, bias=False).bias is None
    assert [n for n, _ in nn.Linear(2, 2, bias=False).named_parameters()] == ["weight"]


def test_layer_argument_errors():
    with pytest.raises(ValueError, match="in_features must be a positive int"):
        nn.Linear(0, 3)
    with pytest.raises(TypeError, match="floating point"):
        nn.Linear(2, 3, dtype="int64")
    with pytest.raises(ValueError, match="padding_idx 5 must be within"):
        nn.Embedding(5, 2, padding_idx=5)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        nn.Dropout(-0.1)
    with pytest.raises(ValueError, match="in_features=3"):
        nn.Linear(3, 2)(mt.zeros(4, 2))


def test_embedding_padding_row_starts_at_zero_and_negative_index():
    emb = nn.Embedding(5, 3, padding_idx=-1)
    assert emb.padding_idx == 4
    np.testing.assert_array_equal(emb.weight.data[4], 0)
    assert np.abs(emb.weight.data[:4]).sum() > 0


def test_dropout_module_train_eval_and_seed():
    drop = nn.Dropout(0.5)
    x = mt.ones(50, 4)
    mt.manual_seed(3)
    a = drop(x).data
    mt.manual_seed(3)
    b = drop(x).data
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) == {0.0, 2.0}
    model = nn.Sequential(nn.Linear(4, 4), drop)
    model.eval()
    assert not drop.training
    np.testing.assert_array_equal(drop(x).data, x.data)
    model.train()
    assert drop.training


def test_repr_tree():
    model = nn.Sequential(nn.Embedding(10, 4, padding_idx=0), nn.LayerNorm(4), nn.Dropout(0.1),
                          nn.Linear(4, 2, bias=False))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Embedding(10, 4, padding_idx=0)\n"
        "  (1): LayerNorm((4,), eps=1e-05, elementwise_affine=True)\n"
        "  (2): Dropout(p=0.1)\n"
        "  (3): Linear(in_features=4, out_features=2, bias=False)\n"
        ")")


# ----- containers -------------------------------------------------------------------------------
def test_sequential_indexing_names_and_slicing():
    net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    assert len(net) == 3 and isinstance(net[-1], nn.Linear)
    assert [n for n, _ in net.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    head = net[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is net[0]
    x = mt.ones(4, 2)
    np.testing.assert_allclose(net(x).data, net[2](net[1](net[0](x))).data)
    net.append(nn.Sigmoid())
    assert len(net) == 4
    from collections import OrderedDict
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert [n for n, _ in named.named_parameters()] == ["fc.weight", "fc.bias"]


def test_module_list_and_dict_register_children():
    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(3, 3) for _ in range(2)])
            self.heads = nn.ModuleDict({"a": nn.Linear(3, 1), "b": nn.Linear(3, 2)})

        def forward(self, x):
            for layer in self.layers:
                x = layer(x).tanh()
            return {k: head(x) for k, head in self.heads.items()}

    m = Stack()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
                     "heads.a.weight", "heads.a.bias", "heads.b.weight", "heads.b.bias"]
    out = m(mt.ones(2, 3))
    assert out["a"].shape == (2, 1) and out["b"].shape == (2, 2)
    m.layers.append(nn.Linear(3, 3))
    m.heads["c"] = nn.Identity()
    assert len(m.layers) == 3 and "c" in m.heads and len(m.heads) == 3
    m.layers[0] = nn.Linear(3, 3, bias=False)
    assert "layers.0.bias" not in dict(m.named_parameters())
    assert m.num_parameters() == 9 + 12 + 12 + 4 + 8
    del m.heads["a"]
    assert list(m.heads.keys()) == ["b", "c"]
    with pytest.raises(TypeError, match="keys must be strings"):
        m.heads[1] = nn.ReLU()


# ----- Module state -----------------------------------------------------------------------------
def test_load_state_dict_keeps_parameter_dtype_and_identity():
    model = nn.Linear(3, 2)                              # float32
    weight = model.weight
    state = {k: v.astype(np.float64) + 1 for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    assert model.weight is weight and model.weight.dtype == np.float32
    np.testing.assert_allclose(model.weight.data, state["weight"], rtol=1e-6)


def test_to_double_and_float():
    model = nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2))
    model.double()
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert model(mt.ones(1, 2, dtype="float64")).dtype == np.float64
    model.float()
    assert all(p.dtype == np.float32 for p in model.parameters())


@settings(max_examples=30, deadline=None)
@given(drop=st.sets(st.sampled_from(["0.weight", "0.bias", "1.weight", "1.bias"])),
       extra=st.sets(st.sampled_from(["2.weight", "bogus", "0.weight_hh"]), max_size=3),
       reshape=st.sets(st.sampled_from(["0.weight", "1.bias"])))
def test_load_state_dict_reports_every_bad_key_at_once(drop, extra, reshape):
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    state = model.state_dict()
    for k in drop:
        del state[k]
    for k in extra:
        state[k] = np.zeros(1)
    for k in reshape - drop:
        state[k] = np.zeros((7, 7))
    bad_shapes = reshape - drop
    if not (drop or extra or bad_shapes):
        model.load_state_dict(state)
        return
    with pytest.raises(nn.StateDictError) as info:
        model.load_state_dict(state)
    assert isinstance(info.value, KeyError) and isinstance(info.value, RuntimeError)
    message = str(info.value)
    assert message.startswith("load_state_dict for Sequential: ")
    for key in drop | extra | bad_shapes:
        assert key in message
    # strict=False tolerates missing and unexpected keys, never a shape mismatch.
    if bad_shapes:
        with pytest.raises(KeyError, match="shape"):
            model.load_state_dict(state, strict=False)
    else:
        missing, unexpected = model.load_state_dict(state, strict=False)
        assert set(missing) == drop and set(unexpected) == extra


def test_zero_grad_train_eval_children():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.2))
    model(mt.ones(1, 2)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    assert [type(c).__name__ for c in model.children()] == ["Linear", "Dropout"]
    assert len(list(model.modules())) == 3
    assert all(not m.training for m in model.eval().modules())


# ----- init -------------------------------------------------------------------------------------
def test_init_functions_fill_in_place_with_the_right_statistics():
    mt.manual_seed(0)
    w = nn.Parameter(np.zeros((400, 300)))
    assert nn.init.uniform_(w, -2.0, 3.0) is w
    assert w.data.min() >= -2.0 and w.data.max() < 3.0 and abs(w.data.mean() - 0.5) < 0.05
    nn.init.normal_(w, mean=1.0, std=0.5)
    assert abs(w.data.mean() - 1.0) < 0.01 and abs(w.data.std() - 0.5) < 0.01
    nn.init.xavier_uniform_(w, gain=2.0)
    bound = 2.0 * math.sqrt(6 / 700)
    assert np.abs(w.data).max() <= bound and np.abs(w.data).max() > 0.99 * bound
    nn.init.xavier_normal_(w)
    assert abs(w.data.std() - math.sqrt(2 / 700)) < 0.002
    nn.init.kaiming_uniform_(w, a=math.sqrt(5))
    assert np.abs(w.data).max() <= 1 / math.sqrt(300)
    nn.init.zeros_(w)
    assert not w.data.any()
    nn.init.ones_(w)
    assert (w.data == 1).all()
    nn.init.constant_(w, 0.25)
    assert (w.data == 0.25).all()


@pytest.mark.parametrize("shape", [(6, 6), (3, 8), (8, 3), (4, 2, 3)])
def test_orthogonal_init(shape):
    w = nn.Parameter(np.zeros(shape))
    nn.init.orthogonal_(w, gain=1.5)
    flat = w.data.reshape(shape[0], -1)
    rows, cols = flat.shape
    if rows <= cols:
        np.testing.assert_allclose(flat @ flat.T, 1.5 ** 2 * np.eye(rows), atol=1e-10)
    else:
        np.testing.assert_allclose(flat.T @ flat, 1.5 ** 2 * np.eye(cols), atol=1e-10)


def test_init_uses_the_global_seed_and_keeps_dtype():
    a, b = nn.Parameter(mt.zeros(3, 3)), nn.Parameter(mt.zeros(3, 3))
    mt.manual_seed(5)
    nn.init.orthogonal_(a)
    mt.manual_seed(5)
    nn.init.orthogonal_(b)
    np.testing.assert_array_equal(a.data, b.data)
    assert a.dtype == np.float32


def test_init_errors():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.init.xavier_uniform_(nn.Parameter(np.zeros(3)))
    with pytest.raises(TypeError, match="floating point"):
        nn.init.zeros_(mt.tensor([1, 2]))
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        nn.init.calculate_gain("swish")


def test_assigning_none_keeps_a_registered_slot():
    layer = nn.Linear(2, 2)
    layer.bias = None
    assert "bias" in layer._parameters and layer.bias is None
    assert list(layer.state_dict()) == ["weight"]
    layer.bias = nn.Parameter(np.zeros(2, dtype=np.float32))
    assert list(layer.state_dict()) == ["weight", "bias"]


def test_reassigning_a_parameter_or_buffer_keeps_its_place_as_pytorch_does(torch):
    ours, theirs = nn.Linear(2, 3), torch.nn.Linear(2, 3)
    ours.weight = nn.Parameter(np.ones((3, 2), dtype=np.float32))
    theirs.weight = torch.nn.Parameter(torch.ones(3, 2))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "bias"]
    assert float(ours.weight.data.sum()) == 6.0
    m = nn.Module()
    m.register_buffer("steps", np.zeros(1))
    m.register_buffer("best", np.zeros(1))
    m.steps = np.ones(1)                        # a buffer takes the new array, in its place
    assert list(m.state_dict()) == ["steps", "best"] and m.state_dict()["steps"][0] == 1.0


def test_assigning_a_non_parameter_to_a_parameter_name_is_refused():
    layer = nn.Linear(2, 3)
    with pytest.raises(TypeError, match=r"cannot assign Tensor as parameter 'weight' of Linear"):
        layer.weight = mt.ones(3, 2)
    with pytest.raises(TypeError, match="cannot assign int as sub-module '0'"):
        setattr(nn.Sequential(nn.Linear(1, 1)), "0", 3)
    assert isinstance(layer.weight, nn.Parameter)         # still registered, unchanged


@pytest.mark.parametrize("name,kwargs,kind", [
    ("CrossEntropyLoss", dict(label_smoothing=0.1, ignore_index=1), "classes"),
    ("CrossEntropyLoss", dict(weight=np.array([1.0, 2.0, 0.5]), reduction="sum"), "classes"),
    ("NLLLoss", dict(reduction="none"), "logprobs"),
    ("MSELoss", dict(), "values"),
    ("BCEWithLogitsLoss", dict(pos_weight=np.array([2.0, 1.0, 0.5])), "probs"),
])
def test_loss_modules_match_torch(torch, name, kwargs, kind):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 3))
    if kind == "logprobs":
        x = np.log(rng.dirichlet(np.ones(3), size=5))
    if kind in ("classes", "logprobs"):
        target = rng.integers(0, 3, 5)
        target_t = torch.tensor(target)
    else:
        target = rng.random((5, 3))
        target_t = torch.tensor(target)
    torch_kwargs = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    xm, xt = mt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours = getattr(nn, name)(**kwargs)(xm, mt.tensor(target))
    theirs = getattr(torch.nn, name)(**torch_kwargs)(xt, target_t)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    upstream = rng.standard_normal(ours.shape)
    ours.backward(upstream)
    theirs.backward(torch.tensor(upstream))
    np.testing.assert_allclose(xm.grad, xt.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_apply_visits_children_first_and_requires_grad_freezes():
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Tanh(), nn.Linear(2, 1)))
    visited = []
    assert net.apply(visited.append) is net
    # PyTorch's order: each child's subtree in order, then the parent.
    assert visited == [net[0], net[1][0], net[1][1], net[1], net]
    net[0].requires_grad_(False)
    net(mt.ones(1, 2)).sum().backward()
    assert net[0].weight.grad is None and net[1][1].weight.grad is not None
    assert [n for n, p in net.named_parameters() if p.requires_grad] == ["1.1.weight", "1.1.bias"]
