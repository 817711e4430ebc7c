"""Gradient clipping: PyTorch parity, and properties (direction kept, global norm capped)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import microtensor as mt
from microtensor.nn.utils import clip_grad_norm_, clip_grad_value_


def params_with_grads(grads):
    params = []
    for g in grads:
        p = mt.nn.Parameter(np.zeros_like(g))
        p.grad = np.array(g, copy=True)
        params.append(p)
    return params


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    torch = pytest.importorskip("torch", reason="PyTorch parity tests need torch")
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((3, 4)), rng.standard_normal(5) * 3]
    ours = params_with_grads(grads)
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for t, g in zip(theirs, grads):
        t.grad = torch.tensor(g)
    total = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    ref_total = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert float(total) == pytest.approx(ref_total.item(), rel=1e-12)
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12, atol=1e-15)


grad_lists = st.lists(hnp.arrays(np.float64, hnp.array_shapes(max_dims=2, max_side=4),
                                 elements=st.floats(-1e3, 1e3)), min_size=1, max_size=4)


@settings(max_examples=50, deadline=None)
@given(grads=grad_lists, max_norm=st.floats(1e-3, 1e3))
def test_clip_grad_norm_keeps_direction_and_caps_norm(grads, max_norm):
    params = params_with_grads(grads)
    flat_before = np.concatenate([g.ravel() for g in grads])
    norm_before = np.linalg.norm(flat_before)
    total = clip_grad_norm_(params, max_norm)
    flat_after = np.concatenate([p.grad.ravel() for p in params])
    assert float(total) == pytest.approx(norm_before, rel=1e-12, abs=1e-300)
    # Capped: never above max_norm (plus rounding). PyTorch's factor is max_norm / (norm + 1e-6),
    # so gradients are untouched only when norm + 1e-6 <= max_norm.
    assert np.linalg.norm(flat_after) <= max_norm * (1 + 1e-9)
    coef = max_norm / (norm_before + 1e-6)
    if coef >= 1:
        np.testing.assert_array_equal(flat_after, flat_before)
    else:
        assert np.linalg.norm(flat_after) == pytest.approx(coef * norm_before, rel=1e-9)
    # Same direction: one positive factor for every element of every parameter.
    if norm_before > 0:
        scale = np.linalg.norm(flat_after) / norm_before
        np.testing.assert_allclose(flat_after, flat_before * scale, rtol=1e-9, atol=1e-300)
        assert scale > 0


def test_clip_grad_norm_accepts_a_generator_and_skips_missing_grads():
    model = mt.nn.Linear(3, 2, dtype="float64")
    model.weight.grad = np.full((2, 3), 4.0)
    total = clip_grad_norm_(model.parameters(), 1.0)         # bias has no grad: skipped
    assert float(total) == pytest.approx(math.sqrt(6 * 16))
    assert model.bias.grad is None
    assert np.linalg.norm(model.weight.grad) == pytest.approx(1.0, rel=1e-5)
    assert f"{total:.2f}" == "9.80" and total.item() == pytest.approx(9.797958971)


def test_clip_grad_norm_nonfinite():
    params = params_with_grads([np.array([1.0, np.inf])])
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    params = params_with_grads([np.array([1.0, np.inf])])
    assert np.isinf(clip_grad_norm_(params, 1.0))                   # as PyTorch: coef 0, Inf*0 = NaN
    np.testing.assert_array_equal(params[0].grad, [0.0, np.nan])
    params = params_with_grads([np.array([1.0, np.nan])])
    total = clip_grad_norm_(params, 1.0)
    assert np.isnan(total) and np.isnan(params[0].grad).all()   # as PyTorch: NaN poisons the grads


def test_clip_grad_norm_float32_grads_stay_float32():
    p = mt.nn.Parameter(mt.zeros(3))
    p.grad = np.array([3.0, 4.0, 0.0], dtype=np.float32)
    total = clip_grad_norm_([p], 1.0)
    assert p.grad.dtype == np.float32 and total.dtype == np.float32
    np.testing.assert_allclose(p.grad, [0.6, 0.8, 0.0], rtol=1e-5)


def test_clip_grad_value_matches_torch_and_clamps_in_place():
    torch = pytest.importorskip("torch", reason="PyTorch parity tests need torch")
    g = np.array([[-3.0, 0.2], [0.7, 5.0]])
    (p,) = params_with_grads([g])
    held = p.grad
    clip_grad_value_(p, 0.5)
    t = torch.zeros(2, 2, dtype=torch.float64, requires_grad=True)
    t.grad = torch.tensor(g)
    torch.nn.utils.clip_grad_value_([t], 0.5)
    np.testing.assert_array_equal(p.grad, t.grad.numpy())
    assert p.grad is held                              # in place: optimizers see the clipped array
    with pytest.raises(ValueError, match="clip_value must be >= 0"):
        clip_grad_value_([p], -1)


def test_clipping_inside_a_training_step():
    """Clip after backward, before step: the update is the clipped gradient times lr."""
    w = mt.nn.Parameter(np.array([10.0, 0.0]))
    ((w * w).sum() * 0.5).backward()                     # grad = w = [10, 0]
    clip_grad_norm_([w], 2.0)
    mt.optim.SGD([w], lr=1.0).step()
    np.testing.assert_allclose(w.data, [8.0, 0.0], rtol=1e-6)
