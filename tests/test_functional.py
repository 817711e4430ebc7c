"""microtensor.nn.functional and the fused ops in microtensor/ops/nn.py.

Every loss and layer function is compared with torch.nn.functional in float64 (values and
gradients), every fused op is gradchecked, and property tests check stability for extreme logits.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microtensor as mt
import microtensor.nn.functional as F
from microtensor.ops import nn as nn_ops

TOL = dict(rtol=1e-9, atol=1e-10)


def t64(array, requires_grad=False):
    return mt.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="PyTorch parity tests need torch (pip install torch)")


def backward_both(ours, theirs, upstream, torch):
    """Backpropagate the same upstream gradient through both results."""
    ours.backward(upstream)
    theirs.backward(torch.tensor(upstream))


# ----- cross-entropy ----------------------------------------------------------------------------
CE_SHAPES = [((5,), ()), ((6, 5), (6,)), ((3, 4, 2, 2), (3, 2, 2))]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shapes", CE_SHAPES, ids=["1d", "2d", "4d"])
def test_cross_entropy_matches_torch(torch, rng, reduction, label_smoothing, weighted, shapes):
    logit_shape, target_shape = shapes
    num_classes = logit_shape[0] if len(logit_shape) == 1 else logit_shape[1]
    logits = rng.standard_normal(logit_shape) * 3
    target = rng.integers(0, num_classes, size=target_shape)
    if target.ndim:
        target.flat[0] = -100                       # an ignored position
    weight = rng.random(num_classes) + 0.5 if weighted else None
    x = t64(logits, requires_grad=True)
    ours = F.cross_entropy(x, mt.tensor(target), weight=weight, reduction=reduction,
                           label_smoothing=label_smoothing)
    xt = torch.tensor(logits, requires_grad=True)
    theirs = torch.nn.functional.cross_entropy(
        xt, torch.tensor(target), weight=None if weight is None else torch.tensor(weight),
        reduction=reduction, label_smoothing=label_smoothing)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), **TOL)
    backward_both(ours, theirs, rng.standard_normal(ours.shape), torch)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), **TOL)


def test_cross_entropy_custom_ignore_index_matches_torch(torch, rng):
    logits = rng.standard_normal((7, 4))
    target = np.array([0, 3, 3, 1, 2, 3, 0])
    x = t64(logits, requires_grad=True)
    ours = F.cross_entropy(x, target, ignore_index=3)
    xt = torch.tensor(logits, requires_grad=True)
    theirs = torch.nn.functional.cross_entropy(xt, torch.tensor(target), ignore_index=3)
    np.testing.assert_allclose(ours.item(), theirs.item(), **TOL)
    ours.backward()
    theirs.backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), **TOL)
    assert np.all(x.grad[[1, 2, 5]] == 0)           # ignored rows get no gradient


# (3025, 65): more elements than one block of the plain path's exp(z - max), and a last block
# of one row.
@pytest.mark.parametrize("rows,classes", [(4, 6), (3025, 65)])
def test_cross_entropy_equals_composite_log_softmax_nll(rng, rows, classes):
    from microtensor.ops.nn import SOFTMAX_BLOCK
    assert rows * classes < SOFTMAX_BLOCK or rows % (SOFTMAX_BLOCK // classes) == 1
    logits = rng.standard_normal((rows, classes)) * 3
    target = rng.integers(0, classes, rows)
    a, b = t64(logits, True), t64(logits, True)
    fused = F.cross_entropy(a, target)
    composite = -(b.log_softmax(axis=1)[np.arange(rows), target]).mean()
    fused.backward()
    composite.backward()
    np.testing.assert_allclose(fused.item(), composite.item(), **TOL)
    np.testing.assert_allclose(a.grad, b.grad, **TOL)


@pytest.mark.parametrize("label_smoothing,weighted", [(0.0, False), (0.3, True)])
def test_cross_entropy_gradcheck(rng, label_smoothing, weighted):
    x = t64(rng.standard_normal((3, 4, 2)), requires_grad=True)
    target = mt.tensor([[0, 3], [-100, 1], [2, 2]])
    weight = rng.random(4) + 0.5 if weighted else None
    assert mt.gradcheck(lambda x: F.cross_entropy(x, target, weight=weight,
                                                  label_smoothing=label_smoothing), [x])
    assert mt.gradcheck(lambda x: F.cross_entropy(x, target, reduction="none",
                                                  label_smoothing=label_smoothing), [x])


@settings(max_examples=25, deadline=None)
@given(scale=st.sampled_from([1e2, 1e4, 1e6]), dtype=st.sampled_from(["float32", "float64"]),
       smoothing=st.sampled_from([0.0, 0.1]), seed=st.integers(0, 2 ** 16))
def test_cross_entropy_finite_for_extreme_logits(scale, dtype, smoothing, seed):
    rng = np.random.default_rng(seed)
    logits = (rng.choice([-1.0, 0.0, 1.0], size=(4, 5)) * scale).astype(dtype)
    target = rng.integers(0, 5, size=4)
    x = mt.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x, target, label_smoothing=smoothing)
    loss.backward()
    assert np.isfinite(loss.item())
    assert np.all(np.isfinite(x.grad))
    if smoothing == 0.0:
        # Reference in float64: logsumexp(row) - logit[target] = gap to the max + log(sum exp(.-max)).
        z = logits.astype(np.float64)
        top = z.max(axis=1)
        lse = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
        assert loss.item() == pytest.approx(np.mean(lse - z[np.arange(4), target]), rel=1e-5)
    # Each row's gradient sums to zero (softmax minus a distribution), up to 1/N scaling.
    np.testing.assert_allclose(x.grad.sum(axis=1), 0, atol=1e-5)


def test_cross_entropy_all_ignored_is_nan_like_torch():
    loss = F.cross_entropy(t64(np.zeros((2, 3))), np.array([-100, -100]))
    assert np.isnan(loss.item())


def test_cross_entropy_bad_inputs_give_clear_errors():
    x = mt.zeros(3, 4)
    with pytest.raises(IndexError, match="target 4 is out of range for 4 classes"):
        F.cross_entropy(x, mt.tensor([0, 4, 1]))
    with pytest.raises(mt.ShapeError, match=r"needs a target of shape \(3,\)"):
        F.cross_entropy(x, mt.tensor([0, 1]))
    with pytest.raises(TypeError, match="integer class indices"):
        F.cross_entropy(x, mt.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"^cross_entropy: reduction must be one of"):
        F.cross_entropy(x, mt.tensor([0, 1, 2]), reduction="avg")
    with pytest.raises(ValueError, match=r"^nll_loss: reduction must be one of"):
        F.nll_loss(x, mt.tensor([0, 1, 2]), reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, mt.tensor([0, 1, 2]), label_smoothing=1.5)


def test_cross_entropy_float32_stays_float32():
    x = mt.randn(3, 4, requires_grad=True)
    loss = F.cross_entropy(x, mt.tensor([0, 1, 2]))
    loss.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32


def test_cross_entropy_is_one_named_node():
    x = mt.randn(3, 4, requires_grad=True)
    loss = F.cross_entropy(x, mt.tensor([0, 1, 2]))
    assert loss.grad_fn.op == "cross_entropy"


# ----- nll_loss ---------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_matches_torch(torch, rng, reduction, weighted):
    logp = np.log(rng.dirichlet(np.ones(5), size=(3, 2)).transpose(0, 2, 1))   # (3, 5, 2)
    target = np.array([[1, -100], [4, 0], [2, 2]])
    weight = rng.random(5) + 0.5 if weighted else None
    x = t64(logp, True)
    ours = F.nll_loss(x, target, weight=weight, reduction=reduction)
    xt = torch.tensor(logp, requires_grad=True)
    theirs = torch.nn.functional.nll_loss(xt, torch.tensor(target), reduction=reduction,
                                          weight=None if weight is None else torch.tensor(weight))
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), **TOL)
    backward_both(ours, theirs, rng.standard_normal(ours.shape), torch)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), **TOL)


def test_nll_loss_gradcheck(rng):
    x = t64(rng.standard_normal((4, 3)), True)
    target = mt.tensor([2, 0, -100, 1])
    assert mt.gradcheck(lambda x: F.nll_loss(x, target, weight=np.array([1.0, 2.0, 0.5])), [x])


# ----- binary cross-entropy with logits ---------------------------------------------------------
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("use_weight", [False, True])
@pytest.mark.parametrize("use_pos_weight", [False, True])
def test_bce_with_logits_matches_torch(torch, rng, reduction, use_weight, use_pos_weight):
    logits = rng.standard_normal((4, 3)) * 4
    target = rng.random((4, 3))
    weight = rng.random(3) + 0.5
    pos_weight = rng.random(3) * 3
    x, y = t64(logits, True), t64(target, True)
    w = t64(weight, True)
    ours = F.binary_cross_entropy_with_logits(
        x, y, weight=w if use_weight else None, reduction=reduction,
        pos_weight=pos_weight if use_pos_weight else None)
    xt = torch.tensor(logits, requires_grad=True)
    yt = torch.tensor(target, requires_grad=True)
    wt = torch.tensor(weight)           # torch cannot differentiate w.r.t. weight (gradchecked below)
    theirs = torch.nn.functional.binary_cross_entropy_with_logits(
        xt, yt, weight=wt if use_weight else None, reduction=reduction,
        pos_weight=torch.tensor(pos_weight) if use_pos_weight else None)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), **TOL)
    backward_both(ours, theirs, rng.standard_normal(ours.shape), torch)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), **TOL)
    np.testing.assert_allclose(y.grad, yt.grad.numpy(), **TOL)


def test_bce_with_logits_gradcheck_and_extremes(rng):
    x, y = t64(rng.standard_normal(5), True), t64(rng.random(5), True)
    w = t64(rng.random(5) + 0.5, True)
    assert mt.gradcheck(lambda x, y: F.binary_cross_entropy_with_logits(
        x, y, pos_weight=np.full(5, 2.0), reduction="none"), [x, y])
    for reduction in ("mean", "sum"):
        assert mt.gradcheck(lambda x, y, w: F.binary_cross_entropy_with_logits(
            x, y, weight=w, pos_weight=np.full(5, 0.5), reduction=reduction), [x, y, w])
    big = mt.tensor([1e4, -1e4, 1e4], requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(big, mt.tensor([0.0, 1.0, 1.0]), reduction="sum")
    loss.backward()
    assert loss.item() == pytest.approx(2e4)
    assert np.all(np.isfinite(big.grad))


# ----- mse, linear, softmax ---------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_mse_loss_matches_torch(torch, rng, reduction):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    x = t64(a, True)
    ours = F.mse_loss(x, t64(b), reduction=reduction)
    xt = torch.tensor(a, requires_grad=True)
    theirs = torch.nn.functional.mse_loss(xt, torch.tensor(b), reduction=reduction)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), **TOL)
    backward_both(ours, theirs, rng.standard_normal(ours.shape), torch)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), **TOL)


def test_mse_loss_rejects_shape_mismatch():
    with pytest.raises(ValueError, match=r"target shape \(3,\) must equal input shape \(3, 1\)"):
        F.mse_loss(mt.zeros(3, 1), mt.zeros(3))


def test_linear_matches_torch(torch, rng):
    xs, ws, bs = rng.standard_normal((2, 5, 3)), rng.standard_normal((4, 3)), rng.standard_normal(4)
    x, w, b = t64(xs, True), t64(ws, True), t64(bs, True)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (xs, ws, bs))
    ours, theirs = F.linear(x, w, b), torch.nn.functional.linear(xt, wt, bt)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), **TOL)
    backward_both(ours, theirs, rng.standard_normal(ours.shape), torch)
    for mine, ref in ((x, xt), (w, wt), (b, bt)):
        np.testing.assert_allclose(mine.grad, ref.grad.numpy(), **TOL)
    with pytest.raises(ValueError, match="in_features=3"):
        F.linear(mt.zeros(2, 4), mt.zeros(5, 3))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_matches_torch(torch, rng, name):
    a = rng.standard_normal((3, 4, 5))
    for dim in (0, 1, -1):
        x = t64(a, True)
        ours = getattr(F, name)(x, dim=dim)
        xt = torch.tensor(a, requires_grad=True)
        theirs = getattr(torch.nn.functional, name)(xt, dim=dim)
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), **TOL)
        backward_both(ours, theirs, rng.standard_normal(ours.shape), torch)
        np.testing.assert_allclose(x.grad, xt.grad.numpy(), **TOL)


# ----- embedding --------------------------------------------------------------------------------
@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_matches_torch_and_accumulates(torch, rng, padding_idx):
    table = rng.standard_normal((6, 3))
    idx = np.array([[1, 2, 1], [5, 1, 0]])                          # 1 three times
    w = t64(table, True)
    ours = F.embedding(mt.tensor(idx), w, padding_idx=padding_idx)
    wt = torch.tensor(table, requires_grad=True)
    theirs = torch.nn.functional.embedding(torch.tensor(idx), wt, padding_idx=padding_idx)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), **TOL)
    backward_both(ours, theirs, rng.standard_normal(ours.shape), torch)
    np.testing.assert_allclose(w.grad, wt.grad.numpy(), **TOL)


def test_embedding_repeated_indices_accumulate_exactly():
    w = t64(np.zeros((4, 2)), True)
    out = F.embedding(np.array([3, 3, 3, 0]), w)
    out.backward(np.ones((4, 2)))
    np.testing.assert_array_equal(w.grad, [[1, 1], [0, 0], [0, 0], [3, 3]])


def test_embedding_gradcheck_and_errors(rng):
    w = t64(rng.standard_normal((5, 2)), True)
    idx = mt.tensor([[0, 4], [4, 4]])
    assert mt.gradcheck(lambda w: F.embedding(idx, w), [w])
    # padding_idx blocks the gradient on purpose (PyTorch semantics), so it is not a derivative.
    F.embedding(idx, w, padding_idx=0).sum().backward()
    np.testing.assert_array_equal(w.grad[0], 0)
    np.testing.assert_array_equal(w.grad[4], 3)
    with pytest.raises(IndexError, match="index 5 is out of range for a table of 5 rows"):
        F.embedding(mt.tensor([1, 5]), w)
    with pytest.raises(TypeError, match="indices must be integers"):
        F.embedding(mt.tensor([1.0]), w)


# ----- layer norm -------------------------------------------------------------------------------
@pytest.mark.parametrize("normalized_shape", [(4,), (3, 4)])
@pytest.mark.parametrize("affine", ["none", "weight", "both"])
def test_layer_norm_matches_torch(torch, rng, normalized_shape, affine):
    a = rng.standard_normal((2, 3, 4)) * 2 + 1
    ws, bs = rng.standard_normal(normalized_shape), rng.standard_normal(normalized_shape)
    x, w, b = t64(a, True), t64(ws, True), t64(bs, True)
    xt, wt, bt = (torch.tensor(v, requires_grad=True) for v in (a, ws, bs))
    use_w, use_b = affine != "none", affine == "both"
    ours = F.layer_norm(x, normalized_shape, w if use_w else None, b if use_b else None, eps=1e-5)
    theirs = torch.nn.functional.layer_norm(xt, normalized_shape, wt if use_w else None,
                                            bt if use_b else None, eps=1e-5)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-9, atol=1e-9)
    backward_both(ours, theirs, rng.standard_normal(ours.shape), torch)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-8, atol=1e-9)
    if use_w:
        np.testing.assert_allclose(w.grad, wt.grad.numpy(), rtol=1e-8, atol=1e-9)
    if use_b:
        np.testing.assert_allclose(b.grad, bt.grad.numpy(), rtol=1e-8, atol=1e-9)


def test_layer_norm_gradcheck(rng):
    x = t64(rng.standard_normal((3, 4)), True)
    w, b = t64(rng.standard_normal(4), True), t64(rng.standard_normal(4), True)
    assert mt.gradcheck(lambda x, w, b: F.layer_norm(x, 4, w, b), [x, w, b])
    with pytest.raises(ValueError, match="does not end with the normalized_shape"):
        F.layer_norm(x, (5,))


# ----- dropout ----------------------------------------------------------------------------------
def test_dropout_is_reproducible_by_seed_and_scales_kept_units():
    x = mt.ones(200, 5, requires_grad=True)
    mt.manual_seed(7)
    a = F.dropout(x, 0.3)
    mt.manual_seed(7)
    b = F.dropout(x, 0.3)
    np.testing.assert_array_equal(a.data, b.data)
    kept = a.data != 0
    np.testing.assert_allclose(a.data[kept], 1 / 0.7, rtol=1e-6)
    assert 0.6 < kept.mean() < 0.8
    a.sum().backward()
    np.testing.assert_allclose(x.grad, a.data)       # gradient = the same mask, same scale
    mt.manual_seed(8)
    assert not np.array_equal(F.dropout(x, 0.3).data, a.data)


def test_dropout_edge_probabilities_and_eval():
    x = mt.randn(3, 4)
    assert F.dropout(x, 0.0) is x and F.dropout(x, 0.9, training=False) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).data, 0)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        F.dropout(x, 1.5)


def test_dropout_gradcheck():
    x = t64(np.linspace(-1, 1, 12).reshape(3, 4), True)
    mask = np.random.default_rng(0).random((3, 4)) > 0.5
    assert mt.gradcheck(lambda x: nn_ops.Dropout.apply(x, mask=mask, scale=2.0), [x])


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss", "bce", "layer_norm", "embedding",
                                  "dropout", "mse"])
def test_float32_in_float32_out(name):
    """No fused op silently promotes float32 activations or gradients to float64."""
    x = mt.randn(4, 3, requires_grad=True)
    w = mt.randn(3, requires_grad=True)
    calls = {
        "cross_entropy": lambda: F.cross_entropy(x, [0, 1, 2, 0], weight=np.ones(3), label_smoothing=0.1),
        "nll_loss": lambda: F.nll_loss(x, [0, 1, 2, 0], weight=np.ones(3)),
        "bce": lambda: F.binary_cross_entropy_with_logits(x, mt.rand(4, 3), weight=w,
                                                          pos_weight=np.full(3, 2.0)),
        "layer_norm": lambda: F.layer_norm(x, 3, w, w * 2),
        "embedding": lambda: F.embedding([[0, 2], [1, 1]], x) * w,
        "dropout": lambda: F.dropout(x, 0.3) * w,
        "mse": lambda: F.mse_loss(x * w, mt.zeros(4, 3)),
    }
    out = calls[name]()
    out.sum().backward()
    assert out.dtype == np.float32
    assert x.grad.dtype == np.float32
    assert w.grad is None or w.grad.dtype == np.float32


@settings(max_examples=30, deadline=None)
@given(num_rows=st.integers(1, 6), dim=st.integers(1, 3),
       index_shape=st.lists(st.integers(1, 4), min_size=1, max_size=2), seed=st.integers(0, 999))
def test_embedding_gradient_equals_one_hot_matmul(num_rows, dim, index_shape, seed):
    """Embedding is one_hot(indices) @ weight, so its weight gradient is one_hot^T @ upstream."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, num_rows, size=index_shape)
    table = t64(rng.standard_normal((num_rows, dim)), True)
    upstream = rng.standard_normal(tuple(index_shape) + (dim,))
    out = F.embedding(idx, table)
    out.backward(upstream)
    one_hot = np.eye(num_rows)[idx.reshape(-1)]                    # (M, num_rows)
    np.testing.assert_allclose(out.data.reshape(-1, dim), one_hot @ table.data, **TOL)
    np.testing.assert_allclose(table.grad, one_hot.T @ upstream.reshape(-1, dim), **TOL)
