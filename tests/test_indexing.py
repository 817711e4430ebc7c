"""Indexing equals NumPy and PyTorch for every index form, forward and backward.

Hypothesis draws a shape and an index made of ints (negative too), slices (any step), None,
Ellipsis, lists, tuples inside the index, nested lists, integer arrays, Tensors and boolean masks,
mixed basic and advanced, with repeats. The value must equal NumPy's ``a[index]`` and the gradient
of ``(x[index] * w).sum()`` must equal the count-weighted scatter computed from element positions
(an independent reference: no ``np.add.at``), and both must equal ``torch`` where it takes the
index. Where NumPy and PyTorch disagree, microtensor raises instead of picking one silently.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microtensor as mt

try:
    import torch
except ImportError:          # the NumPy half still runs
    torch = None


def _positions_reference(shape, index, weights):
    """d/dx sum(x[index] * w): every element gets the weights of the outputs that read it."""
    positions = np.arange(int(np.prod(shape))).reshape(shape)[index]
    flat = np.bincount(np.ravel(positions), weights=np.ravel(weights),
                       minlength=int(np.prod(shape)))
    return flat.reshape(shape)


@st.composite
def index_items(draw, size):
    """One index item for an axis of ``size`` (returns the item and how many axes it uses)."""
    ints = st.integers(-size, size - 1)
    kind = draw(st.sampled_from(["int", "slice", "none", "list", "tuple", "nested", "array",
                                 "tensor", "bool", "empty"]))
    if kind == "int":
        return draw(ints), 1
    if kind == "slice":
        bound = st.none() | st.integers(-size - 1, size + 1)
        step = draw(st.none() | st.sampled_from([1, 2, 3, -1, -2]))
        return slice(draw(bound), draw(bound), step), 1
    if kind == "none":
        return None, 0
    if kind == "list":
        return draw(st.lists(ints, min_size=1, max_size=4)), 1
    if kind == "tuple":
        return tuple(draw(st.lists(ints, min_size=1, max_size=4))), 1
    if kind == "nested":
        rows, cols = draw(st.integers(1, 2)), draw(st.integers(1, 3))
        return [[draw(ints) for _ in range(cols)] for _ in range(rows)], 1
    if kind == "array":
        return np.array(draw(st.lists(ints, min_size=1, max_size=4))), 1
    if kind == "tensor":
        return mt.tensor(draw(st.lists(ints, min_size=1, max_size=4))), 1
    if kind == "empty":
        return [], 1
    return np.array(draw(st.lists(st.booleans(), min_size=size, max_size=size))), 1


@st.composite
def indexed(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    items, axis = [], 0
    ellipsis_used = False
    advanced_kinds = 0
    while axis < len(shape) and draw(st.booleans()) or not items:
        if axis >= len(shape):
            break
        if not ellipsis_used and draw(st.integers(0, 5)) == 0:
            items.append(Ellipsis)
            ellipsis_used = True
            axis = max(axis, len(shape) - draw(st.integers(0, len(shape) - axis)))
            continue
        item, used = draw(index_items(shape[axis]))
        is_array = isinstance(item, (list, tuple, np.ndarray, mt.Tensor))
        if is_array:
            # Index arrays broadcast against each other: keep at most two, both 1-d or the
            # same length, so that most drawn indices are valid.
            if advanced_kinds == 1 or np.ndim(getattr(item, "data", item)) != 1 or \
                    isinstance(item, np.ndarray) and item.dtype == bool:
                advanced_kinds = 2
            else:
                advanced_kinds += 1
            if advanced_kinds > 2:
                continue
        items.append(item)
        axis += used
    index = items[0] if len(items) == 1 and draw(st.booleans()) else tuple(items)
    return shape, index


def _numpy_index(index):
    """The same index with Tensors as ndarrays and tuples inside as lists (NumPy's spelling)."""
    def convert(item):
        if isinstance(item, mt.Tensor):
            return item.data
        if isinstance(item, tuple):
            return list(item)
        return item
    return tuple(convert(i) for i in index) if isinstance(index, tuple) else convert(index)


def _torch_index(index):
    def convert(item):
        if isinstance(item, mt.Tensor):
            return torch.from_numpy(item.data)
        if isinstance(item, np.ndarray):
            return torch.from_numpy(item)
        if isinstance(item, slice) and item.step is not None and item.step < 0:
            raise NotImplementedError("torch has no negative steps")
        return item
    if isinstance(index, list):
        # A list as the whole index is an index array (NumPy; PyTorch's own future reading: its
        # legacy one, still in 2.x with a deprecation warning, reads [[0]] as a tuple).
        return torch.tensor(index, dtype=torch.bool if _all_bools(index) else torch.int64)
    return tuple(convert(i) for i in index) if isinstance(index, tuple) else convert(index)


def _all_bools(items):
    flat = np.asarray(items)
    return flat.size > 0 and flat.dtype == bool


def _torch_result(data, index, weights=None):
    """(value, gradient) from torch, or None where torch cannot take the index. ``weights``
    weigh the result in the backward; None: ones of torch's own result shape (which, for the
    forms NumPy and PyTorch read differently, is not NumPy's)."""
    if torch is None:
        return None
    try:
        x = torch.tensor(data, requires_grad=True)
        out = x[_torch_index(index)]
    except (NotImplementedError, IndexError, ValueError, TypeError, RuntimeError):
        return None
    (out * (torch.ones_like(out) if weights is None else torch.tensor(weights))).sum().backward()
    return out.detach().numpy(), x.grad.numpy()


@settings(max_examples=300)
@given(indexed(), st.data())
def test_indexing_matches_numpy_and_torch_forward_and_backward(case, data):
    shape, index = case
    values = np.arange(1.0, 1.0 + np.prod(shape)).reshape(shape)
    try:
        expected = values[_numpy_index(index)]
    except IndexError:
        with pytest.raises((IndexError, ValueError)):
            mt.tensor(values)[index]
        return
    x = mt.tensor(values, requires_grad=True)
    try:
        out = x[index]
    except IndexError as error:
        # Only the form NumPy and PyTorch read differently may be refused, and it must say so.
        assert "NumPy" in str(error) and "PyTorch" in str(error)
        theirs = _torch_result(values, index)
        assert theirs is not None and (theirs[0].shape != expected.shape
                                       or not np.array_equal(theirs[0], expected))
        return
    np.testing.assert_array_equal(out.data, expected)
    weights = data.draw(st.lists(st.floats(-3, 3), min_size=expected.size, max_size=expected.size))
    weights = np.array(weights, dtype=np.float64).reshape(expected.shape)
    (out * mt.tensor(weights)).sum().backward()
    reference = _positions_reference(shape, _numpy_index(index), weights)
    np.testing.assert_allclose(x.grad, reference, rtol=1e-12, atol=1e-12)
    theirs = _torch_result(values, index, weights)
    if theirs is not None:
        np.testing.assert_array_equal(theirs[0], expected)
        np.testing.assert_allclose(theirs[1], reference, rtol=1e-12, atol=1e-12)


def test_a_tuple_inside_an_index_repeats_rows_and_accumulates():
    # The silent wrong gradient: it gave x.grad[0] == [1, 1].
    x = mt.tensor(np.ones((2, 2)), requires_grad=True)
    x[(0, 0), :].sum().backward()
    np.testing.assert_array_equal(x.grad, [[2, 2], [0, 0]])


def test_forms_spelled_differently_give_the_same_gradient():
    data = np.arange(12.0).reshape(3, 4)
    grads = []
    for index in ([[0, 2, 0]], ((0, 2, 0),), np.array([0, 2, 0]), mt.tensor([0, 2, 0]),
                  ([0, 2, 0], slice(None)), (np.array([True, False, True]),)):
        x = mt.tensor(data, requires_grad=True)
        x[index if not isinstance(index, list) else index[0]].sum().backward()
        grads.append(x.grad)
    for g in grads[:4]:
        np.testing.assert_array_equal(g, grads[0])
    np.testing.assert_array_equal(grads[0][:, 0], [2, 0, 1])


def test_the_form_numpy_and_pytorch_read_differently_is_refused_with_both_spellings():
    x = mt.zeros(2, 3, 4)
    with pytest.raises(IndexError, match=r"NumPy \(result shape \(2, 3\)\) and PyTorch "
                                         r"\(result shape \(3, 2\)\).*x\[0\]\[:, idx\]"):
        x[0, :, [0, 1]]
    assert x[0][:, [0, 1]].shape == (3, 2) and x[[0], :, [0, 1]].shape == (2, 3)
    assert x[:, 0, [0, 1]].shape == (2, 2)            # adjacent: both agree, so it is allowed


def test_bad_indices_name_the_op():
    with pytest.raises(mt.ShapeError, match="getitem: index 5 does not fit shape"):
        mt.zeros(3)[5]
    with pytest.raises(TypeError, match="getitem: index arrays must hold integers"):
        mt.zeros(3)[np.array([0.5])]
