"""Check analytic gradients against central finite differences in float64.

Example:
    >>> import numpy as np, microtensor as mt
    >>> x = mt.tensor(np.random.randn(3, 4), requires_grad=True)
    >>> mt.gradcheck(lambda x: (x * x).tanh(), [x])
    True
"""
import numpy as np

from .autograd import grad as autograd_grad
from .autograd import no_grad
from .errors import GradcheckError
from .tensor import Tensor, make_tensor


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, max_elements=64, directions=8, seed=0):
    """Compare ``fn``'s analytic gradients with central differences; raise on any disagreement.

    ``fn`` takes the tensors in ``inputs`` and returns a tensor of any shape. The check projects the
    output on a random vector u and compares u^T J with the numerical derivative:
    for every element of an input with at most ``max_elements`` elements, and along ``directions``
    random directions v (u^T J v) for larger inputs.

    Args:
        fn: callable(*tensors) -> Tensor.
        inputs: tensors; those with ``requires_grad=True`` are checked. They must be float64:
            in float32, a difference step small enough to be accurate is lost in rounding.
        eps, atol, rtol: step and tolerances (|analytic - numeric| <= atol + rtol * |numeric|).
        max_elements: inputs with at most this many elements are checked element by element.
        directions: number of random directions v checked for larger inputs.
        seed: seed of the random projection u and directions v (a check is reproducible).

    Returns: True (a failure raises :class:`GradcheckError` naming the input, the worst element,
    and the analytic and numeric values).

    Example:
        >>> import microtensor as mt
        >>> a = mt.tensor([[0.5, -1.0]], dtype="float64", requires_grad=True)
        >>> mt.gradcheck(lambda a: a.sigmoid() * a, [a])
        True
    """
    inputs = list(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; use float64. With float32, "
                            f"a step of {eps:g} is lost in rounding and the numeric gradient is noise.")
    rng = np.random.default_rng(seed)
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    if out.dtype != np.float64:
        raise TypeError(f"gradcheck: fn returned a {out.dtype} tensor; keep the computation in "
                        f"float64, or rounding swamps the finite differences")
    projection = rng.standard_normal(out.shape)
    if out.requires_grad:
        analytic = autograd_grad([out], [inputs[i] for i in checked], grad_outputs=[projection],
                                 allow_unused=True)
    else:   # the output does not depend on any checked input: its gradient is zero
        analytic = [None] * len(checked)

    def loss_at(index, values):
        trial = list(inputs)
        trial[index] = make_tensor(values, False)
        with no_grad():
            y = fn(*trial)
        return float(np.sum(projection * y.data))

    for k, i in enumerate(checked):
        base = inputs[i].data
        g = analytic[k] if analytic[k] is not None else np.zeros_like(base)
        label = inputs[i].name or f"input {i}"
        if base.size <= max_elements:
            numeric = np.zeros_like(base)
            for idx in np.ndindex(base.shape):
                step = np.zeros_like(base)
                step[idx] = eps
                numeric[idx] = (loss_at(i, base + step) - loss_at(i, base - step)) / (2 * eps)
            error = np.abs(g - numeric) - (atol + rtol * np.abs(numeric))
            # NaN compares False with everything: count it as the worst possible disagreement.
            error = np.where(np.isnan(error), np.inf, error)
            if (error > 0).any():
                worst = tuple(int(i) for i in np.unravel_index(np.argmax(error), base.shape))
                raise GradcheckError(
                    f"gradcheck failed for {label} (shape {base.shape}) at element {worst}: "
                    f"analytic {g[worst]:.10g}, numeric {numeric[worst]:.10g} "
                    f"(atol={atol}, rtol={rtol})")
        else:
            for d in range(directions):
                v = rng.standard_normal(base.shape)
                numeric = (loss_at(i, base + eps * v) - loss_at(i, base - eps * v)) / (2 * eps)
                exact = float(np.sum(g * v))
                if not abs(exact - numeric) <= atol + rtol * abs(numeric):   # NaN fails too
                    raise GradcheckError(
                        f"gradcheck failed for {label} (shape {base.shape}) along random "
                        f"direction {d}: analytic u^T J v = {exact:.10g}, numeric {numeric:.10g} "
                        f"(atol={atol}, rtol={rtol})")
    return True
