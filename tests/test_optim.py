"""Optimizers and schedules: parameters after several steps equal PyTorch's in float64; state dicts
resume training exactly; param groups, zero_grad and bad arguments behave as in PyTorch."""
import os

import numpy as np
import pytest

import microtensor as mt

STEPS = 6


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="PyTorch parity tests need torch (pip install torch)")


def _quadratic_grads(step, values):
    """A deterministic, step-dependent gradient: d/dp of sum(c * p^2 + p * sin(step))."""
    return [2 * (i + 1.5) * v + np.sin(step + i) for i, v in enumerate(values)]


CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.5, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.02, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.02, weight_decay=0.3, amsgrad=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.5,
                     eps=1e-6)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.5, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.3, eps=1e-4)),
]


def _run_ours(name, kwargs, init, steps=STEPS):
    params = [mt.nn.Parameter(v.copy()) for v in init]
    opt = getattr(mt.optim, name)(params, **kwargs)
    for step in range(steps):
        for p, g in zip(params, _quadratic_grads(step, [p.data for p in params])):
            p.grad = g
        opt.step()
    return params, opt


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_optimizer_matches_torch(torch, name, kwargs):
    rng = np.random.default_rng(0)
    init = [rng.standard_normal((3, 2)), rng.standard_normal(4)]
    ours, _ = _run_ours(name, kwargs, init)
    theirs = [torch.tensor(v.copy(), requires_grad=True) for v in init]
    opt = getattr(torch.optim, name)(theirs, **kwargs)
    for step in range(STEPS):
        for p, g in zip(theirs, _quadratic_grads(step, [p.detach().numpy() for p in theirs])):
            p.grad = torch.tensor(g)
        opt.step()
    for mine, ref in zip(ours, theirs):
        np.testing.assert_allclose(mine.data, ref.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_optimizer_matches_torch_on_a_real_model(torch):
    """A Linear + cross-entropy model trained 5 steps with Adam: same weights as torch's."""
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
    model = mt.nn.Linear(4, 3, dtype="float64")
    ref = torch.nn.Linear(4, 3).double()
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(model.weight.data))
        ref.bias.copy_(torch.tensor(model.bias.data))
    opt = mt.optim.Adam(model.parameters(), lr=0.05)
    ref_opt = torch.optim.Adam(ref.parameters(), lr=0.05)
    for _ in range(5):
        opt.zero_grad()
        mt.nn.functional.cross_entropy(model(mt.tensor(x)), y).backward()
        opt.step()
        ref_opt.zero_grad()
        torch.nn.functional.cross_entropy(ref(torch.tensor(x)), torch.tensor(y)).backward()
        ref_opt.step()
    np.testing.assert_allclose(model.weight.data, ref.weight.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.bias.data, ref.bias.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_float32_parameters_stay_float32():
    for name, kwargs in CONFIGS:
        params, _ = _run_ours(name, kwargs, [np.ones((2, 2), np.float32)], steps=2)
        assert params[0].dtype == np.float32, name


def test_param_groups_use_their_own_hyper_parameters(torch):
    a0, b0 = np.array([1.0, 2.0]), np.array([-1.0])
    a, b = mt.nn.Parameter(a0.copy()), mt.nn.Parameter(b0.copy())
    opt = mt.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5, "momentum": 0.9}], lr=0.1)
    at, bt = torch.tensor(a0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    ref = torch.optim.SGD([{"params": [at]}, {"params": [bt], "lr": 0.5, "momentum": 0.9}], lr=0.1)
    for _ in range(3):
        a.grad, b.grad = a.data.copy(), b.data * 3
        at.grad, bt.grad = at.detach().clone(), bt.detach() * 3
        opt.step()
        ref.step()
    np.testing.assert_allclose(a.data, at.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.data, bt.detach().numpy(), rtol=1e-12)


def test_parameters_without_grad_are_skipped_and_zero_grad_clears():
    a, b = mt.nn.Parameter(np.ones(2)), mt.nn.Parameter(np.ones(2))
    opt = mt.optim.Adam([a, b], lr=0.1)
    a.grad = np.ones(2)
    opt.step()
    assert not np.allclose(a.data, 1) and np.array_equal(b.data, np.ones(2))
    opt.zero_grad()
    assert a.grad is None
    a.grad = np.ones(2)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad, 0)


