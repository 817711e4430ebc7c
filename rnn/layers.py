"""Stacked, optionally bidirectional recurrent layers: one generic class for any cell.

:class:`Recurrent` unrolls any cell (see :mod:`rnn.cells` and docs/custom_cell.md) over time,
stacks ``num_layers`` of them, runs a reverse direction if ``bidirectional``, applies dropout
between layers in training mode and masks padded steps given ``lengths``. :class:`RNN`,
:class:`LSTM` and :class:`GRU` are that class with PyTorch's signature and parameter names
(``weight_ih_l0``, ``bias_hh_l1_reverse``, ...), so PyTorch state dicts load unchanged.

The built-in layers own their weights and call the stateless steps of :mod:`rnn.steps`, as
PyTorch's ``nn.LSTM`` calls ``_VF.lstm``; :class:`Recurrent` with any other cell keeps one cell
per layer and direction as a sub-module and registers the cell's parameters under the layer's
names. Nothing writes into a module's internals.

What the graph records follows :mod:`rnn.conventions`: each layer and direction runs in scope
``"<name>/l<k>[/reverse]"``, where the initial states (leaves ``h0``, ``c0``) and the input
projection of the steps (``x_proj``, one ``linear`` for up to :data:`PROJECTION_BLOCK` steps) are
made; each time step runs in the sub-scope ``t<t>`` (``"lstm/l0/reverse/t3"``) and records only
the step's own ops (see :mod:`rnn.steps` for their names). With ``fused=True`` each layer and
direction is one fused op (:mod:`rnn.fused`) in the layer/direction scope instead.

Example:
    >>> import microtensor as mt, rnn
    >>> mt.manual_seed(0)
    >>> lstm = rnn.LSTM(input_size=3, hidden_size=5, num_layers=2, bidirectional=True)
    >>> output, (h_n, c_n) = lstm(mt.randn(7, 2, 3))          # (T, B, I)
    >>> output.shape, h_n.shape, c_n.shape
    ((7, 2, 10), (4, 2, 5), (4, 2, 5))
"""
import warnings

import numpy as np

import microtensor as mt

from . import conventions, fused as _fused, steps
from .cells import GRUCell, LSTMCell, RNNCell, _as_tensor, _uniform_parameter
from .conventions import CELL_KINDS, positive_int

#: Steps whose input projection is made by one GEMM: a whole sequence up to this length, so a
#: drawing shows one ``x_proj``; a longer unroll holds only one block's projection at a time
#: (at T = 1,000 the whole (T, B, 4H) projection was a third of an LSTM's forward peak).
PROJECTION_BLOCK = 64


def _check_lengths(lengths, T, B):
    """``lengths`` as an int array (B,), each in 1..T, or an error naming the bad length."""
    values = np.asarray(getattr(lengths, "data", lengths))
    if values.ndim != 1 or values.shape[0] != B:
        raise mt.ShapeError(f"lengths must hold one length per sequence: expected shape ({B},), "
                            f"got {values.shape}")
    if values.dtype.kind == "f":
        # Refuse inf, nan and 2.5 by name before the cast to int (inf would become -2**63).
        bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"lengths must be whole numbers of steps in 1..{T}: lengths[{i}] "
                             f"is {values[i].item()!r} (lengths = {values.tolist()})")
    elif values.dtype.kind not in "iu":
        raise TypeError(f"lengths must be integers, got {values.dtype}")
    values = values.astype(np.int64)
    if (values <= 0).any():
        raise ValueError(f"lengths must be positive (an empty sequence has nothing to run), "
                         f"got {values.tolist()}")
    if (values > T).any():
        raise ValueError(f"lengths must be at most the sequence length {T}, got {values.tolist()}")
    return values


def _suffix(k, reverse):
    """PyTorch's parameter-name suffix of layer k, direction: ``_l0``, ``_l1_reverse``."""
    return f"_l{k}" + ("_reverse" if reverse else "")


