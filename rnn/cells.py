"""Recurrent cells written out with explicit primitive ops, so every gate is a node of the graph.

Parameter names, shapes, initialisation U(-1/sqrt(H), 1/sqrt(H)) and gate order are PyTorch's:
``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H), ``bias_ih`` (G*H,), ``bias_hh`` (G*H,), with
G = 1 (RNN), 4 (LSTM: i, f, g, o) or 3 (GRU: r, z, n). A PyTorch cell's state dict loads unchanged.

Every intermediate a learner wants to find in the drawing is named: ``i``, ``f``, ``g``, ``o``,
``c``, ``h`` (LSTM), ``r``, ``z``, ``n``, ``h`` (GRU), ``h`` (RNN).

The math lives in the stateless step functions of :mod:`rnn.steps`; a cell owns its weights and
calls them (``LSTMCell.forward`` is ``steps.lstm_step(x, (h, c), self.weight_ih, ...)``).

A cell is the unit the generic layer :class:`rnn.layers.Recurrent` stacks. The contract (see
docs/custom_cell.md) is small: ``__init__(input_size, hidden_size, bias=True, ...)``, attributes
``input_size``, ``hidden_size`` and ``num_states`` (1: the state is ``h``; 2: ``(h, c)``), and
``forward(x, state)`` returning the new state (``h``, or the tuple) whose first element is the
output. :class:`RecurrentCell` provides the checks, ``init_state`` and ``prepare_sequence``.

Example:
    >>> import microtensor as mt, rnn
    >>> mt.manual_seed(0)
    >>> cell = rnn.LSTMCell(3, 5)
    >>> h, c = cell(mt.randn(2, 3))
    >>> h.shape, c.shape, h.name
    ((2, 5), (2, 5), 'h')
"""
import math

import numpy as np

import microtensor as mt

from . import fused as _fused
from . import steps
from .conventions import positive_int


def _uniform_parameter(shape, hidden_size, dtype=np.float32):
    """A Parameter drawn from U(-1/sqrt(H), 1/sqrt(H)) with the global generator (PyTorch's init)."""
    bound = 1.0 / math.sqrt(hidden_size)
    values = mt.get_rng().uniform(-bound, bound, size=shape).astype(dtype)
    return mt.nn.Parameter(values)


def _as_tensor(x):
    if isinstance(x, mt.Tensor):
        return x
    if isinstance(x, np.ndarray):
        return mt.tensor(x)
    raise TypeError(f"expected a Tensor (or ndarray), got {type(x).__name__}")


