"""Define your own op, prove its gradient, property-test it: with the public API only.

Two ops, written exactly like microtensor's built-in ones: one small class each, on the same
public extension surface the built-ins import, ``microtensor.extend``:

- ``Swish``: x * sigmoid(beta * x), unary, with a constant argument ``beta``;
- ``Hypot``: sqrt(a**2 + b**2), binary and broadcasting, so its backward must sum the gradient
  back to each input's shape.

The script uses them in a graph, checks them with ``mt.gradcheck`` and then property-tests them
with ``microtensor.testing`` (Hypothesis draws shapes, 0-d and size-1 axes included, and values).

Run:  python examples/custom_op.py [--quick] [--out DIR]
"""
import argparse
import os
import pathlib
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout
import microtensor as mt  # noqa: E402
from microtensor.extend import Function, unbroadcast  # noqa: E402


class Swish(Function):
    """swish(x) = x * sigmoid(beta * x); d/dx = s + beta * x * s * (1 - s) with s = sigmoid(beta x).

    Its name in graphs, error messages and anomaly reports is the class name in lower case,
    "swish" (set ``name = ...`` to choose another).
    """

    @staticmethod
    def forward(ctx, x, beta=1.0):
        # sigmoid as (1 + tanh(z / 2)) / 2: no overflow for large |z|, unlike 1 / (1 + exp(-z)).
        s = 0.5 * (1.0 + np.tanh(0.5 * beta * x))
        ctx.save_for_backward(x, s)
        ctx.beta = beta                 # constants may go on ctx as plain attributes
        return x * s

    @staticmethod
    def backward(ctx, grad):
        x, s = ctx.saved_tensors
        return grad * (s + ctx.beta * x * s * (1.0 - s))


class Hypot(Function):
    """hypot(a, b) = sqrt(a^2 + b^2) with broadcasting; d/da = a / hypot, d/db = b / hypot."""

    @staticmethod
    def forward(ctx, a, b):
        out = np.hypot(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad      # skip work nobody asked for
        # unbroadcast sums the gradient back over the axes forward broadcast (as every built-in
        # binary op does).
        grad_a = unbroadcast(grad * a / out, a.shape) if need_a else None
        grad_b = unbroadcast(grad * b / out, b.shape) if need_b else None
        return grad_a, grad_b


def swish(x, beta=1.0):
    """Swish activation. Example: ``swish(mt.tensor([0.0, 1.0]))``"""
    return Swish.apply(x, beta=beta)


def hypot(a, b):
    """Elementwise sqrt(a**2 + b**2). Example: ``hypot(mt.tensor([3.0]), mt.tensor([4.0]))``"""
    return Hypot.apply(a, b)


def numpy_swish(x, beta=1.0):
    return x / (1.0 + np.exp(-beta * x))


def write_atomically(path, text):
    """Write through a temporary file and a rename, so a crash never leaves half a report."""
    path = pathlib.Path(path)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few property-test examples (CI)")
    parser.add_argument("--out", default="out", help="directory for custom_op_report.txt")
    args = parser.parse_args(argv)
    out_dir = pathlib.Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = []

    def report(text=""):
        print(text)
        lines.append(text)

    # 1. Use the ops like any built-in: the graph records them, backward runs their backward.
    x = mt.tensor([[-2.0, -0.5, 0.0, 1.5]], requires_grad=True, name="x")
    y = mt.tensor([[1.0], [2.0]], requires_grad=True, name="y")
    with mt.scope("demo"):
        loss = hypot(swish(x, beta=1.5), y).mean()
    loss.backward(keep_grads=True)
    report(f"loss = {loss.item():.6f}")
    report(f"d loss / d x = {np.array2string(x.grad, precision=4)}")
    report(f"d loss / d y = {np.array2string(y.grad.ravel(), precision=4)}")
    report("graph: " + ", ".join(f"{r.op or 'leaf'}@{r.scope or '-'}" for r in mt.graph.walk(loss)))

    # 2. Prove the gradients against central differences (float64: see mt.gradcheck's docs).
    x64 = mt.tensor(np.linspace(-3, 3, 7), dtype="float64", requires_grad=True)
    a64 = mt.tensor(np.linspace(-2, 2, 6).reshape(2, 3), dtype="float64", requires_grad=True)
    b64 = mt.tensor([[0.5], [-1.5]], dtype="float64", requires_grad=True)
    mt.gradcheck(lambda x: swish(x, beta=0.7), [x64])
    mt.gradcheck(hypot, [a64, b64])
    report("mt.gradcheck: swish and hypot agree with central differences")

    # 3. Property-test them as the project tests its own ops.
    try:
        from hypothesis import settings
        from microtensor.testing import check_forward, check_gradients
    except ImportError:
        report("hypothesis is not installed: skipping the property tests (pip install hypothesis)")
    else:
        examples = 10 if args.quick else 200
        profile = settings(max_examples=examples, deadline=None)
        check_forward(swish, numpy_swish, domain=(-20, 20), settings=profile)
        check_gradients(swish, domain=(-6, 6), settings=profile)
        check_gradients(lambda x: swish(x, beta=2.5), domain=(-3, 3), settings=profile)
        check_forward(hypot, np.hypot, arity=2, settings=profile)
        # Broadcasting pairs (0-d, size-1 axes, different ranks); a and b are kept away from 0,
        # where hypot has a cone point and no derivative.
        check_gradients(hypot, arity=2, avoid=(0.0,), margin=0.3, settings=profile)
        report(f"microtensor.testing: {examples} generated examples per property passed")

    write_atomically(out_dir / "custom_op_report.txt", "\n".join(lines) + "\n")
    print(f"wrote {out_dir / 'custom_op_report.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
