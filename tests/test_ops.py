"""Property tests of every op in tests/op_registry.py: forward vs NumPy, backward vs central
differences in float64, and dtype preservation in float32."""
import operator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microtensor as mt
from microtensor.testing import broadcastable_shapes, arrays
from hypothesis import find

from tests.op_registry import BY_NAME, EXEMPT, OPS

IDS = [spec.name for spec in OPS]


def _as_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _joined(out):
    """One tensor from an op's result (split and chunk return several): gradcheck wants one."""
    pieces = _as_tuple(out)
    if len(pieces) == 1:
        return pieces[0]
    return mt.cat([p.reshape(-1) for p in pieces])


def _convert_consts(consts, dtype):
    """float ndarrays among the constants follow the inputs' dtype; everything else is kept."""
    return {k: v.astype(dtype) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v
            for k, v in consts.items()}


# Example counts are set per test (not by the profile) to keep ~100 entries x 3 tests fast.
@pytest.mark.parametrize("spec", OPS, ids=IDS)
@settings(max_examples=15)
@given(data=st.data())
def test_forward_matches_numpy(spec, data):
    arrays_, consts = data.draw(spec.strategy(), label="example")
    tensors = [mt.tensor(a, requires_grad=True) for a in arrays_]
    out = _as_tuple(spec.fn(*tensors, **consts))
    expected = _as_tuple(spec.reference(*[a.copy() for a in arrays_], **consts))
    assert len(out) == len(expected)
    for got, want in zip(out, expected):
        want = np.asarray(want)
        assert isinstance(got, mt.Tensor)
        assert got.shape == want.shape, f"{spec.name}: shape {got.shape} != NumPy {want.shape}"
        assert got.dtype == np.float64, f"{spec.name}: float64 inputs gave {got.dtype}"
        assert got.requires_grad, f"{spec.name}: result of a requires_grad input has no graph"
        np.testing.assert_allclose(got.data, want, rtol=1e-10, atol=1e-12)
    # The op never writes into its inputs.
    for t, a in zip(tensors, arrays_):
        np.testing.assert_array_equal(t.data, a)


@pytest.mark.parametrize("spec", OPS, ids=IDS)
@settings(max_examples=25)
@given(data=st.data())
def test_backward_matches_central_differences(spec, data):
    arrays_, consts = data.draw(spec.strategy(), label="example")
    # Some inputs may be constants: the `needs_input_grad` shortcuts of backward are checked too.
    requires = [True]
    if len(arrays_) > 1:
        requires = data.draw(st.lists(st.booleans(), min_size=len(arrays_),
                                      max_size=len(arrays_)).filter(any), label="requires_grad")
    tensors = [mt.tensor(a, requires_grad=r) for a, r in zip(arrays_, requires)]
    assert mt.gradcheck(lambda *ts: _joined(spec.fn(*ts, **consts)), tensors)


@pytest.mark.parametrize("spec", OPS, ids=IDS)
@settings(max_examples=8)
@given(data=st.data())
def test_float32_stays_float32(spec, data):
    arrays_, consts = data.draw(spec.strategy(), label="example")
    consts32 = _convert_consts(consts, np.float32)
    tensors = [mt.tensor(a.astype(np.float32), requires_grad=True) for a in arrays_]
    out = _joined(spec.fn(*tensors, **consts32))
    assert out.dtype == np.float32, f"{spec.name}: float32 inputs gave {out.dtype}"
    expected = _joined(spec.fn(*[mt.tensor(a) for a in arrays_], **consts))
    np.testing.assert_allclose(out.data, expected.data, rtol=2e-4, atol=2e-4)
    out.backward(np.ones(out.shape, dtype=np.float32))
    for t in tensors:
        assert t.grad is not None and t.grad.dtype == np.float32 and t.grad.shape == t.shape


