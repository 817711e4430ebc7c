"""Version counters, as PyTorch has them: in-place methods, optimizer steps and nn.init bump a
tensor's version; backward through a node whose saved tensor changed since raises, naming the op,
its scope and the tensor. Writes through ``.data`` are untracked, as PyTorch's ``.data`` is."""
import numpy as np
import pytest

import microtensor as mt
from microtensor import nn

try:
    import torch
except ImportError:
    torch = None

CHANGED = "was changed in place since"


def test_an_optimizer_step_between_forward_and_a_retained_backward_raises():
    # The issue's case: without the check, the second backward pairs the new weights with the
    # old loss silently.
    mt.manual_seed(0)
    model = nn.Linear(3, 2)
    model.weight.name = "weight"
    opt = mt.optim.SGD(model.parameters(), lr=0.1)
    with mt.scope("head"):
        loss = model(mt.randn(4, 3)).tanh().sum()
    loss.backward(retain_graph=True)
    opt.step()
    with pytest.raises(RuntimeError, match=r"backward of 'linear' in scope 'head': input 1 "
                                           r"'weight' of shape \(2, 3\), saved .*" + CHANGED):
        loss.backward()


def test_a_change_through_a_view_names_the_tensor_it_views():
    w = mt.ones(3, 2, requires_grad=True)
    w.name = "weight"
    with mt.scope("head"):
        loss = (mt.ones(4, 3) @ w.T.T).tanh().sum()      # matmul saves w.T.T, a view of w
    loss.backward(retain_graph=True)
    with mt.no_grad():
        w.add_(1.0)
    with pytest.raises(RuntimeError, match=r"backward of 'matmul' in scope 'head': input 1 "
                                           r"\(a view of 'weight'\) of shape \(3, 2\), saved .*"
                                           + CHANGED):
        loss.backward()


def test_the_issue_mul_case_with_an_in_place_method():
    a = mt.tensor([2.0, 2.0, 2.0], requires_grad=True)
    w = mt.tensor([1.0, 1.0, 1.0], requires_grad=True, name="w")
    y = (a * w).sum()
    with mt.no_grad():
        w.mul_(100.0)
    with pytest.raises(RuntimeError, match=r"backward of 'mul': input 1 'w' .*now at version 1\)"):
        y.backward()


def test_a_change_through_a_view_or_a_detached_copy_is_seen():
    for alias in (lambda w: w.detach(), lambda w: w.T.detach(), lambda w: w[0].detach()):
        w = mt.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        y = (w.T * 3.0).sum()            # mul saves w.T, a view of w: it shares w's counter
        alias(w).add_(1.0)
        with pytest.raises(RuntimeError, match=CHANGED):
            y.backward()


def test_a_changed_saved_output_is_named_as_the_output():
    x = mt.tensor([0.5, 1.0], requires_grad=True)
    with mt.scope("cell"):
        e = x.exp()                       # exp saves its output
    e.detach().zero_()
    with pytest.raises(RuntimeError, match=r"backward of 'exp' in scope 'cell': its output"):
        e.sum().backward()


def test_an_in_place_change_nobody_saved_is_fine_as_in_pytorch():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = (x + 1.0).sum()                   # add saves nothing
    with mt.no_grad():
        x.add_(5.0)
    y.backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_nn_init_and_load_state_dict_count_as_changes():
    layer = nn.Linear(2, 2)
    y = layer(mt.ones(1, 2)).sum()
    nn.init.zeros_(layer.weight)
    with pytest.raises(RuntimeError, match=CHANGED):
        y.backward()
    y = layer(mt.ones(1, 2)).sum()
    layer.load_state_dict(nn.Linear(2, 2).state_dict())
    with pytest.raises(RuntimeError, match=CHANGED):
        y.backward()


def test_a_multi_output_node_checks_its_saved_outputs():
    class Twice(mt.Function):
        @staticmethod
        def forward(ctx, x):
            a, b = x * 2, x * 3
            ctx.save_for_backward(b)
            return a, b

        @staticmethod
        def backward(ctx, ga, gb):
            (b,) = ctx.saved_tensors
            return 2 * ga + 3 * gb
    a, b = Twice.apply(mt.ones(2, requires_grad=True))
    b.detach().add_(1.0)
    with pytest.raises(RuntimeError, match="backward of 'twice': output 1"):
        (a + b).sum().backward()