class RecurrentCell(mt.nn.Module):
    """Base class of cells: sizes, PyTorch-style weights, input checks and the initial state.

    Subclasses set ``num_gates`` (how many H-sized blocks ``weight_ih`` has) and ``num_states``
    and implement ``forward(x, hx=None)``; ``hx`` is a tensor when ``num_states == 1``, else a
    tuple. The base creates ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H) and, if ``bias``,
    ``bias_ih`` and ``bias_hh`` (G*H,).

    Example:
        >>> import microtensor as mt, rnn
        >>> class MinimalCell(rnn.RecurrentCell):
        ...     num_gates = 1
        ...     def forward(self, x, hx=None):
        ...         x, (h,) = self.check_input(x, hx)
        ...         return (x @ self.weight_ih.T + h @ self.weight_hh.T).tanh()
        >>> MinimalCell(3, 4)(mt.ones(2, 3)).shape
        (2, 4)
    """

    num_gates = 1
    num_states = 1

    def __init__(self, input_size, hidden_size, bias=True, fused=False):
        super().__init__()
        self.input_size = positive_int(input_size, "input_size")
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        self.bias = bool(bias)
        self.fused = bool(fused)
        gates = self.num_gates * self.hidden_size
        self.weight_ih = _uniform_parameter((gates, self.input_size), self.hidden_size)
        self.weight_hh = _uniform_parameter((gates, self.hidden_size), self.hidden_size)
        if self.bias:
            self.bias_ih = _uniform_parameter((gates,), self.hidden_size)
            self.bias_hh = _uniform_parameter((gates,), self.hidden_size)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def __call__(self, x, hx=None):
        """Run ``forward``; an unbatched ``x`` (input_size,) with states (hidden_size,) works too,
        as in PyTorch, by running it as a batch of one.

        Example:
            >>> import microtensor as mt, rnn
            >>> rnn.GRUCell(3, 4)(mt.ones(3)).shape
            (4,)
        """
        x = _as_tensor(x) if isinstance(x, np.ndarray) else x
        if not (isinstance(x, mt.Tensor) and x.ndim == 1):
            return self.forward(x, hx)
        if hx is not None:
            states = (hx,) if self.num_states == 1 else tuple(hx)
            states = tuple(_as_tensor(s) for s in states)
            if any(s.ndim != 1 for s in states):
                raise mt.ShapeError(f"{type(self).__name__}: an unbatched input needs unbatched "
                                    f"states (hidden_size={self.hidden_size},), got "
                                    f"{[s.shape for s in states]}")
            states = tuple(s.unsqueeze(0) for s in states)
            hx = states[0] if self.num_states == 1 else states
        new = self.forward(x.unsqueeze(0), hx)
        if isinstance(new, tuple):
            return tuple(s.squeeze(0) for s in new)
        return new.squeeze(0)

    def init_state(self, batch_size, dtype=np.float32):
        """The zero state: a tuple of ``num_states`` tensors of shape (batch_size, hidden_size).

        Example:
            >>> import rnn
            >>> [s.shape for s in rnn.LSTMCell(2, 3).init_state(4)]
            [(4, 3), (4, 3)]
        """
        return tuple(mt.zeros(batch_size, self.hidden_size, dtype=dtype)
                     for _ in range(self.num_states))

    def check_input(self, x, hx):
        """Validate ``x`` (B, input_size) and ``hx``; return ``(x, state tuple)`` (zeros if None).

        Raises ``mt.ShapeError`` naming the expected shape, ``TypeError`` on a dtype mismatch.
        """
        x = _as_tensor(x)
        name = type(self).__name__
        if x.ndim != 2 or x.shape[1] != self.input_size:
            raise mt.ShapeError(f"{name}: expected input of shape (batch, input_size="
                                f"{self.input_size}), got {x.shape}")
        dtype = self.weight_ih.dtype
        if x.dtype != dtype:
            raise TypeError(f"{name}: input is {x.dtype} but the parameters are {dtype}; convert "
                            f"one of them (e.g. cell.double() or x.astype('{dtype}'))")
        if hx is None:
            return x, self.init_state(x.shape[0], dtype)
        states = (hx,) if self.num_states == 1 else hx
        if self.num_states > 1 and (not isinstance(hx, (tuple, list)) or len(hx) != self.num_states):
            raise TypeError(f"{name}: hx must be a tuple of {self.num_states} tensors (h, c)")
        expected = (x.shape[0], self.hidden_size)
        states = tuple(_as_tensor(s) for s in states)
        for s in states:
            if s.shape != expected:
                raise mt.ShapeError(f"{name}: expected each state of shape (batch={expected[0]}, "
                                    f"hidden_size={expected[1]}), got {s.shape}")
        return x, states

    def prepare_sequence(self, x):
        """How a layer runs this cell over a whole sequence ``x`` (T, B, I): ``(xs, step)``.

        The layer calls ``step(xs[t], state)`` at step t (``state`` as ``forward`` takes it) in
        that step's scope. The default is ``(x, self.forward)``; the built-in cells return the
        input projection of all steps, computed once (:func:`rnn.steps.hoisted`), and the rest
        of the step, so the graph holds one matmul for the inputs and one transpose per weight.

        Example:
            >>> import microtensor as mt, rnn
            >>> xs, step = rnn.LSTMCell(3, 4).prepare_sequence(mt.ones(5, 2, 3))
            >>> xs.shape, [s.shape for s in step(xs[0], (mt.zeros(2, 4), mt.zeros(2, 4)))]
            ((5, 2, 16), [(2, 4), (2, 4)])
        """
        return x, self.forward

    def _biases(self):
        return self.bias_ih, self.bias_hh

    def extra_repr(self):
        extra = "" if self.bias else ", bias=False"
        extra += ", fused=True" if self.fused else ""
        return f"{self.input_size}, {self.hidden_size}{extra}"


