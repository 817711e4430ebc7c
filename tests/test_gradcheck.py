"""mt.gradcheck: passes correct gradients, catches wrong ones (naming input, element, values),
refuses float32, and never lets a NaN through."""
import re

import numpy as np
import pytest

import microtensor as mt


def f64(data, name=None):
    return mt.tensor(np.asarray(data, dtype=np.float64), requires_grad=True, name=name)


def _scaled_op(true_scale, claimed_scale):
    """forward: true_scale * x; backward: claimed_scale * grad (wrong unless equal)."""
    class Scale(mt.Function):
        @staticmethod
        def forward(ctx, x):
            return true_scale * x

        @staticmethod
        def backward(ctx, grad):
            return claimed_scale * grad
    return Scale


def test_correct_gradients_pass_elementwise_and_by_directions():
    small = f64(np.linspace(-1, 1, 12).reshape(3, 4))
    large = f64(np.linspace(-1, 1, 200).reshape(10, 20))     # > max_elements: random directions
    assert mt.gradcheck(lambda a, b: (a @ b[:4, :5]).tanh().sum(axis=0) * b[0, :5], [small, large])
    assert small.grad is None and large.grad is None          # checking writes no .grad


def test_refuses_float32_and_says_why():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"input 0 is float32; use float64.*rounding"):
        mt.gradcheck(lambda x: x * 2, [x])


def test_refuses_float32_output():
    x = f64([1.0])
    with pytest.raises(TypeError, match="float32 tensor"):
        mt.gradcheck(lambda x: x.float() * 2, [x])


def test_wrong_gradient_names_input_element_and_values():
    x = f64([1.0, 2.0, 3.0])
    with pytest.raises(mt.GradcheckError) as info:
        mt.gradcheck(lambda x: _scaled_op(3.0, 2.0).apply(x), [x])
    message = str(info.value)
    found = re.search(r"gradcheck failed for input 0 \(shape \(3,\)\) at element \((\d),\): "
                      r"analytic (\S+), numeric (\S+) \(atol", message)
    assert found, message
    analytic, numeric = float(found.group(2)), float(found.group(3))
    assert analytic / numeric == pytest.approx(2.0 / 3.0, rel=1e-6)


def test_failure_uses_the_tensor_name_and_the_right_input():
    good, bad = f64([1.0, 2.0], name="good"), f64([0.5, 0.25], name="weight")
    with pytest.raises(mt.GradcheckError, match=r"gradcheck failed for weight \(shape \(2,\)\)"):
        mt.gradcheck(lambda a, b: a * _scaled_op(1.0, 1.01).apply(b), [good, bad])


def test_wrong_gradient_of_a_large_input_fails_along_a_direction():
    x = f64(np.ones(100))
    with pytest.raises(mt.GradcheckError, match="along random direction 0: analytic u\\^T J v"):
        mt.gradcheck(lambda x: _scaled_op(1.0, 1.1).apply(x), [x])


def test_small_relative_errors_are_caught():
    x = f64([1.0, 2.0])
    with pytest.raises(mt.GradcheckError):
        mt.gradcheck(lambda x: _scaled_op(1.0, 1.01).apply(x) * 50, [x])


def test_nan_gradient_never_passes():
    x = f64([1.0, 2.0])
    with pytest.raises(mt.GradcheckError, match="analytic nan"):
        mt.gradcheck(lambda x: _scaled_op(1.0, np.nan).apply(x), [x])
    big = f64(np.ones(100))
    with pytest.raises(mt.GradcheckError, match="analytic u\\^T J v = nan"):
        mt.gradcheck(lambda x: _scaled_op(1.0, np.nan).apply(x), [big])


def test_constant_output_has_zero_gradient():
    x = f64([1.0, 2.0])
    with mt.no_grad():
        const = x * 0 + 1
    assert mt.gradcheck(lambda x: const * 1.0, [x])


def test_only_inputs_requiring_grad_are_checked():
    x = f64([1.0, 2.0])
    frozen = mt.tensor(np.array([3.0, 4.0]))        # no requires_grad: skipped, may be anything
    assert mt.gradcheck(lambda x, c, k: x * c * k, [x, frozen, 2.0])


def test_bad_arguments():
    with pytest.raises(ValueError, match="no input has requires_grad=True"):
        mt.gradcheck(lambda x: x, [mt.tensor(np.ones(2))])
    with pytest.raises(TypeError, match="must return a Tensor"):
        mt.gradcheck(lambda x: x.data, [f64([1.0])])


def test_checks_are_reproducible():
    x = f64([1.0, 2.0])
    messages = []
    for _ in range(2):
        with pytest.raises(mt.GradcheckError) as info:
            mt.gradcheck(lambda x: _scaled_op(3.0, 2.0).apply(x), [x])
        messages.append(str(info.value))
    assert messages[0] == messages[1]
