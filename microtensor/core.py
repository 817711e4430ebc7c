"""The bottom of the engine: a tensor's data, the graph node, and the grad and scope state.

Everything else in microtensor imports this module and this module imports nothing of
microtensor's except its errors, so the import order has no circle::

    errors, core -> gradients -> function (extend) -> graph -> autograd -> ops -> tensor -> nn, optim

:class:`TensorBase` holds what every tensor has (data, grad, node, name, scope, version) and
what can be done without any op; ``microtensor.Tensor`` subclasses it and adds the operators,
which call the ops. An op's output is made by the input tensor's ``_wrap`` (Tensor's own
factory), so this module never needs to know the class on top.

Example:
    >>> import microtensor as mt
    >>> isinstance(mt.ones(2), TensorBase), mt.get_default_dtype()
    (True, dtype('float32'))
"""
import gc
import itertools
from contextlib import contextmanager

import numpy as np

from .errors import FREED_MESSAGE, GraphFreedError

# One counter for tensors and nodes alike: creation order is what makes ids stable across runs.
_creation_counter = itertools.count()
next_seq = _creation_counter.__next__

DEFAULT_FLOAT = np.dtype(np.float32)
_SUPPORTED_KINDS = "fiub"


def get_default_dtype():
    """The dtype Python floats become: float32, as in PyTorch.

    Example:
        >>> import microtensor as mt
        >>> mt.get_default_dtype()
        dtype('float32')
    """
    return DEFAULT_FLOAT


class GradMode:
    """Process-wide switches read by every op application: recording on/off, anomaly checks."""
    grad_enabled = True
    anomaly = False


class ScopeState:
    """The active scope: a list of parts and the joined path, kept in sync so that an op reads
    one attribute."""
    parts = []
    path = ""


@contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector inside the block (reentrant: an inner block leaves
    it as the outer one set it).

    The autograd graph makes no reference cycles (a node holds its inputs, never its outputs,
    except through weak references), so recording or running it leaves the collector nothing
    to find; but every Tensor and node it allocates counts towards the next collection, and each
    full collection walks the whole live graph: over a long unroll that cost grows faster than
    the unroll (a 3,000-step LSTM forward spent ~40% of its time in it). ``backward()`` runs
    under it. To spare a long unroll too, wrap the whole step, forward and backward: pausing
    only the forward moves the collection to just after it, while the graph is still alive.

    Example:
        >>> import gc, microtensor as mt
        >>> with mt.gc_paused():
        ...     print(gc.isenabled())
        False
        >>> gc.isenabled()
        True
    """
    collecting = gc.isenabled()
    if collecting:
        gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


@contextmanager
def scope(name):
    """Record ``name`` (joined with ``/`` to any enclosing scope) on every node made inside.

    Example:
        >>> import microtensor as mt
        >>> with mt.scope("lstm/l0"), mt.scope("t3"):
        ...     print(mt.current_scope())
        lstm/l0/t3
    """
    name = str(name).strip("/")
    if not name:
        raise ValueError("scope name must be a non-empty string")
    parts = ScopeState.parts
    parts.append(name)
    previous = ScopeState.path
    ScopeState.path = "/".join(parts)
    try:
        yield ScopeState.path
    finally:
        parts.pop()
        ScopeState.path = previous


def current_scope():
    """The scope path active now (``""`` outside any scope).

    Example:
        >>> import microtensor as mt
        >>> mt.current_scope()
        ''
    """
    return ScopeState.path


class Context:
    """What ``forward`` leaves for ``backward``: saved arrays and any attribute you set.

    ``needs_input_grad`` is a tuple of booleans, one per input, so ``backward`` can skip
    gradients nobody asked for. When the op is recorded, its context *is* the graph node (a
    :class:`Node`): one object per op application instead of two.

    Example:
        >>> ctx = Context((True, False))
        >>> ctx.save_for_backward(np.ones(2))
        >>> ctx.saved_tensors[0]
        array([1., 1.])
    """

    # ``__dict__`` stays: ops set their own attributes on ctx (ctx.axis = ...); Python makes the
    # dict only for the ops that do.
    __slots__ = ("needs_input_grad", "_saved", "freed", "__dict__")

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self._saved = ()
        self.freed = False

    def save_for_backward(self, *arrays):
        """Keep ``arrays`` for ``backward`` (freed after backward unless retain_graph)."""
        self._saved = arrays

    @property
    def saved_tensors(self):
        """The arrays given to ``save_for_backward``, in order."""
        if self.freed:
            raise GraphFreedError(FREED_MESSAGE)
        return self._saved

    def release(self):
        """Free the saved arrays (called by the backward pass)."""
        self._saved = ()
        self.freed = True


class Node(Context):
    """The record one op application leaves on its output tensor(s); it is also the op's context.

    Attributes: ``fn`` (the Function class), ``inputs`` (input tensors, in order), ``scope`` (path
    string), ``seq`` (creation order), ``freed`` (backward has released the saved arrays),
    ``outputs`` (None for a single-output op; for a multi-output op a tuple of weak references to
    its outputs, and ``output_specs`` their ``(shape, dtype)``, so backward can hand a zero
    gradient to an output nobody used). ``Function.apply`` makes the node before ``forward`` runs
    (as its ``ctx``) and fills these in with :meth:`record` when a gradient is needed.

    Example:
        >>> import microtensor as mt
        >>> a, b = mt.ones(4, requires_grad=True).split(2)
        >>> a.grad_fn.num_outputs, a.grad_fn is b.grad_fn
        (2, True)
    """

    __slots__ = ("fn", "inputs", "scope", "seq", "outputs", "output_specs", "clock")

    def record(self, fn, inputs, scope, outputs=None):
        """Fill in the graph's side of a context whose op is recorded; returns the node."""
        self.fn = fn
        self.inputs = inputs
        self.scope = scope
        self.seq = next_seq()
        self.outputs = outputs
        self.output_specs = None
        self.clock = VersionClock.now      # in-place changes counted so far (see VersionClock)
        return self

    @property
    def ctx(self):
        """The op's context: the node itself (kept for code written when they were two)."""
        return self

    @property
    def op(self):
        """The op's name, e.g. ``"matmul"``."""
        return self.fn.name

    @property
    def num_outputs(self):
        """How many tensors the op application returned (1 for most ops)."""
        return 1 if self.outputs is None else len(self.outputs)

    def live_outputs(self):
        """The outputs of a multi-output node that still exist, as ``(index, tensor)`` pairs."""
        if self.outputs is None:
            return []
        pairs = []
        for index, ref in enumerate(self.outputs):
            t = ref()
            if t is not None:
                pairs.append((index, t))
        return pairs

    def __repr__(self):
        where = f" in {self.scope!r}" if self.scope else ""
        return f"<Node {self.op}{where}>"