def _masked(state, name):
    """Name the ``where`` of a padded step after what it masks (``masked h``), for the graph."""
    state.name = f"masked {name or 'state'}"
    return state


class Recurrent(mt.nn.Module):
    """A stack of recurrent layers built from any cell class, optionally bidirectional.

    Args:
        cell: the cell class (or any factory ``cell(input_size, hidden_size, bias=bias,
            **cell_kwargs)``) returning a cell that follows the contract of :mod:`rnn.cells`.
        input_size: features of the input. hidden_size: features of each state.
        num_layers: stacked layers; layer k > 0 reads layer k-1's output (both directions).
        bias: passed to the cell.
        batch_first: input and output are (B, T, features) instead of (T, B, features).
        dropout: probability of zeroing an element of each layer's output except the last
            (training mode only), drawn from ``mt.get_rng()``.
        bidirectional: also run each layer from the last step to the first; outputs of both
            directions are concatenated on the feature axis.
        fused: run each layer/direction as one fused op (only cells with a ``fused_sequence``
            method: the built-in RNN, LSTM and GRU cells).
        name: the scope prefix of the recorded graph (default: the class name in lower case).
        **cell_kwargs: passed to the cell (e.g. ``nonlinearity``).

    The cell of layer k is the sub-module ``cell_l{k}`` (``cell_l{k}_reverse``); its parameters
    are registered on this module as ``{param}_l{k}`` and ``{param}_l{k}_reverse`` (dots in a
    nested name become ``_``), in PyTorch's order, and those are the names ``named_parameters``
    and ``state_dict`` give. Assigning a parameter through the layer's name
    (``layer.weight_hh_l0 = p``) assigns it in the cell too. If the cell has
    ``prepare_sequence`` (the built-in cells do) the layer uses it to do the input projection
    of all steps at once.

    Inputs: ``(input, hx=None, lengths=None)``
        input: (T, B, input_size), or (B, T, input_size) if ``batch_first``, or (T, input_size)
            for one unbatched sequence (then hx and h_n have no batch axis, as in PyTorch).
        hx: the initial state: (num_layers * D, B, hidden_size) for a one-state cell, a tuple of
            such tensors for a multi-state cell (LSTM: ``(h_0, c_0)``); zeros if None. D = 2 if
            bidirectional else 1; the index of layer k, direction d is ``k * D + d``.
        lengths: optional sequence lengths (B,) in 1..T for a padded batch: as PyTorch's packed
            sequences, padded steps neither change the state nor receive gradient, outputs past a
            length are zero, the reverse direction starts at each sequence's own last step.

    Outputs: ``(output, h_n)``
        output: (T, B, D * hidden_size) (batch-first if ``batch_first``): the last layer's outputs.
        h_n: the final states, laid out like ``hx`` (a tuple for a multi-state cell).

    Example:
        >>> import microtensor as mt, rnn
        >>> layer = rnn.Recurrent(rnn.GRUCell, 4, 6, num_layers=2, name="enc")
        >>> out, h_n = layer(mt.zeros(5, 3, 4))
        >>> out.shape, h_n.shape, [n for n, _ in layer.named_parameters()][:2]
        ((5, 3, 6), (2, 3, 6), ['weight_ih_l0', 'weight_hh_l0'])
    """

    def __init__(self, cell, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, fused=False, name=None, **cell_kwargs):
        super().__init__()
        self.input_size = positive_int(input_size, "input_size")
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        self.num_layers = positive_int(num_layers, "num_layers")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
                or not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout must be a probability in [0, 1], got {dropout!r}")
        if dropout > 0 and self.num_layers == 1:
            warnings.warn(f"dropout={dropout} has no effect with num_layers=1: it is applied to "
                          f"the outputs of every layer except the last (as in PyTorch)",
                          UserWarning, stacklevel=3)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.fused = bool(fused)
        self.name = type(self).__name__.lower() if name is None else str(name)
        self.cell_class = cell
        self.cell_kwargs = dict(cell_kwargs)
        self._aliases = {}        # the layer's parameter name -> (cell sub-module, name in it)
        for k in range(self.num_layers):
            layer_input = self.input_size if k == 0 else self.hidden_size * self.num_directions
            for d in range(self.num_directions):
                self._add_layer(k, bool(d), layer_input)

    def _add_layer(self, k, reverse, layer_input):
        """Make the cell of layer k, direction; register it and its parameters (PyTorch names)."""
        c = self.cell_class(layer_input, self.hidden_size, bias=self.bias, **self.cell_kwargs)
        if not isinstance(c, mt.nn.Module):
            raise TypeError(f"cell factory must return an mt.nn.Module, got {type(c).__name__}")
        for attr, wanted in (("input_size", layer_input), ("hidden_size", self.hidden_size)):
            if getattr(c, attr, None) != wanted:
                raise ValueError(f"cell {type(c).__name__} must set {attr} from its "
                                 f"constructor arguments")
        if self.fused and not hasattr(c, "fused_sequence"):
            raise ValueError(f"fused=True needs a cell with a fused_sequence method; "
                             f"{type(c).__name__} has none (use fused=False)")
        suffix = _suffix(k, reverse)
        # Registered here first, so named_parameters (which lists each object once, this
        # module's own first) names them weight_ih_l0, not cell_l0.weight_ih.
        for pname, p in c.named_parameters():
            flat = pname.replace(".", "_") + suffix
            self.register_parameter(flat, p)
            self._aliases[flat] = ("cell" + suffix, pname)
        self.add_module("cell" + suffix, c)
        self.num_states = getattr(c, "num_states", 1)

    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        alias = self.__dict__.get("_aliases", {}).get(name)
        if alias is not None:                  # keep the cell's parameter the layer's object
            module_name, dotted = alias
            *path, last = dotted.split(".")
            owner = getattr(self, module_name)
            for part in path:
                owner = getattr(owner, part)
            setattr(owner, last, value)

    @property
    def num_directions(self):
        """2 if bidirectional else 1."""
        return 2 if self.bidirectional else 1

    def flatten_parameters(self):
        """Does nothing: PyTorch code calls it to compact cuDNN weights, which don't exist here.

        Example:
            >>> import rnn
            >>> rnn.LSTM(2, 3).flatten_parameters()
        """

    def cells(self):
        """The cells, in order layer 0 forward, layer 0 reverse, layer 1 forward, ...

        They share this module's parameters (``cells()[0].weight_ih is layer.weight_ih_l0``).

        Example:
            >>> import rnn
            >>> layer = rnn.Recurrent(rnn.LSTMCell, 2, 3)
            >>> layer.cells()[0].weight_ih is layer.weight_ih_l0
            True
        """
        return [getattr(self, "cell" + _suffix(k, bool(d)))
                for k in range(self.num_layers) for d in range(self.num_directions)]

    # ----- what a layer/direction runs (the built-in layers override these two) -------------------
    def _sequence(self, k, reverse, x):
        """``(xs, step)`` for layer k, direction: the layer runs ``step(xs[t], state)`` per step."""
        cell = getattr(self, "cell" + _suffix(k, reverse))
        prepare = getattr(cell, "prepare_sequence", None)
        return prepare(x) if prepare is not None else (x, cell)

    def _fused_sequence(self, k, reverse, x, state, mask):
        """``(output (T, B, H), final state tuple)`` of layer k, direction, as one fused op."""
        cell = getattr(self, "cell" + _suffix(k, reverse))
        return cell.fused_sequence(x, state, mask=mask, reverse=reverse)

    def _state_roles(self):
        """The role names of the state tuple: ``("h",)``, ``("h", "c")``, ..."""
        roles = (conventions.HIDDEN, conventions.CELL)[:self.num_states]
        return roles + tuple(f"s{j}" for j in range(len(roles), self.num_states))

    # ----- checks -------------------------------------------------------------------------------
    def _check_input(self, x):
        x = _as_tensor(x)
        cls = type(self).__name__
        layout = "(B, T, input_size)" if self.batch_first else "(T, B, input_size)"
        if x.ndim not in (2, 3):
            raise mt.ShapeError(f"{cls}: expected a 3-d input {layout} (or 2-d (T, input_size) "
                                f"for one unbatched sequence) with input_size={self.input_size}, "
                                f"got shape {x.shape}")
        if x.shape[-1] != self.input_size:
            raise mt.ShapeError(f"{cls}: expected input features (last axis) = input_size="
                                f"{self.input_size}, got shape {x.shape} {layout}")
        if x.ndim == 2:
            T, B = x.shape[0], 1
        else:
            T = x.shape[1] if self.batch_first else x.shape[0]
            B = x.shape[0] if self.batch_first else x.shape[1]
        if T == 0:
            raise ValueError(f"{cls}: empty sequence (input shape {x.shape}): need at least one "
                             f"time step")
        if B == 0:
            raise ValueError(f"{cls}: empty batch (input shape {x.shape})")
        first = next(iter(self.parameters()), None)
        if first is not None and x.dtype != first.dtype:
            raise TypeError(f"{cls}: input is {x.dtype} but the parameters are {first.dtype}; "
                            f"convert one of them (e.g. model.double() or x.astype('{first.dtype}'))")
        return x

    def _check_hx(self, hx, B, dtype):
        """The initial states given as ``hx``: a checked list of (L*D, B, H) tensors, or None."""
        if hx is None:
            return None
        LD = self.num_layers * self.num_directions
        cls = type(self).__name__
        if self.num_states == 1:
            parts = [hx]
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != self.num_states:
                raise TypeError(f"{cls}: hx must be a tuple of {self.num_states} tensors "
                                f"(e.g. (h_0, c_0)), got {type(hx).__name__}")
            parts = list(hx)
        parts = [_as_tensor(p) for p in parts]
        expected = (LD, B, self.hidden_size)
        for which, p in enumerate(parts):
            if p.shape != expected:
                label = "hx" if self.num_states == 1 else f"hx[{which}]"
                raise mt.ShapeError(f"{cls}: expected {label} of shape (num_layers * "
                                    f"num_directions={LD}, batch={B}, hidden_size="
                                    f"{self.hidden_size}), got {p.shape}")
            if p.dtype != dtype:
                raise TypeError(f"{cls}: hx is {p.dtype} but the input is {dtype}")
        return parts

    def _initial_state(self, parts, j, B, dtype):
        """Layer/direction j's initial state tuple, one named node per state (``h0``, ``c0``)."""
        names = [conventions.INITIAL.get(role, role + "0") for role in self._state_roles()]
        if parts is None:
            return tuple(mt.zeros(B, self.hidden_size, dtype=dtype, name=n) for n in names)
        # (a reshape is cheaper than an index when there is one layer and direction)
        states = [p.squeeze(0) if p.shape[0] == 1 else p[j] for p in parts]
        for state, n in zip(states, names):
            state.name = n
        return tuple(states)

    # ----- forward ------------------------------------------------------------------------------
    def forward(self, input, hx=None, lengths=None):
        """Run the stack over ``input``; returns ``(output, h_n)``. See the class docstring.

        Example:
            >>> import microtensor as mt, rnn
            >>> out, h_n = rnn.GRU(2, 3)(mt.ones(4, 1, 2), lengths=[2])
            >>> out.data[2:].tolist() == [[[0.0] * 3]] * 2      # zero past the length
            True
        """
        x = self._check_input(input)
        unbatched = x.ndim == 2
        if unbatched:                                          # one sequence (T, I), as PyTorch
            if lengths is not None:
                raise ValueError(f"{type(self).__name__}: lengths needs a batched input")
            x = x.unsqueeze(1)                                 # (T, 1, I)
            hx = self._batch_hx(hx)
        elif self.batch_first:
            x = x.transpose(0, 1)                              # (T, B, I)
        T, B, _ = x.shape
        mask = None
        if lengths is not None:
            lengths = _check_lengths(lengths, T, B)
            if (lengths < T).any():
                mask = (np.arange(T)[:, None] < lengths[None, :])[:, :, None]   # (T, B, 1)
        given = self._check_hx(hx, B, x.dtype)
        D = self.num_directions
        final = []
        for k in range(self.num_layers):
            outputs = []
            for d in range(D):
                reverse = bool(d)
                with mt.scope(conventions.family_path(self.name, k, reverse)):
                    state = self._initial_state(given, k * D + d, B, x.dtype)
                    if self.fused:
                        out, state = self._fused_sequence(k, reverse, x, state, mask)
                    else:
                        out, state = self._unroll(k, reverse, x, state, mask)
                outputs.append(out)
                final.append(state)
            x = outputs[0] if D == 1 else mt.cat(outputs, axis=2)        # (T, B, D*H)
            if self.dropout > 0 and self.training and k < self.num_layers - 1:
                x = self._dropout(x)
        output = x.transpose(0, 1) if self.batch_first and not unbatched else x
        if len(final) == 1:                # (1, B, H) from a built-in fused op, else a reshape
            stacked = tuple(s if s.ndim == 3 else s.unsqueeze(0) for s in final[0])
        else:
            stacked = tuple(mt.stack([s[j] for s in final]) for j in range(self.num_states))
        if unbatched:
            output = output.squeeze(1)                         # (T, D*H)
            stacked = tuple(s.squeeze(1) for s in stacked)     # (L*D, H)
        return output, (stacked[0] if self.num_states == 1 else stacked)

    def _batch_hx(self, hx):
        """An unbatched input's hx, each (L*D, H), as a batch of one, each (L*D, 1, H)."""
        if hx is None:
            return None
        parts = (hx,) if self.num_states == 1 else tuple(hx)
        LD = self.num_layers * self.num_directions
        batched = []
        for p in parts:
            p = _as_tensor(p)
            if p.shape != (LD, self.hidden_size):
                raise mt.ShapeError(f"{type(self).__name__}: for an unbatched input expected each "
                                    f"state of shape (num_layers * num_directions={LD}, "
                                    f"hidden_size={self.hidden_size}), got {p.shape}")
            batched.append(p.unsqueeze(1))
        return batched[0] if self.num_states == 1 else tuple(batched)

    def _unroll(self, k, reverse, x, state, mask):
        """Run layer k, direction over the T steps of ``x`` (T, B, I), one scope per step.

        The input part of the steps (``x_proj``) is made for a block of at most
        :data:`PROJECTION_BLOCK` steps at a time, one GEMM each: the whole sequence at once
        for most unrolls, while a long one never holds a (T, B, G*H) projection that no backward
        needs beside its graph."""
        T = x.shape[0]
        outputs = [None] * T
        single = self.num_states == 1
        block = None
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            start = t - t % PROJECTION_BLOCK
            if block != start:
                block, end = start, min(start + PROJECTION_BLOCK, T)
                xs, step = self._sequence(k, reverse, x if end - start == T else x[start:end])
            with mt.scope(conventions.step_part(t)):
                x_t = xs[t - start]                            # the step's row
                x_t.name = xs.name                             # ("x_proj" of a built-in cell)
                new = step(x_t, state[0] if single else state)
                new = (new,) if single else tuple(new)
                if mask is not None and not mask[t].all():
                    # (B, 1) bool; viz greys the masked rows of where(mask, new, old)
                    keep = mt.tensor(mask[t], name=conventions.MASK)
                    zeros = mt.zeros_like(new[0])
                    zeros.name = "0"
                    out = _masked(mt.where(keep, new[0], zeros), "output")
                    new = tuple(_masked(mt.where(keep, n, s), n.name) for n, s in zip(new, state))
                else:
                    out = new[0]
            outputs[t] = out
            state = new
        return mt.stack(outputs), state                        # (T, B, H)

    def _dropout(self, x):
        # mt.nn.functional.dropout draws its mask from mt.get_rng(), so mt.manual_seed
        # reproduces it, and it shows in the graph as one "dropout" node between layers.
        return mt.nn.functional.dropout(x, self.dropout, training=True)

    def extra_repr(self):
        parts = [f"{self.input_size}, {self.hidden_size}"]
        if self.num_layers != 1:
            parts.append(f"num_layers={self.num_layers}")
        defaults = (("bias", True), ("batch_first", False), ("dropout", 0.0),
                    ("bidirectional", False), ("fused", False))
        parts += [f"{k}={getattr(self, k)}" for k, v in defaults if getattr(self, k) != v]
        parts += [f"{k}={v!r}" for k, v in self.cell_kwargs.items()]
        if type(self) is Recurrent:
            parts.insert(0, getattr(self.cell_class, "__name__", repr(self.cell_class)))
        return ", ".join(parts)


