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
import weakref
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
    keep_values = False


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
    gradients nobody asked for; in ``backward``, ``input_shapes`` are the inputs' shapes (see
    :attr:`Node.input_shapes`). When the op is recorded, its context *is* the graph node (a
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


class OpOutput:
    """What the graph keeps of one output of a recorded op, once the tensor itself may be gone.

    The graph's edges lead from a consumer to its inputs' *producers*: a node holds, for each
    input, the input's vertex (a leaf tensor itself; for an op's output, that op's :class:`Node`
    or, for one output of several, its :class:`Port`), never the output tensor, so an
    activation no backward saved is freed as soon as the user drops it (PyTorch's graph holds
    none either). The vertex keeps the output's shape, dtype and name, its kept gradient
    (``keep_grads=True``, ``retain_grad()``) and hooks, and the ``id`` of its array, by which
    ``graph.walk`` finds the value among the arrays its producer and consumers saved (kept with
    the graph by ``keep_grads=True``); under :func:`keep_values` the vertex keeps the array
    itself, for a drawing of every value.

    A node is also its op's ``ctx``, where ops set their own attributes (``ctx.shape``): so the
    vertex's fields all have private names. ``graph.walk`` shows them as an
    :class:`~microtensor.graph.OutputView`.
    """

    __slots__ = ()
    # Rarely set, so they live in the instance dict only when they are (class defaults here).
    _grad = None
    _hooks = None
    _retains_grad = False
    _detached_from = None
    _version_cell = None      # (set by an in-place change or a view: see version_cell)
    _out = None               # the array itself, under keep_values() only

    def _set_out(self, out):
        shape = out.shape
        self._shape = _SHAPES.get(shape) or _interned(shape)
        self._dtype = out.dtype
        self._out_id = id(out)
        if GradMode.keep_values:
            self._out = out

    def _is_output(self, array):
        """Whether ``array`` is this output's array. Exact when ``array`` is alive and was alive
        with the output (an array saved by its producer or by a consumer): two objects alive at
        the same time never share an ``id``."""
        return self._out_id == id(array)


# Shapes are interned: a graph has few distinct ones, and each output keeps its shape.
_SHAPES = {}


def _interned(shape):
    if len(_SHAPES) < 4096:
        _SHAPES[shape] = shape
    return shape


class Node(Context, OpOutput):
    """The record one op application leaves on its output tensor(s); it is also the op's context.

    Attributes: ``fn`` (the Function class), ``inputs`` (the inputs' vertices, in order: a leaf
    tensor, or the :class:`OpOutput` of the op that made the input), ``scope`` (path string),
    ``seq`` (creation order), ``freed`` (backward has released the saved arrays), ``outputs``
    (None for a single-output op; for a multi-output op a tuple of weak references to its
    :class:`Port` s, and ``output_specs`` their ``(shape, dtype)``, so backward can hand a zero
    gradient to an output nobody used). A single-output node is also the vertex of its output
    (its shape, dtype, name and kept gradient: see :class:`OpOutput`). ``Function.apply`` makes
    the node before ``forward`` runs (as its ``ctx``) and fills these in with :meth:`record`
    when a gradient is needed.

    Example:
        >>> import microtensor as mt
        >>> a, b = mt.ones(4, requires_grad=True).split(2)
        >>> a.grad_fn.num_outputs, a.grad_fn is b.grad_fn
        (2, True)
        >>> x = mt.ones(2, requires_grad=True)
        >>> y = x * 3
        >>> y._vertex is y.grad_fn, y.grad_fn.inputs[0] is x
        (True, True)
    """

    __slots__ = ("fn", "inputs", "scope", "_seq", "outputs", "output_specs", "clock",
                 "_shape", "_dtype", "_out_id", "_name", "__weakref__")

    def record(self, fn, inputs, scope, out, seq):
        """Fill in the graph's side of a context whose op is recorded (one output array
        ``out``, whose tensor's creation number is ``seq``); returns the node. ``inputs`` are
        tensors: the node keeps their vertices."""
        self.fn = fn
        n = len(inputs)
        if n == 1:
            a = inputs[0]
            self.inputs = (a._vertex or a,)
        elif n == 2:
            a, b = inputs
            self.inputs = (a._vertex or a, b._vertex or b)
        else:
            self.inputs = tuple([t._vertex or t for t in inputs])
        self.scope = scope
        self._seq = seq              # the output tensor's: after the inputs', no new int
        self.outputs = None
        self.output_specs = None
        self.clock = VersionClock.now      # in-place changes counted so far (see VersionClock)
        self._set_out(out)
        return self

    def record_outputs(self, fn, inputs, scope, outs, tensors):
        """:meth:`record` for an op with several outputs (arrays ``outs`` of the output
        ``tensors``); returns one :class:`Port` per output."""
        self.record(fn, inputs, scope, outs[0], tensors[0]._seq)
        ports = []
        for index, out in enumerate(outs):
            port = Port.__new__(Port)          # (Port(...) minus a call: an LSTM makes 4 a step)
            port.node, port.index, port._seq = self, index, tensors[index]._seq
            port.requires_grad = out.dtype.kind == "f"
            port._set_out(out)
            ports.append(port)
        self.outputs = tuple([weakref.ref(p) for p in ports])
        self.output_specs = tuple([(p._shape, p._dtype) for p in ports])
        return tuple(ports)

    @property
    def seq(self):
        """Creation order: after every input's, before every consumer's."""
        return self._seq

    @property
    def ctx(self):
        """The op's context: the node itself (kept for code written when they were two)."""
        return self

    @property
    def input_shapes(self):
        """In ``backward``: the shapes of the op's inputs, in order (what ``unbroadcast``
        needs). The graph keeps them anyway, so an op need not store its own copy on ``ctx``.

        Example:
            >>> import microtensor as mt
            >>> y = mt.ones(2, 3, requires_grad=True) + mt.ones(3)
            >>> y.grad_fn.input_shapes
            ((2, 3), (3,))
        """
        shapes = []
        for x in self.inputs:
            kind = type(x)
            shapes.append(x._shape if kind is Node or kind is Port else x.data.shape)
        return tuple(shapes)

    @property
    def op(self):
        """The op's name, e.g. ``"matmul"``."""
        return self.fn.name

    @property
    def num_outputs(self):
        """How many tensors the op application returned (1 for most ops)."""
        return 1 if self.outputs is None else len(self.outputs)

    def live_outputs(self):
        """The outputs of a multi-output node that still exist (a tensor or a consumer holds
        them), as ``(index, port)`` pairs."""
        if self.outputs is None:
            return []
        pairs = []
        for index, ref in enumerate(self.outputs):
            p = ref()
            if p is not None:
                pairs.append((index, p))
        return pairs

    def __repr__(self):
        where = f" in {self.scope!r}" if self.scope else ""
        return f"<Node {self.op}{where}>"


class Port(OpOutput):
    """One output of a multi-output op as a vertex of the graph (see :class:`OpOutput`).

    Example:
        >>> import microtensor as mt
        >>> a, b = mt.ones(4, requires_grad=True).split(2)
        >>> port = b._vertex
        >>> port.index, port.node is b.grad_fn, port.requires_grad
        (1, True, True)
    """

    __slots__ = ("node", "index", "_seq", "_shape", "_dtype", "requires_grad", "_out_id", "_name",
                 "__weakref__", "__dict__")
    # Made by Node.record_outputs, which fills node, index, _seq, requires_grad and _set_out.

    def __repr__(self):
        return f"<Port {self.index} of {self.node!r}>"


def vertex_of(t):
    """The graph's vertex for tensor ``t``: the tensor itself for a leaf, else its op's output
    record (an :class:`OpOutput`); a vertex (or its :class:`OutputView`) gives its own.

    Example:
        >>> import microtensor as mt
        >>> x = mt.ones(2, requires_grad=True)
        >>> y = x * 2
        >>> vertex_of(x) is x, vertex_of(y) is y.grad_fn
        (True, True)
    """
    return getattr(t, "_vertex", None) or t


def producer(vertex):
    """The node that made ``vertex``, or None for a leaf tensor.

    Example:
        >>> import microtensor as mt
        >>> y = mt.ones(2, requires_grad=True) * 2
        >>> producer(vertex_of(y)) is y.grad_fn
        True
    """
    kind = type(vertex)
    if kind is Node:
        return vertex
    if kind is Port:
        return vertex.node
    return None


class OutputView:
    """An op output's vertex seen as a read-only tensor: what ``graph.walk`` gives as a record's
    ``tensor`` once the tensor object itself may be gone (see :class:`OpOutput`).

    ``data`` is the array if :func:`keep_values` kept it or ``found`` (an array the walk found
    saved by the output's producer or a consumer) is given; None otherwise.

    Example:
        >>> import microtensor as mt
        >>> x = mt.ones(2, requires_grad=True)
        >>> y = (x * 3).sum()
        >>> view = OutputView(y.grad_fn.inputs[0])
        >>> view.shape, view.op, view.data is None      # nobody saved x * 3
        ((2,), 'mul', True)
    """

    __slots__ = ("_vertex", "_found")
    is_leaf = False

    def __init__(self, vertex, found=None):
        self._vertex = vertex
        self._found = found

    @property
    def data(self):
        """The array, or None if the graph did not keep it."""
        out = self._vertex._out
        return self._found if out is None else out

    grad = property(lambda self: self._vertex._grad, doc="The kept gradient, or None.")
    name = property(lambda self: getattr(self._vertex, "_name", None), doc="The name, or None.")
    shape = property(lambda self: self._vertex._shape, doc="The shape.")
    dtype = property(lambda self: self._vertex._dtype, doc="The dtype.")
    ndim = property(lambda self: len(self._vertex._shape), doc="Number of dimensions.")
    size = property(lambda self: int(np.prod(self._vertex._shape, dtype=np.int64)),
                    doc="Number of elements.")
    grad_fn = property(lambda self: producer(self._vertex), doc="The node that made it.")
    op = property(lambda self: producer(self._vertex).op, doc="The op's name.")
    scope = property(lambda self: producer(self._vertex).scope, doc="The op's scope path.")
    requires_grad = property(lambda self: type(self._vertex) is Node or self._vertex.requires_grad,
                             doc="Whether it takes a gradient (False for an integer output).")

    def register_hook(self, fn):
        """Call ``fn(grad)`` when this output's gradient is computed (as ``Tensor.register_hook``)."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on an output that takes no gradient")
        return add_hook(self._vertex, fn)

    def __repr__(self):
        return f"<output of {self.op!r}, shape {self.shape}, name {self.name!r}>"


class HookHandle:
    """Returned by ``register_hook``; ``remove()`` takes the hook off."""

    def __init__(self, hooks, fn):
        self._hooks, self._fn = hooks, fn

    def remove(self):
        """Unregister the hook (a second call does nothing)."""
        if self._fn in self._hooks:
            self._hooks.remove(self._fn)


def add_hook(vertex, fn):
    """Append ``fn`` to the hooks of ``vertex`` (a leaf tensor or an op output's record).

    Example:
        >>> import microtensor as mt
        >>> x = mt.ones(1, requires_grad=True)
        >>> add_hook(x, print).remove()
    """
    if vertex._hooks is None:
        vertex._hooks = []
    vertex._hooks.append(fn)
    return HookHandle(vertex._hooks, fn)


def shown(vertex, found=None):
    """A vertex as something with a tensor's read-only attributes: a leaf tensor itself, an
    op output's :class:`OutputView` (``found``: its array, if the caller found it).

    Example:
        >>> import microtensor as mt
        >>> shown(vertex_of(mt.ones(3, requires_grad=True) * 2)).shape
        (3,)
    """
    return OutputView(vertex, found) if isinstance(vertex, OpOutput) else vertex


@contextmanager
def keep_values():
    """Keep the value of every op output recorded inside the block for as long as the graph
    lives, for a drawing or a report that shows them (by default the graph keeps only what a
    backward saved, and an unsaved activation is freed with its tensor).

    Example:
        >>> import microtensor as mt
        >>> x = mt.ones(2, requires_grad=True)
        >>> with mt.keep_values():
        ...     y = (x + 1).sum()
        >>> [r.tensor.data for r in mt.graph.walk(y) if r.op == "add"]
        [array([2., 2.], dtype=float32)]
    """
    previous = GradMode.keep_values
    GradMode.keep_values = True
    try:
        yield
    finally:
        GradMode.keep_values = previous


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


def tensor_maker(cls):
    """The function ``make(data, requires_grad)`` that wraps an ndarray in a new ``cls`` tensor
    without copying or checking, every slot filled: the path every op output takes, one call
    deep.

    Example:
        >>> import microtensor as mt
        >>> tensor_maker(mt.Tensor)(np.zeros(2), False).shape
        (2,)
    """
    new = cls.__new__

    def make(data, requires_grad):
        t = new(cls)
        t.data = data
        t._grad = None
        t.requires_grad = requires_grad
        t._name = None
        t._node = None
        t._vertex = None
        t._hooks = None
        t._retains_grad = False
        t._detached_from = None
        t._scope = ScopeState.path
        t._seq = next_seq()
        t._version_cell = None
        return t
    return make


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
        cell = [0, 0]
        _give_version_cell(t, cell)
    return cell


def _give_version_cell(t, cell):
    """Make ``cell`` the version counter of ``t`` and of its graph vertex (which backward
    checks, and which outlives the tensor)."""
    t._version_cell = cell
    if t._vertex is not None:
        t._vertex._version_cell = cell


def share_version(result, out, tensors):
    """Give an op's output the version counter of the input it is a view of (NumPy's ``base``),
    so an in-place change through either one is seen by both, as PyTorch's views are."""
    base = out.base
    for t in tensors:
        data = t.data
        if data is base or (data.base is not None and data.base is base):
            _give_version_cell(result, version_cell(t))
            return


class TensorBase:
    """What every tensor has, independent of any op: data, gradient, node, name, scope.

    ``microtensor.Tensor`` is the class users hold; this base exists so that the engine's lower
    layers (Function, autograd, graph) can recognise tensors without importing the class that
    imports them.
    """

    __slots__ = ("data", "_grad", "requires_grad", "_name", "_node", "_vertex", "_hooks",
                 "_retains_grad", "_detached_from", "_scope", "_seq", "_version_cell", "__weakref__")

    # A leaf keeps its gradient and name itself; an op's output keeps them on its vertex (the
    # graph's record of it, ``_vertex``), so they outlive the tensor object in a drawing.
    @property
    def grad(self):
        """The gradient: a leaf's accumulated one; an op output's if it was kept
        (``keep_grads=True``, :meth:`retain_grad`), else None."""
        return (self._vertex or self)._grad

    @grad.setter
    def grad(self, value):
        (self._vertex or self)._grad = value

    @property
    def name(self):
        """The tensor's name in drawings and messages (None if it has none)."""
        v = self._vertex
        return self._name if v is None else getattr(v, "_name", None)

    @name.setter
    def name(self, value):
        (self._vertex or self)._name = value

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