def axis_or_dim(axis, dim, default=None):
    """``axis``, or its PyTorch alias ``dim``; ``default`` when neither is given.

    Example:
        >>> axis_or_dim(None, 1), axis_or_dim(None, None, -1)
        (1, -1)
    """
    if dim is not None:
        if axis is not None:
            raise TypeError("give axis or dim, not both")
        return dim
    return default if axis is None else axis


def promote(a, b):
    """Two operands cast to the dtype PyTorch gives their result: a floating-point tensor's
    dtype wins over an integer or boolean tensor's (float32 * int64 is float32; NumPy would
    give float64); otherwise NumPy's rule, which is PyTorch's there, applies unchanged.

    Example:
        >>> x, i = promote(np.ones(2, dtype=np.float32), np.arange(2))
        >>> x.dtype, i.dtype
        (dtype('float32'), dtype('float32'))
    """
    da, db = a.dtype, b.dtype
    if da is db or da.kind == db.kind:
        return a, b
    if da.kind == "f" and db.kind in "iub":
        return a, b.astype(da)
    if db.kind == "f" and da.kind in "iub":
        return a.astype(db), b
    return a, b


def check_grad_dtype(dtype):
    """Only floating-point tensors can require gradients: raise a TypeError for any other dtype."""
    if dtype.kind != "f":
        raise TypeError(f"only floating-point tensors can require gradients, not {dtype} "
                        f"(integer tensors serve as indices and targets)")


def to_array(data, dtype=None):
    """User data as a new ndarray with PyTorch's dtype defaults, or a clear TypeError.

    Example:
        >>> to_array([1.0, 2.0]).dtype, to_array([1, 2]).dtype
        (dtype('float32'), dtype('int64'))
    """
    if isinstance(data, TensorBase):
        data = data.data
    if isinstance(data, str) or (isinstance(data, np.ndarray) and data.dtype.kind in "USO"):
        raise TypeError(f"cannot make a tensor from text ({data!r:.40}); give numbers")
    try:
        array = np.array(data, dtype=dtype, copy=True)
    except (ValueError, TypeError) as error:
        raise TypeError(f"cannot make a tensor from {type(data).__name__}: {error} "
                        f"(nested lists must be rectangular and hold only numbers)") from None
    if array.dtype.kind not in _SUPPORTED_KINDS:
        raise TypeError(f"unsupported dtype {array.dtype}: use float32, float64, int or bool data")
    if dtype is None and array.dtype.kind == "f" and not isinstance(data, (np.ndarray, np.generic)):
        array = array.astype(DEFAULT_FLOAT)   # Python floats -> float32, as in PyTorch
    if array.dtype.kind == "u" and dtype is None:
        array = array.astype(np.int64)
    return array


