"""Random compositions of ops, built by Hypothesis, against torch.autograd in float64: the values,
the leaves' gradients and (through keep_grads / retain_grad) every intermediate gradient."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microtensor as mt
from microtensor.testing import arrays

torch = pytest.importorskip("torch", reason="PyTorch parity tests need torch "
                                            "(pip install 'microtensor[torch]')")
F = torch.nn.functional

# Each entry: (microtensor version, torch version). Every pool tensor broadcasts to (n, m):
# unary ops keep the shape or reduce with keepdims, so any two pool tensors can be combined.
UNARY = {
    "tanh": (lambda x: x.tanh(), lambda x: x.tanh()),
    "sigmoid": (mt.sigmoid, torch.sigmoid),
    "exp_of_tanh": (lambda x: x.tanh().exp(), lambda x: x.tanh().exp()),
    "log_of_square_plus_1": (lambda x: (x * x + 1).log(), lambda x: (x * x + 1).log()),
    "sqrt_of_square_plus_1": (lambda x: mt.sqrt(x * x + 1), lambda x: torch.sqrt(x * x + 1)),
    "pow": (lambda x: (x * x + 0.5) ** 1.5, lambda x: (x * x + 0.5) ** 1.5),
    "rpow": (lambda x: 2.0 ** x.tanh(), lambda x: 2.0 ** x.tanh()),
    "scalar_arith": (lambda x: 3.0 - x / 2.0 + 1, lambda x: 3.0 - x / 2.0 + 1),
    "rdiv": (lambda x: 1.0 / (x * x + 1), lambda x: 1.0 / (x * x + 1)),
    "relu": (mt.relu, torch.relu),
    "leaky_relu": (lambda x: x.leaky_relu(0.1), lambda x: F.leaky_relu(x, 0.1)),
    "softplus": (mt.softplus, F.softplus),
    "abs": (abs, abs),
    "neg": (lambda x: -x, lambda x: -x),
    "clamp": (lambda x: x.clamp(-1.0, 1.0), lambda x: x.clamp(-1.0, 1.0)),
    "softmax_rows": (lambda x: x.softmax(axis=-1), lambda x: x.softmax(dim=-1)),
    "log_softmax_cols": (lambda x: mt.log_softmax(x, dim=0), lambda x: torch.log_softmax(x, dim=0)),
    "sum_rows": (lambda x: x.sum(axis=1, keepdims=True), lambda x: x.sum(dim=1, keepdim=True)),
    "mean_cols": (lambda x: x.mean(dim=0, keepdims=True), lambda x: x.mean(dim=0, keepdim=True)),
    "var_rows": (lambda x: x.var(axis=1, keepdims=True),
                 lambda x: torch.var(x, dim=1, keepdim=True, correction=0)),
    "max_rows": (lambda x: x.max(axis=1, keepdims=True), lambda x: torch.amax(x, dim=1, keepdim=True)),
    "min_cols": (lambda x: x.min(axis=0, keepdims=True), lambda x: torch.amin(x, dim=0, keepdim=True)),
    "logsumexp_rows": (lambda x: x.logsumexp(axis=1, keepdims=True),
                       lambda x: torch.logsumexp(x, dim=1, keepdim=True)),
    "flip_rows": (lambda x: x[::-1], lambda x: torch.flip(x, [0])),
    "reshape_round_trip": (lambda x: x.reshape(-1).reshape(x.shape),
                           lambda x: x.reshape(-1).reshape(x.shape)),
    "transpose_twice": (lambda x: x.T.transpose(0, 1), lambda x: x.T.transpose(0, 1)),
    "unsqueeze_squeeze": (lambda x: x.unsqueeze(0).squeeze(0), lambda x: x.unsqueeze(0).squeeze(0)),
    "split_reverse_cat": (lambda x: mt.cat(x.split(1, axis=1)[::-1], axis=1),
                          lambda x: torch.cat(x.split(1, dim=1)[::-1], dim=1)),
    "chunk_cat": (lambda x: mt.cat(x.chunk(2, axis=0)[::-1], axis=0),
                  lambda x: torch.cat(x.chunk(2, dim=0)[::-1], dim=0)),
    "stack_then_index": (lambda x: mt.stack([x, -x], axis=-1)[..., 1],
                         lambda x: torch.stack([x, -x], dim=-1)[..., 1]),
    "repeated_rows": (lambda x: x[[0, 0, -1]].mean(axis=0, keepdims=True),
                      lambda x: x[[0, 0, -1]].mean(dim=0, keepdim=True)),
    "masked_select_sum": (lambda x: x[x.data > 0].sum() * x,
                          lambda x: x[x.detach() > 0].sum() * x),
    "where": (lambda x: mt.where(x > 0, x, x * 0.5), lambda x: torch.where(x > 0, x, x * 0.5)),
}

BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / (b * b + 1), lambda a, b: a / (b * b + 1)),
    "maximum": (mt.maximum, torch.maximum),
    "minimum": (mt.minimum, torch.minimum),
    "where_gt": (lambda a, b: mt.where(a > b, a, b * 2), lambda a, b: torch.where(a > b, a, b * 2)),
    "stack_mean": (lambda a, b: mt.stack([a.expand(*_full(a, b)), b.expand(*_full(a, b))]).mean(axis=0),
                   lambda a, b: torch.stack([a.expand(*_full(a, b)), b.expand(*_full(a, b))]).mean(dim=0)),
}


def _full(a, b):
    return tuple(np.broadcast_shapes(tuple(a.shape), tuple(b.shape)))


@st.composite
def programs(draw):
    """Leaf arrays (shapes (n, m), (n, 1) or (1, m)), a weight (m, m) and a list of steps."""
    n, m = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    leaf_shapes = draw(st.lists(st.sampled_from([(n, m), (n, 1), (1, m)]), min_size=1, max_size=3))
    leaves = [draw(arrays(s, (-2.0, 2.0))) for s in leaf_shapes]
    weight = draw(arrays((m, m), (-1.0, 1.0)))
    steps = []
    pool_size = len(leaves)
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["unary", "binary", "matmul"]))
        if kind == "unary":
            steps.append(("unary", draw(st.sampled_from(sorted(UNARY))),
                          draw(st.integers(0, pool_size - 1))))
        elif kind == "binary":
            steps.append(("binary", draw(st.sampled_from(sorted(BINARY))),
                          draw(st.integers(0, pool_size - 1)), draw(st.integers(0, pool_size - 1))))
        else:   # the weight as right operand, transposed, or on the left of a transpose
            steps.append(("matmul", draw(st.sampled_from(["x@w", "x@w.T", "(w@x.T).T"])),
                          draw(st.integers(0, pool_size - 1))))
        pool_size += 1
    return leaves, weight, steps


def _run(lib, leaves, weight, steps):
    """Run a program with microtensor (lib=0) or torch (lib=1); return leaves, weight, pool, loss."""
    if lib == 0:
        tensors = [mt.tensor(a, requires_grad=True) for a in leaves]
        w = mt.tensor(weight, requires_grad=True)
    else:
        tensors = [torch.tensor(a, requires_grad=True) for a in leaves]
        w = torch.tensor(weight, requires_grad=True)
    pool = list(tensors)
    for kind, name, *operands in steps:
        if kind == "unary":
            out = UNARY[name][lib](pool[operands[0]])
        elif kind == "binary":
            out = BINARY[name][lib](pool[operands[0]], pool[operands[1]])
        else:
            # Matmul needs the last axis to be m: an (n, 1) operand is broadcast first.
            x = pool[operands[0]]
            x = x.expand(*_full(x, w[:1]))
            if name == "x@w":
                out = x @ w
            elif name == "x@w.T":
                out = x @ w.T
            else:
                out = (w @ x.T).T
        if lib == 1:
            out.retain_grad()
        pool.append(out)
    loss = 0.0
    for i, t in enumerate(pool):        # every tensor of the program reaches the loss
        loss = loss + (t * (0.3 + 0.1 * i)).sum()
    return tensors, w, pool, loss


@settings(max_examples=100)
@given(programs())
def test_random_compositions_match_torch(program):
    leaves, weight, steps = program
    ours = _run(0, leaves, weight, steps)
    theirs = _run(1, leaves, weight, steps)
    ours[3].backward(keep_grads=True)
    theirs[3].backward()
    np.testing.assert_allclose(ours[3].data, theirs[3].detach().numpy(), rtol=1e-9, atol=1e-9)
    for got, want in zip(ours[2], theirs[2]):
        assert got.shape == tuple(want.shape)
        np.testing.assert_allclose(got.data, want.detach().numpy(), rtol=1e-9, atol=1e-9)
    # Leaf gradients, then the gradient kept on every intermediate (what the renderer draws).
    for got, want in zip(ours[0] + [ours[1]] + ours[2], theirs[0] + [theirs[1]] + theirs[2]):
        if want.grad is None:           # only the weight, when no step used it
            assert got is ours[1] and got.grad is None
            continue
        assert got.grad is not None and got.grad.shape == got.shape
        np.testing.assert_allclose(got.grad, want.grad.numpy(), rtol=1e-8, atol=1e-9)


def test_every_registered_composition_op_runs():
    # Each op of the tables above once, on a fixed input, so none can silently go untested.
    x = np.linspace(-1.5, 1.5, 6).reshape(2, 3)
    for name in UNARY:
        ours = _run(0, [x], np.eye(3), [("unary", name, 0)])
        theirs = _run(1, [x], np.eye(3), [("unary", name, 0)])
        ours[3].backward()
        theirs[3].backward()
        np.testing.assert_allclose(ours[0][0].grad, theirs[0][0].grad.numpy(), rtol=1e-9,
                                   atol=1e-12, err_msg=name)
    for name in BINARY:
        y = np.linspace(1.2, -0.8, 3).reshape(1, 3)
        ours = _run(0, [x, y], np.eye(3), [("binary", name, 0, 1)])
        theirs = _run(1, [x, y], np.eye(3), [("binary", name, 0, 1)])
        ours[3].backward()
        theirs[3].backward()
        for a, b in zip(ours[0], theirs[0]):
            np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