def _function_classes():
    """Every Function subclass defined in microtensor or rnn (the fused ops included)."""
    pytest.importorskip("rnn")
    found, stack = {}, list(mt.Function.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        # (a private class such as _Extremum is the shared base of a family, not an op)
        if cls.__module__.split(".")[0] in ("microtensor", "rnn") and not cls.__name__.startswith("_"):
            found[cls.__name__] = cls
    return found


def _classes_run_by(spec):
    """The Function classes an entry's fn applies on its simplest example."""
    arrays_, consts = find(spec.strategy(), lambda example: True)
    out = _as_tuple(spec.fn(*[mt.tensor(a, requires_grad=True) for a in arrays_], **consts))
    return {r.tensor.grad_fn.fn.__name__ for r in mt.graph.walk(*out) if r.op is not None}


def test_the_registry_runs_every_function_subclass_but_the_listed_exemptions():
    classes = _function_classes()
    covered = set().union(*(_classes_run_by(spec) for spec in OPS))
    missing = sorted(set(classes) - covered - set(EXEMPT))
    assert not missing, f"ops without a registry entry (add one to tests/op_registry.py, or an " \
                        f"exemption with its reason): {missing}"
    stale = sorted(set(EXEMPT) - set(classes))
    assert not stale, f"exemptions for ops that no longer exist: {stale}"
    assert not set(EXEMPT) & covered, "an exempt op has an entry: drop the exemption"
    assert {"Split", "Prod", "Cumsum", "Sin", "Cos", "CrossEntropy", "LayerNorm"} <= covered


def test_cast_gradients():
    x = mt.tensor(np.array([0.5, -1.5]), requires_grad=True)
    (x.astype(np.float32) * mt.tensor([2.0, 3.0])).sum().backward()
    assert x.grad.dtype == np.float64 and x.grad.tolist() == [2.0, 3.0]
    y = mt.tensor([1.0, 2.0], requires_grad=True)
    y.astype("float64").sum().backward()
    assert y.grad.dtype == np.float32


def test_reflected_forms_are_in_the_registry():
    for name in ("radd_scalar", "rsub_scalar", "rmul_scalar", "rdiv_scalar", "rpow_scalar",
                 "radd_ndarray", "rsub_ndarray", "rmul_ndarray", "rdiv_ndarray", "rpow_ndarray",
                 "rmatmul_ndarray"):
        assert name in BY_NAME


UNARY = ["exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "leaky_relu", "softplus"]


@pytest.mark.parametrize("name", UNARY)
def test_method_and_function_agree(name):
    x = mt.tensor(np.linspace(0.2, 2.0, 6).reshape(2, 3), requires_grad=True)
    by_method = getattr(x, name)()
    by_function = getattr(mt, name)(x)
    np.testing.assert_array_equal(by_method.data, by_function.data)
    assert by_method.grad_fn.op == by_function.grad_fn.op == name


COMPARISONS = [(operator.lt, np.less), (operator.le, np.less_equal), (operator.gt, np.greater),
               (operator.ge, np.greater_equal), (operator.eq, np.equal), (operator.ne, np.not_equal)]


@pytest.mark.parametrize("compare,reference", COMPARISONS, ids=[c.__name__ for c, _ in COMPARISONS])
@settings(max_examples=20)
@given(data=st.data())
def test_comparisons_carry_no_gradient(compare, reference, data):
    sa, sb = data.draw(broadcastable_shapes(2))
    # Few distinct values, so that equal elements are common.
    a = data.draw(arrays(sa, (-1, 1), unique=False, margin=1.0).map(np.round))
    b = data.draw(arrays(sb, (-1, 1)).map(np.round))
    ta, tb = mt.tensor(a, requires_grad=True), mt.tensor(b, requires_grad=True)
    out = compare(ta, tb)
    np.testing.assert_array_equal(out.data, reference(a, b))
    assert out.dtype == np.bool_
    assert not out.requires_grad and out.grad_fn is None
    # Against a Python number, too.
    np.testing.assert_array_equal(compare(ta, 0.0).data, reference(a, 0.0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_ops_survive_extreme_inputs(dtype):
    # No overflow (a RuntimeWarning from microtensor is an error under pytest), no NaN/Inf.
    x = mt.tensor(np.array([[1000.0, 0.0, -1000.0], [-1000.0, -1000.0, -1000.0]], dtype=dtype),
                  requires_grad=True)
    outputs = {
        "softmax": x.softmax(axis=-1), "log_softmax": x.log_softmax(axis=-1),
        "logsumexp": x.logsumexp(axis=-1), "sigmoid": x.sigmoid(), "softplus": x.softplus(),
        "tanh": x.tanh(),
    }
    for name, out in outputs.items():
        assert np.isfinite(out.data).all(), name
        assert out.dtype == dtype, name
    np.testing.assert_allclose(outputs["softmax"].data[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(outputs["softmax"].data[1], [1 / 3] * 3, rtol=1e-6)
    np.testing.assert_allclose(outputs["log_softmax"].data[0], [0.0, -1000.0, -2000.0], rtol=1e-6)
    np.testing.assert_allclose(outputs["logsumexp"].data, [1000.0, -1000.0 + np.log(3)], rtol=1e-6)
    np.testing.assert_allclose(outputs["sigmoid"].data[0], [1.0, 0.5, 0.0])
    np.testing.assert_allclose(outputs["softplus"].data[0], [1000.0, np.log(2), 0.0], rtol=1e-6)
    total = sum(out.sum() for out in outputs.values())
    total.backward()
    assert np.isfinite(x.grad).all()


def test_no_grad_works_as_a_decorator():
    @mt.no_grad()
    def infer(x):
        return x * 2

    assert not infer(mt.ones(2, requires_grad=True)).requires_grad
    assert mt.is_grad_enabled()