def _named(t, name):
    t.name = name
    return t


class RNNCell(RecurrentCell):
    """Elman RNN cell: ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)`` with act tanh or relu.

    Args:
        input_size: features of x. hidden_size: features of h.
        bias: learn ``bias_ih`` and ``bias_hh``. nonlinearity: "tanh" (default) or "relu".
        fused: compute the step as one fused op (:mod:`rnn.fused`) instead of primitive ops.

    Inputs: ``x`` (B, input_size), ``hx`` (B, hidden_size) or None (zeros).
    Outputs: ``h'`` (B, hidden_size), named "h".
    Shape: weight_ih (H, I), weight_hh (H, H), bias_ih (H,), bias_hh (H,).

    Example:
        >>> import microtensor as mt, rnn
        >>> cell = rnn.RNNCell(3, 4, nonlinearity="relu")
        >>> h = cell(mt.ones(2, 3))
        >>> h.shape, bool((h.data >= 0).all())
        ((2, 4), True)
    """

    num_gates = 1

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", fused=False):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, fused)
        self.nonlinearity = nonlinearity

    def forward(self, x, hx=None):
        """One step: ``x`` (B, I), ``hx`` (B, H) or None -> ``h'`` (B, H). See the class docstring."""
        x, (h,) = self.check_input(x, hx)
        if self.fused:
            _, h_new = _fused.rnn_sequence(x.unsqueeze(0), h, self.weight_ih, self.weight_hh,
                                           *self._biases(), nonlinearity=self.nonlinearity)
            return _named(h_new, "h")
        return steps.rnn_step(x, h, self.weight_ih, self.weight_hh, *self._biases(),
                              nonlinearity=self.nonlinearity)  # (B, H)

    def prepare_sequence(self, x):
        """The input projection of all steps and the rest of the step (see the base class)."""
        return steps.hoisted(steps.rnn_update, x, self.weight_ih, self.weight_hh,
                             *self._biases(), fold_bias_hh=True, nonlinearity=self.nonlinearity)

    def fused_sequence(self, x, state, mask=None, reverse=False):
        """Run this cell over a whole sequence x (T, B, I) as one fused op (used by the layers).

        ``state`` is ``(h0,)``; returns ``(output (T, B, H), (h_n,))``. See :mod:`rnn.fused`.
        """
        out, h_n = _fused.rnn_sequence(x, state, self.weight_ih, self.weight_hh, *self._biases(),
                                       nonlinearity=self.nonlinearity, mask=mask, reverse=reverse)
        return out, (h_n,)

    def extra_repr(self):
        extra = "" if self.nonlinearity == "tanh" else ", nonlinearity='relu'"
        return super().extra_repr() + extra