def init_tensor(t, data, requires_grad):
    """Fill the slots of a new tensor object (the fast path every op output takes: no checks)."""
    t.data = data
    t.grad = None
    t.requires_grad = requires_grad
    t.name = None
    t._node = None
    t._hooks = None
    t._retains_grad = False
    t._detached_from = None
    t._scope = ScopeState.path
    t._seq = next_seq()
    t._version_cell = None
    return t


class VersionClock:
    """Counts in-place changes process-wide. A node remembers the count when it is made; a
    tensor's version cell remembers the count of its last change. A saved tensor changed after
    its node was made iff its last change is later, so recording a node costs one integer, and
    backward looks closer only at nodes made before some in-place change happened."""
    now = 0


def version_cell(t):
    """The tensor's version counter ``[version, clock of the last change]``, shared by every
    tensor that views the same memory (its detached copies, the views ops make of it), made on
    first need."""
    cell = t._version_cell
    if cell is None:
        cell = t._version_cell = [0, 0]
    return cell


def share_version(result, out, tensors):
    """Give an op's output the version counter of the input it is a view of (NumPy's ``base``),
    so an in-place change through either one is seen by both, as PyTorch's views are."""
    base = out.base
    for t in tensors:
        data = t.data
        if data is base or (data.base is not None and data.base is base):
            result._version_cell = version_cell(t)
            return


class TensorBase:
    """What every tensor has, independent of any op: data, gradient, node, name, scope.

    ``microtensor.Tensor`` is the class users hold; this base exists so that the engine's lower
    layers (Function, autograd, graph) can recognise tensors without importing the class that
    imports them.
    """

    __slots__ = ("data", "grad", "requires_grad", "name", "_node", "_hooks", "_retains_grad",
                 "_detached_from", "_scope", "_seq", "_version_cell", "__weakref__")

    @property
    def shape(self):
        """The shape, a tuple of ints."""
        return self.data.shape

    @property
    def ndim(self):
        """Number of dimensions."""
        return self.data.ndim

    @property
    def size(self):
        """Number of elements."""
        return self.data.size

    @property
    def dtype(self):
        """The NumPy dtype."""
        return self.data.dtype

    @property
    def is_leaf(self):
        """True if no recorded op made this tensor (parameters, inputs, detached tensors)."""
        return self._node is None

    @property
    def scope(self):
        """The scope path that was active when this tensor was made (``""`` outside any scope).

        Example:
            >>> import microtensor as mt
            >>> with mt.scope("encoder"):
            ...     h = mt.zeros(2)
            >>> h.scope
            'encoder'
        """
        return self._node.scope if self._node is not None else self._scope

    @property
    def grad_fn(self):
        """The :class:`~microtensor.core.Node` that made this tensor, or None for a leaf."""
        return self._node

    @property
    def _version(self):
        """How many times this tensor's memory was changed in place (PyTorch's ``t._version``):
        by its in-place methods (``add_``, ``zero_``...), an optimizer step, ``nn.init`` or
        :meth:`bump_version`. Shared with its views and detached copies.

        Example:
            >>> import microtensor as mt
            >>> w = mt.zeros(3)
            >>> v = w.detach()
            >>> w.add_(1.0)._version, v._version
            (1, 1)
        """
        cell = self._version_cell
        return 0 if cell is None else cell[0]

    def bump_version(self):
        """Record that this tensor's memory was changed in place. Call it after writing into
        ``.data`` yourself (writes through ``.data`` are otherwise untracked, as PyTorch's are), so
        that a backward pass that saved the old values raises instead of using the new ones.

        Example:
            >>> import microtensor as mt
            >>> w = mt.ones(2)
            >>> w.data[:] = 5.0
            >>> w.bump_version()._version
            1
        """
        cell = version_cell(self)
        VersionClock.now += 1
        cell[0] += 1
        cell[1] = VersionClock.now
        return self