@pytest.mark.parametrize("name,kwargs", CONFIGS[1::2], ids=[n for n, _ in CONFIGS[1::2]])
def test_state_dict_resumes_training_exactly(tmp_path, name, kwargs):
    """3 steps, save optimizer state through mt.save, load into a fresh optimizer, 3 more steps:
    identical to 6 uninterrupted steps."""
    rng = np.random.default_rng(1)
    init = [rng.standard_normal((2, 3)), rng.standard_normal(3)]
    straight, _ = _run_ours(name, kwargs, init, steps=6)

    first, opt = _run_ours(name, kwargs, init, steps=3)
    path = tmp_path / "opt.npz"
    mt.save({"optimizer": opt.state_dict(), "params": [p.data for p in first]}, path)
    ckpt = mt.load(path)
    resumed = [mt.nn.Parameter(v) for v in ckpt["params"]]
    opt2 = getattr(mt.optim, name)(resumed, lr=123.0)       # hyper-parameters come from the state
    opt2.load_state_dict(ckpt["optimizer"])
    assert opt2.param_groups[0]["lr"] == kwargs["lr"]
    for step in range(3, 6):
        for p, g in zip(resumed, _quadratic_grads(step, [p.data for p in resumed])):
            p.grad = g
        opt2.step()
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a.data, b.data)


def test_state_dict_layout_is_pytorchs(torch):
    p = mt.nn.Parameter(np.ones(2))
    opt = mt.optim.Adam([p], lr=0.1)
    p.grad = np.ones(2)
    opt.step()
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert sd["param_groups"][0]["params"] == [0]
    ref = torch.optim.Adam([torch.ones(2, requires_grad=True)], lr=0.1)
    assert set(sd["param_groups"][0]) <= set(ref.state_dict()["param_groups"][0])
    # The state is a copy, not a view of the live buffers.
    sd["state"][0]["exp_avg"][...] = 99
    assert not np.any(opt.state[id(p)]["exp_avg"] == 99)


def test_load_state_dict_rejects_mismatched_layout():
    a, b = mt.nn.Parameter(np.ones(2)), mt.nn.Parameter(np.ones(3))
    opt = mt.optim.SGD([a, b], lr=0.1, momentum=0.9)
    a.grad, b.grad = np.ones(2), np.ones(3)
    opt.step()
    state = opt.state_dict()
    with pytest.raises(ValueError, match="2 parameters in the checkpoint and 1 here"):
        mt.optim.SGD([a], lr=0.1, momentum=0.9).load_state_dict(state)
    with pytest.raises(ValueError, match=r"has shape \(2,\), the parameter \(3,\)"):
        mt.optim.SGD([b, a], lr=0.1, momentum=0.9).load_state_dict(state)


def test_bad_arguments_give_clear_errors():
    p = mt.nn.Parameter(np.ones(2))
    with pytest.raises(ValueError, match="invalid learning rate"):
        mt.optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        mt.optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="invalid betas"):
        mt.optim.Adam([p], betas=(1.0, 0.9))
    with pytest.raises(TypeError, match="iterable of tensors"):
        mt.optim.Adam(p)
    with pytest.raises(ValueError, match="empty parameter list"):
        mt.optim.Adam([])
    with pytest.raises(ValueError, match="more than one param group"):
        mt.optim.SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        mt.optim.SGD([p * 2], lr=0.1)
    with pytest.raises(TypeError, match="unknown hyper-parameters"):
        mt.optim.SGD([{"params": [p], "momentun": 0.9}], lr=0.1)


def test_adagrad_state_exists_before_the_first_step(torch):
    p = mt.nn.Parameter(np.ones(2))
    sd = mt.optim.Adagrad([p], initial_accumulator_value=0.25).state_dict()
    np.testing.assert_array_equal(sd["state"][0]["sum"], [0.25, 0.25])
    ref = torch.optim.Adagrad([torch.ones(2, requires_grad=True)], initial_accumulator_value=0.25)
    assert set(sd["state"][0]) == set(ref.state_dict()["state"][0])