class LSTMCell(RecurrentCell):
    """Long short-term memory cell (Hochreiter & Schmidhuber 1997), PyTorch's formulation::

        i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)      input gate
        f = sigmoid(W_if x + b_if + W_hf h + b_hf)      forget gate
        g = tanh(W_ig x + b_ig + W_hg h + b_hg)         candidate
        o = sigmoid(W_io x + b_io + W_ho h + b_ho)      output gate
        c' = f * c + i * g
        h' = o * tanh(c')

    Args:
        input_size, hidden_size, bias: as :class:`RNNCell`. fused: one fused op per step.

    Inputs: ``x`` (B, input_size), ``hx`` = ``(h, c)`` each (B, hidden_size), or None (zeros).
    Outputs: ``(h', c')``, each (B, hidden_size); the gates are named i, f, g, o and the results c, h.
    Shape: weight_ih (4H, I), weight_hh (4H, H), bias_ih (4H,), bias_hh (4H,), rows in gate order
    i, f, g, o.

    Example:
        >>> import microtensor as mt, rnn
        >>> cell = rnn.LSTMCell(3, 4)
        >>> h, c = cell(mt.ones(2, 3))
        >>> h, c = cell(mt.ones(2, 3), (h, c))
        >>> cell.weight_ih.shape, h.shape
        ((16, 3), (2, 4))
    """

    num_gates = 4
    num_states = 2

    def forward(self, x, hx=None):
        """One step: ``x`` (B, I), ``hx`` = (h, c) or None -> ``(h', c')``. See the class docstring."""
        x, (h, c) = self.check_input(x, hx)
        if self.fused:
            _, (h_new, c_new) = _fused.lstm_sequence(x.unsqueeze(0), (h, c), self.weight_ih,
                                                     self.weight_hh, *self._biases())
            return _named(h_new, "h"), _named(c_new, "c")
        return steps.lstm_step(x, (h, c), self.weight_ih, self.weight_hh, *self._biases())

    def prepare_sequence(self, x):
        """The input projection of all steps and the rest of the step (see the base class)."""
        return steps.hoisted(steps.lstm_update, x, self.weight_ih, self.weight_hh,
                             *self._biases(), fold_bias_hh=True)

    def fused_sequence(self, x, state, mask=None, reverse=False):
        """Run this cell over a whole sequence x (T, B, I) as one fused op (used by the layers).

        ``state`` is ``(h0, c0)``; returns ``(output (T, B, H), (h_n, c_n))``.
        """
        return _fused.lstm_sequence(x, state, self.weight_ih, self.weight_hh, *self._biases(),
                                    mask=mask, reverse=reverse)


class GRUCell(RecurrentCell):
    """Gated recurrent unit (Cho et al. 2014), PyTorch's formulation::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)      reset gate
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)      update gate
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))   candidate
        h' = (1 - z) * n + z * h

    Args:
        input_size, hidden_size, bias: as :class:`RNNCell`. fused: one fused op per step.

    Inputs: ``x`` (B, input_size), ``hx`` (B, hidden_size) or None (zeros).
    Outputs: ``h'`` (B, hidden_size); intermediates named r, z, n, h.
    Shape: weight_ih (3H, I), weight_hh (3H, H), bias_ih (3H,), bias_hh (3H,), rows in gate order
    r, z, n.

    Example:
        >>> import microtensor as mt, rnn
        >>> cell = rnn.GRUCell(3, 4)
        >>> cell(mt.ones(2, 3)).shape, cell.weight_hh.shape
        ((2, 4), (12, 4))
    """

    num_gates = 3

    def forward(self, x, hx=None):
        """One step: ``x`` (B, I), ``hx`` (B, H) or None -> ``h'`` (B, H). See the class docstring."""
        x, (h,) = self.check_input(x, hx)
        if self.fused:
            _, h_new = _fused.gru_sequence(x.unsqueeze(0), h, self.weight_ih, self.weight_hh,
                                           *self._biases())
            return _named(h_new, "h")
        return steps.gru_step(x, h, self.weight_ih, self.weight_hh, *self._biases())  # (B, H)

    def prepare_sequence(self, x):
        """The input projection of all steps and the rest of the step (see the base class)."""
        return steps.hoisted(steps.gru_update, x, self.weight_ih, self.weight_hh, *self._biases())

    def fused_sequence(self, x, state, mask=None, reverse=False):
        """Run this cell over a whole sequence x (T, B, I) as one fused op (used by the layers).

        ``state`` is ``(h0,)``; returns ``(output (T, B, H), (h_n,))``.
        """
        out, h_n = _fused.gru_sequence(x, state, self.weight_ih, self.weight_hh, *self._biases(),
                                       mask=mask, reverse=reverse)
        return out, (h_n,)