class _BuiltinRecurrent(Recurrent):
    """A built-in layer: it owns PyTorch's parameters and calls :mod:`rnn.steps` with them.

    Subclasses set ``kind`` (a :data:`rnn.conventions.CELL_KINDS` entry), ``_update`` (the step
    function of :mod:`rnn.steps`) and ``_fused_op`` (the one-op sequence of :mod:`rnn.fused`).
    """

    kind = None
    _update = None        # staticmethod(steps.<kind>_update)
    _fused_op = None      # staticmethod(fused.<kind>_sequence)
    _fold_bias_hh = True  # b_hh added once to the input projection (see steps.hoisted); not GRU

    def _add_layer(self, k, reverse, layer_input):
        """Create ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``."""
        H = self.hidden_size
        gates = len(self.kind.gates) * H
        suffix = _suffix(k, reverse)
        # PyTorch's order and init, U(-1/sqrt(H), 1/sqrt(H)), drawn in this order from mt.get_rng()
        shapes = [("weight_ih", (gates, layer_input)), ("weight_hh", (gates, H))]
        if self.bias:
            shapes += [("bias_ih", (gates,)), ("bias_hh", (gates,))]
        for pname, shape in shapes:
            setattr(self, pname + suffix, _uniform_parameter(shape, H))
        self.num_states = len(self.kind.states)

    def _weights(self, k, reverse):
        """``(weight_ih, weight_hh, bias_ih, bias_hh)`` of layer k, direction (biases may be None)."""
        suffix = _suffix(k, reverse)
        return tuple(getattr(self, p + suffix, None)
                     for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def _options(self):
        return {}

    def cells(self):
        """Refused: a built-in layer has no cell modules (it calls :mod:`rnn.steps` itself).

        Example:
            >>> import rnn
            >>> rnn.GRU(2, 3).cells()
            Traceback (most recent call last):
            ...
            TypeError: GRU has no cell modules (it calls rnn.steps with its own weights); ...
        """
        raise TypeError(f"{type(self).__name__} has no cell modules (it calls rnn.steps with its "
                        f"own weights); for a layer of cells use "
                        f"rnn.Recurrent(rnn.{self.kind.cell}, ...)")

    def _sequence(self, k, reverse, x):
        return steps.hoisted(self._update, x, *self._weights(k, reverse),
                             fold_bias_hh=self._fold_bias_hh, **self._options())

    def _fused_sequence(self, k, reverse, x, state, mask):
        if self.num_states == 1:
            state = state[0]
        # One layer and direction: the op returns the final states as h_n's (1, B, H) directly.
        single = self.num_layers * self.num_directions == 1
        out, final = self._fused_op(x, state, *self._weights(k, reverse), mask=mask,
                                    reverse=reverse, stack_states=single, **self._options())
        return out, (final if isinstance(final, tuple) else (final,))

    def _state_roles(self):
        return self.kind.states


class RNN(_BuiltinRecurrent):
    """Multi-layer Elman RNN with tanh or relu, PyTorch's ``nn.RNN`` (built on :class:`RNNCell`).

    Args:
        input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
        bidirectional=False: as PyTorch. nonlinearity: "tanh" or "relu".
        fused: one fused op per layer and direction. name: scope prefix (default "rnn").

    Inputs: ``(input, hx=None, lengths=None)``: input (T, B, I), hx (L*D, B, H).
    Outputs: ``(output, h_n)``: output (T, B, D*H), h_n (L*D, B, H).
    Shape: weight_ih_l0 (H, I), weight_ih_l{k>0} (H, D*H), weight_hh_l{k} (H, H), biases (H,).
    See :class:`Recurrent` for details.

    Example:
        >>> import microtensor as mt, rnn
        >>> model = rnn.RNN(3, 4, nonlinearity="relu", batch_first=True)
        >>> out, h_n = model(mt.ones(2, 6, 3))                      # (B, T, I)
        >>> out.shape, h_n.shape
        ((2, 6, 4), (1, 2, 4))
    """

    kind = CELL_KINDS["rnn"]           # (gates and states; "rnn_relu" has the same)
    _update = staticmethod(steps.rnn_update)
    _fused_op = staticmethod(_fused.rnn_sequence)

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, fused=False, name=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(RNNCell, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, fused, name, nonlinearity=nonlinearity)
        self.nonlinearity = nonlinearity

    def _options(self):
        return {"nonlinearity": self.nonlinearity}


class LSTM(_BuiltinRecurrent):
    """Multi-layer LSTM, PyTorch's ``nn.LSTM`` (built on :class:`LSTMCell`, gates i, f, g, o).

    Args:
        input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
        bidirectional=False: as PyTorch. fused: one fused op per layer and direction.
        name: scope prefix (default "lstm").

    Inputs: ``(input, hx=None, lengths=None)``: input (T, B, I), hx = (h_0, c_0) each (L*D, B, H).
    Outputs: ``(output, (h_n, c_n))``: output (T, B, D*H), h_n and c_n (L*D, B, H).
    Shape: weight_ih_l0 (4H, I), weight_ih_l{k>0} (4H, D*H), weight_hh_l{k} (4H, H), biases (4H,).
    See :class:`Recurrent` for details.

    Example:
        >>> import microtensor as mt, rnn
        >>> lstm = rnn.LSTM(3, 4, num_layers=2)
        >>> out, (h_n, c_n) = lstm(mt.ones(5, 2, 3), lengths=[5, 3])
        >>> out.shape, h_n.shape, float(abs(out.data[3:, 1]).max())   # zero past length 3
        ((5, 2, 4), (2, 2, 4), 0.0)
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, fused=False, name=None):
        super().__init__(LSTMCell, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, fused, name)

    kind = CELL_KINDS["lstm"]
    _update = staticmethod(steps.lstm_update)
    _fused_op = staticmethod(_fused.lstm_sequence)


class GRU(_BuiltinRecurrent):
    """Multi-layer GRU, PyTorch's ``nn.GRU`` (built on :class:`GRUCell`, gates r, z, n).

    Args:
        input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
        bidirectional=False: as PyTorch. fused: one fused op per layer and direction.
        name: scope prefix (default "gru").

    Inputs: ``(input, hx=None, lengths=None)``: input (T, B, I), hx (L*D, B, H).
    Outputs: ``(output, h_n)``: output (T, B, D*H), h_n (L*D, B, H).
    Shape: weight_ih_l0 (3H, I), weight_ih_l{k>0} (3H, D*H), weight_hh_l{k} (3H, H), biases (3H,).
    See :class:`Recurrent` for details.

    Example:
        >>> import microtensor as mt, rnn
        >>> gru = rnn.GRU(3, 4, bidirectional=True, fused=True)
        >>> out, h_n = gru(mt.ones(5, 2, 3))
        >>> out.shape, h_n.shape
        ((5, 2, 8), (2, 2, 4))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, fused=False, name=None):
        super().__init__(GRUCell, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, fused, name)

    kind = CELL_KINDS["gru"]
    _fold_bias_hh = False                  # r * (W_hn h + b_hn): b_hn is not only added
    _update = staticmethod(steps.gru_update)
    _fused_op = staticmethod(_fused.gru_sequence)