# ----- schedules --------------------------------------------------------------------------------
@pytest.mark.parametrize("name,kwargs", [("StepLR", dict(step_size=3, gamma=0.5)),
                                         ("LambdaLR", dict(lr_lambda=lambda e: 0.9 ** e / (1 + e))),
                                         ("CosineAnnealingLR", dict(T_max=7, eta_min=0.01)),
                                         ("CosineAnnealingLR", dict(T_max=4))])
def test_schedules_match_torch(torch, name, kwargs):
    p = mt.nn.Parameter(np.ones(1))
    opt = mt.optim.SGD([{"params": [p]}, {"params": [mt.nn.Parameter(np.ones(1))], "lr": 0.3}],
                       lr=0.1)
    sched = getattr(mt.optim, name)(opt, **kwargs)
    tp = [torch.ones(1, requires_grad=True) for _ in range(2)]
    ref_opt = torch.optim.SGD([{"params": [tp[0]]}, {"params": [tp[1]], "lr": 0.3}], lr=0.1)
    ref = getattr(torch.optim.lr_scheduler, name)(ref_opt, **kwargs)
    assert sched.get_last_lr() == pytest.approx(ref.get_last_lr(), rel=1e-12)
    for _ in range(10):
        opt.step()
        sched.step()
        ref_opt.step()
        ref.step()
        assert sched.get_last_lr() == pytest.approx(ref.get_last_lr(), rel=1e-9, abs=1e-15)
        assert [g["lr"] for g in opt.param_groups] == sched.get_last_lr()


def test_schedule_state_dict_round_trip(tmp_path):
    opt = mt.optim.SGD([mt.nn.Parameter(np.ones(1))], lr=1.0)
    sched = mt.optim.StepLR(opt, step_size=2, gamma=0.1)
    for _ in range(3):
        sched.step()
    mt.save({"sched": sched.state_dict(), "opt": opt.state_dict()}, tmp_path / "s.npz")
    ckpt = mt.load(tmp_path / "s.npz")
    opt2 = mt.optim.SGD([mt.nn.Parameter(np.ones(1))], lr=1.0)
    opt2.load_state_dict(ckpt["opt"])
    sched2 = mt.optim.StepLR(opt2, step_size=2, gamma=0.1)
    sched2.load_state_dict(ckpt["sched"])
    sched.step()
    sched2.step()
    assert sched2.get_last_lr() == sched.get_last_lr() == [pytest.approx(0.01)]
    assert sched2.last_epoch == 4 and os.path.exists(tmp_path / "s.npz")


def test_step_with_closure_returns_loss_and_records_graph_under_no_grad(torch):
    w = mt.nn.Parameter(np.array([1.0, -3.0]))
    wt = torch.tensor([1.0, -3.0], dtype=torch.float64, requires_grad=True)
    opt, ref = mt.optim.SGD([w], lr=0.1, momentum=0.5), torch.optim.SGD([wt], lr=0.1, momentum=0.5)

    def closure():
        opt.zero_grad()
        loss = (w * w * w).sum()
        loss.backward()
        return loss

    def ref_closure():
        ref.zero_grad()
        loss = (wt * wt * wt).sum()
        loss.backward()
        return loss

    for _ in range(3):
        with mt.no_grad():
            loss = opt.step(closure)
        assert loss.item() == pytest.approx(ref.step(ref_closure).item(), rel=1e-12)
    np.testing.assert_allclose(w.data, wt.detach().numpy(), rtol=1e-12)


def test_lambda_lr_state_dict_leaves_out_the_functions(tmp_path):
    opt = mt.optim.SGD([mt.nn.Parameter(np.ones(1)), mt.nn.Parameter(np.ones(1))], lr=1.0)
    opt.add_param_group({"params": [mt.nn.Parameter(np.ones(1))], "lr": 2.0})
    sched = mt.optim.LambdaLR(opt, [lambda e: 1.0, lambda e: 0.5 ** e])
    sched.step()
    assert sched.get_last_lr() == [1.0, 1.0]
    mt.save(sched.state_dict(), tmp_path / "s.npz")              # would fail on a function
    assert "lr_lambdas" not in mt.load(tmp_path / "s.npz")
    with pytest.raises(ValueError, match="1 functions for 2 param groups"):
        mt.optim.LambdaLR(opt, [lambda e: 1.0])