class LayerNormLSTMCell(RecurrentCell):
    """LSTM cell with layer normalisation (Ba, Kiros & Hinton 2016, section 3.1 / appendix)::

        gates = LN(W_ih x; ln_ih) + LN(W_hh h; ln_hh) + bias     (4H, gate order i, f, g, o)
        i, f, o = sigmoid(...), g = tanh(...)
        c' = f * c + i * g
        h' = o * tanh(LN(c'; ln_cell))

    Each ``LN(a; gamma, beta) = gamma * (a - mean(a)) / sqrt(var(a) + eps) + beta`` over the
    feature axis (the whole 4H vector for the gates, H for the cell).

    Args:
        input_size, hidden_size: as :class:`LSTMCell`.
        bias: learn ``bias`` (4H,) and the layer-norm shifts ``ln_*_bias``; else neither.
        eps: added to the variance (default 1e-5, as PyTorch's LayerNorm).

    Inputs / Outputs: as :class:`LSTMCell` (``(h, c)`` in, ``(h', c')`` out).
    Shape (parameter names): weight_ih (4H, I), weight_hh (4H, H) initialised as PyTorch's LSTM;
    bias (4H,) zeros; ln_ih_weight, ln_ih_bias, ln_hh_weight, ln_hh_bias (4H,) ones / zeros;
    ln_cell_weight, ln_cell_bias (H,) ones / zeros. There is no fused version.

    Example:
        >>> import microtensor as mt, rnn
        >>> cell = rnn.LayerNormLSTMCell(3, 4)
        >>> h, c = cell(mt.ones(2, 3))
        >>> sorted(name for name, _ in cell.named_parameters())[:3]
        ['bias', 'ln_cell_bias', 'ln_cell_weight']
    """

    num_gates = 4
    num_states = 2

    def __init__(self, input_size, hidden_size, bias=True, eps=1e-5):
        super().__init__(input_size, hidden_size, bias=False)
        has_bias = bool(bias)
        self.eps = float(eps)
        H4, H = 4 * self.hidden_size, self.hidden_size
        # The base registered bias_ih/bias_hh = None; this cell has one bias instead (the
        # layer-norm shifts make a second one redundant), so drop those names.
        del self.bias_ih, self.bias_hh
        ones, zeros = np.ones(H4, dtype=np.float32), np.zeros(H4, dtype=np.float32)
        self.register_parameter("bias", mt.nn.Parameter(zeros) if has_bias else None)
        for part, size in (("ih", H4), ("hh", H4), ("cell", H)):
            self.register_parameter(f"ln_{part}_weight", mt.nn.Parameter(ones[:size]))
            self.register_parameter(f"ln_{part}_bias",
                                    mt.nn.Parameter(zeros[:size]) if has_bias else None)

    def forward(self, x, hx=None):
        """One step: ``x`` (B, I), ``hx`` = (h, c) or None -> ``(h', c')``. See the class docstring."""
        x, (h, c) = self.check_input(x, hx)
        return steps.layer_norm_lstm_step(x, (h, c), self.weight_ih, self.weight_hh, self.bias,
                                          *self._norms(), eps=self.eps)

    def prepare_sequence(self, x):
        """``LN(x W_ih^T)`` of all steps at once and the rest of the step (see the base class).

        Example:
            >>> import microtensor as mt, rnn
            >>> xs, step = rnn.LayerNormLSTMCell(3, 4).prepare_sequence(mt.ones(5, 2, 3))
            >>> xs.shape
            (5, 2, 16)
        """
        ln_ih, ln_hh, ln_cell = self._norms()
        xs = steps.layer_norm_input(x, self.weight_ih, ln_ih, self.eps)   # (T, B, 4H)

        def step(xw, state):
            return steps.layer_norm_lstm_update(xw, state, self.weight_hh, self.bias, ln_hh,
                                                ln_cell, self.eps)
        return xs, step

    def _norms(self):
        """The (weight, bias) pairs of the three layer norms: ih, hh, cell."""
        return ((self.ln_ih_weight, self.ln_ih_bias), (self.ln_hh_weight, self.ln_hh_bias),
                (self.ln_cell_weight, self.ln_cell_bias))

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias is not None
                                                           else ", bias=False")