@pytest.mark.parametrize("method, args, expected", [
    ("add_", (np.array([1.0, 2.0, 3.0]),), [2.0, 3.0, 4.0]),
    ("mul_", (2.0,), [2.0, 2.0, 2.0]),
    ("zero_", (), [0.0, 0.0, 0.0]),
    ("copy_", (mt.tensor([7.0]),), [7.0, 7.0, 7.0]),
    ("clamp_", (None, 0.5), [0.5, 0.5, 0.5]),
    ("clip_", (2.0,), [2.0, 2.0, 2.0]),
])
def test_in_place_methods_change_values_keep_dtype_and_bump_the_version(method, args, expected):
    t = mt.ones(3)
    before = t.data
    assert getattr(t, method)(*args) is t
    assert t.data is before and t.dtype == np.float32 and t._version == 1
    np.testing.assert_array_equal(t.data, expected)


def test_add_with_alpha_matches_torch():
    t = mt.tensor([1.0, 2.0])
    t.add_(mt.tensor([10.0, 20.0]), alpha=-0.5)
    np.testing.assert_array_equal(t.data, [-4.0, -8.0])
    if torch is not None:
        ref = torch.tensor([1.0, 2.0]).add_(torch.tensor([10.0, 20.0]), alpha=-0.5)
        np.testing.assert_array_equal(t.data, ref.numpy())


def test_in_place_changes_that_cannot_be_right_are_refused():
    with pytest.raises(RuntimeError, match="add_: a leaf tensor that requires grad .* mt.no_grad"):
        mt.ones(2, requires_grad=True).add_(1.0)
    h = mt.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="mul_: the output of 'mul'"):
        h.mul_(2.0)
    with pytest.raises(RuntimeError, match="copy_: the value requires grad"):
        mt.zeros(2).copy_(mt.ones(2, requires_grad=True))
    with pytest.raises(TypeError, match="add_: cannot write float64 values into a int64 tensor"):
        mt.tensor([1, 2]).add_(0.5)
    with pytest.raises(mt.ShapeError, match=r"add_: a value of shape \(3,\) cannot be written"):
        mt.zeros(2).add_(mt.ones(3))
    with pytest.raises(ValueError, match="read-only"):
        mt.zeros(1).expand(3).zero_()
    with pytest.raises(TypeError, match="clamp_: give at least one"):
        mt.zeros(2).clamp_()


def test_writes_through_data_are_untracked_as_pytorchs_data_is():
    # The documented .data policy: `.data` is the raw ndarray; writing into it bypasses the
    # version counter exactly like PyTorch's `w.data[:] = ...`, so backward uses the new values.
    # bump_version() after such a write makes backward refuse instead.
    a = mt.tensor([2.0, 2.0, 2.0], requires_grad=True)
    w = mt.tensor([1.0, 1.0, 1.0], requires_grad=True)
    y = (a * w).sum()
    w.data[:] = 100
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(a.grad, [100.0, 100.0, 100.0])
    if torch is not None:
        ta = torch.tensor([2.0, 2.0, 2.0], requires_grad=True)
        tw = torch.tensor([1.0, 1.0, 1.0], requires_grad=True)
        ty = (ta * tw).sum()
        tw.data[:] = 100
        ty.backward()
        np.testing.assert_array_equal(a.grad, ta.grad.numpy())
    w.bump_version()
    with pytest.raises(RuntimeError, match=CHANGED):
        y.backward()


def test_a_normal_training_loop_is_not_disturbed():
    mt.manual_seed(0)
    model = nn.Linear(2, 1)
    opt = mt.optim.Adam(model.parameters(), lr=0.01)
    x = mt.randn(8, 2)
    start = model.weight._version         # (nn.init filled it once)
    for _ in range(3):
        loss = (model(x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert model.weight._version == start + 3
