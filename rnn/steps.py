"""The cells' math as stateless functions: tensors in, tensors out, no module, no state.

PyTorch's pattern (``torch._VF.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh)``) and nanoGPT's: the
modules own the weights and call these. A cell (:mod:`rnn.cells`) calls ``lstm_step`` once per
step; a layer (:mod:`rnn.layers`) splits the same step in two, so that the work that does not
depend on the state is done once per sequence:

- :func:`project_input` ``x @ W_ih^T + b_ih`` for ALL time steps in one ``linear`` op (T, B, G*H);
- ``*_update(xw_t, state, weight_hh, bias_hh)``: the rest of the step, from the step's row of
  that projection (:func:`rnn_update`, :func:`lstm_update`, :func:`gru_update`).

Both projections are ``linear`` ops (``x @ W^T + b`` as one node, PyTorch's ``F.linear``), which
take the weight as stored, (G*H, I) or (G*H, H): the graph has no ``transpose`` of a weight, per
step or per sequence. ``lstm_step(x, ...)`` is exactly ``lstm_update(project_input(x, W_ih,
b_ih), state, W_hh, b_hh)``, so a cell and a layer compute the same formula (for RNN and LSTM
the layers also add ``b_hh`` to the projection once, :func:`hoisted`: the same sum, up to
rounding). Gate order and formulas are PyTorch's (LSTM i, f, g, o; GRU r, z, n with ``n =
tanh(x_n + r * (W_hn h + b_hn))``). Every intermediate a learner looks for is a named node: LSTM
``gates``, the pieces ``i_pre f_pre g_pre o_pre``, the gates ``i f g o``, ``f*c``, ``i*g``,
``c``, ``tanh(c)``, ``h``; GRU ``r_x z_x n_x`` (the input's part of each gate), ``r_h z_h n_h``
(the state's part), ``r z``, ``r*n_h``, ``n``, ``1-z``, ``(1-z)*n``, ``z*h``, ``h``; RNN ``h``.
The gate names are :data:`rnn.conventions.CELL_KINDS`'s.

Example:
    >>> import microtensor as mt
    >>> from rnn.steps import lstm_step
    >>> x, h, c = mt.ones(2, 3), mt.zeros(2, 4), mt.zeros(2, 4)
    >>> w_ih, w_hh = mt.zeros(16, 3), mt.zeros(16, 4)       # (4H, I), (4H, H)
    >>> h, c = lstm_step(x, (h, c), w_ih, w_hh)             # all gates 0.5, g = 0
    >>> h.shape, h.name, float(c.data.max())
    ((2, 4), 'h', 0.0)
"""
from microtensor.nn.functional import linear

from .conventions import CELL_KINDS

_LSTM_GATES = CELL_KINDS["lstm"].gates       # ("i", "f", "g", "o"): weight_ih's row blocks
_GRU_GATES = CELL_KINDS["gru"].gates         # ("r", "z", "n")


def _named(t, name):
    t.name = name
    return t


def _pieces(a, names, suffix):
    """Cut ``a`` (B, G*H) into its G gate blocks (one ``split`` op), named ``<gate><suffix>``."""
    return [_named(p, gate + suffix) for p, gate in zip(a.chunk(len(names), axis=-1), names)]


def project_input(x, weight_ih, bias_ih=None):
    """``x @ W_ih^T + b_ih``: the part of a step that does not depend on the state.

    Works on one step ``x`` (B, I) or a whole sequence (T, B, I) at once (one GEMM for all
    steps: what the layers do). One ``linear`` node, named ``x_proj``.

    Example:
        >>> import microtensor as mt
        >>> project_input(mt.ones(5, 2, 3), mt.ones(8, 3), mt.ones(8)).shape    # (T, B, 4H)
        (5, 2, 8)
    """
    return _named(linear(x, weight_ih, bias_ih), "x_proj")       # (..., G*H)


def layer_norm_input(x, weight_ih, ln_ih, eps=1e-5):
    """``LN(x W_ih^T; ln_ih)`` named ``x_proj``: the layer-norm LSTM's input part, for one step
    (B, I) or all steps (T, B, I) at once. ``ln_ih`` is the ``(weight, bias)`` pair.

    Example:
        >>> import microtensor as mt
        >>> layer_norm_input(mt.ones(5, 2, 3), mt.ones(8, 3), (mt.ones(8), None)).shape
        (5, 2, 8)
    """
    return _named(layer_norm(linear(x, weight_ih), *ln_ih, eps), "x_proj")


def _recurrent(h, weight_hh, bias_hh):
    """``h @ W_hh^T + b_hh`` (B, G*H): one ``linear`` node named ``h_proj``."""
    return _named(linear(h, weight_hh, bias_hh), "h_proj")


def rnn_update(xw, h, weight_hh, bias_hh=None, nonlinearity="tanh"):
    """An Elman RNN step from the step's input projection ``xw`` (B, H) (see :func:`project_input`).

    ``weight_hh`` is (H, H), as stored. Returns ``h' = act(xw + h W_hh^T + b_hh)`` (B, H), named ``h``.

    Example:
        >>> import microtensor as mt
        >>> rnn_update(mt.ones(1, 2), mt.ones(1, 2), mt.eye(2), nonlinearity="relu").data.tolist()
        [[2.0, 2.0]]
    """
    pre = xw + _recurrent(h, weight_hh, bias_hh)               # (B, H)
    if nonlinearity == "tanh":
        return _named(pre.tanh(), "h")
    if nonlinearity == "relu":
        return _named(pre.relu(), "h")
    raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")


def _lstm_gates(gates, c):
    """The LSTM's gates from their pre-activations (B, 4H): the output gate and the new cell."""
    i, f, g, o = _pieces(_named(gates, "gates"), _LSTM_GATES, "_pre")     # each (B, H)
    i = _named(i.sigmoid(), "i")
    f = _named(f.sigmoid(), "f")
    g = _named(g.tanh(), "g")
    o = _named(o.sigmoid(), "o")
    c_new = _named(_named(f * c, "f*c") + _named(i * g, "i*g"), "c")     # (B, H)
    return o, c_new


def lstm_update(xw, state, weight_hh, bias_hh=None):
    """An LSTM step from the step's input projection ``xw`` (B, 4H) (see :func:`project_input`).

    ``state`` is ``(h, c)``, each (B, H); ``weight_hh`` is (4H, H), as stored. Returns
    ``(h', c')`` named ``h`` and ``c``::

        i, f, g, o = split(xw + h W_hh^T + b_hh)     gate order of weight_ih's rows
        c' = sigmoid(f) * c + sigmoid(i) * tanh(g)
        h' = sigmoid(o) * tanh(c')

    Example:
        >>> import microtensor as mt
        >>> h, c = lstm_update(mt.zeros(1, 8), (mt.zeros(1, 2), mt.ones(1, 2)), mt.zeros(8, 2))
        >>> c.data.tolist()                                     # f = 0.5 keeps half of c
        [[0.5, 0.5]]
    """
    h, c = state
    gates = xw + _recurrent(h, weight_hh, bias_hh)             # (B, 4H)
    o, c_new = _lstm_gates(gates, c)
    h_new = _named(o * _named(c_new.tanh(), "tanh(c)"), "h")   # (B, H)
    return h_new, c_new


def gru_update(xw, h, weight_hh, bias_hh=None):
    """A GRU step from the step's input projection ``xw`` (B, 3H) (see :func:`project_input`).

    ``weight_hh`` is (3H, H), as stored. Returns ``h'`` (B, H) named ``h``, PyTorch's GRU::

        r = sigmoid(r_x + r_h)        z = sigmoid(z_x + z_h)
        n = tanh(n_x + r * n_h)       h' = (1 - z) * n + z * h

    where ``r_x, z_x, n_x`` are the blocks of ``xw`` and ``r_h, z_h, n_h`` those of
    ``h W_hh^T + b_hh``.

    Example:
        >>> import microtensor as mt
        >>> gru_update(mt.zeros(1, 6), mt.ones(1, 2), mt.zeros(6, 2)).data.tolist()   # z = 0.5
        [[0.5, 0.5]]
    """
    r_x, z_x, n_x = _pieces(xw, _GRU_GATES, "_x")             # each (B, H)
    r_h, z_h, n_h = _pieces(_recurrent(h, weight_hh, bias_hh), _GRU_GATES, "_h")
    r = _named((r_x + r_h).sigmoid(), "r")
    z = _named((z_x + z_h).sigmoid(), "z")
    n = _named((n_x + _named(r * n_h, "r*n_h")).tanh(), "n")
    keep_new = _named(_named(1 - z, "1-z") * n, "(1-z)*n")
    return _named(keep_new + _named(z * h, "z*h"), "h")        # (B, H)


def rnn_step(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    """One Elman RNN step: ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``, act tanh or relu.

    Shapes: x (B, I), h (B, H), weight_ih (H, I), weight_hh (H, H), biases (H,) or None.

    Example:
        >>> import microtensor as mt
        >>> rnn_step(mt.ones(1, 3), mt.zeros(1, 2), mt.ones(2, 3), mt.ones(2, 2),
        ...          nonlinearity="relu").data.tolist()
        [[3.0, 3.0]]
    """
    return rnn_update(project_input(x, weight_ih, bias_ih), h, weight_hh, bias_hh, nonlinearity)


def lstm_step(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One LSTM step, ``torch._VF.lstm_cell``'s signature: returns ``(h', c')``.

    Shapes: x (B, I), state (h, c) each (B, H), weight_ih (4H, I), weight_hh (4H, H), biases
    (4H,) or None; row blocks in gate order i, f, g, o. See :func:`lstm_update`.

    Example:
        >>> import microtensor as mt
        >>> h, c = lstm_step(mt.ones(2, 3), (mt.zeros(2, 4), mt.zeros(2, 4)),
        ...                  mt.zeros(16, 3), mt.zeros(16, 4), mt.zeros(16), mt.zeros(16))
        >>> h.shape, c.name
        ((2, 4), 'c')
    """
    return lstm_update(project_input(x, weight_ih, bias_ih), state, weight_hh, bias_hh)


def gru_step(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One GRU step (PyTorch's ``GRUCell``): returns ``h'``. See :func:`gru_update`.

    Shapes: x (B, I), h (B, H), weight_ih (3H, I), weight_hh (3H, H), biases (3H,) or None; row
    blocks in gate order r, z, n.

    Example:
        >>> import microtensor as mt
        >>> gru_step(mt.ones(2, 3), mt.ones(2, 4), mt.zeros(12, 3), mt.zeros(12, 4)).data[0].tolist()
        [0.5, 0.5, 0.5, 0.5]
    """
    return gru_update(project_input(x, weight_ih, bias_ih), h, weight_hh, bias_hh)


def hoisted(update, x, weight_ih, weight_hh, bias_ih=None, bias_hh=None, fold_bias_hh=False,
            **options):
    """Prepare a whole sequence for the ``update`` step: ``(xs, step)``.

    ``xs = project_input(x, weight_ih, bias_ih)`` is the input projection of all T steps (one
    ``linear``, (T, B, G*H)); ``step(xs[t], state)`` then runs ``update(xs[t], state,
    weight_hh, bias_hh, **options)``. This is how the layers unroll the built-in cells.

    ``fold_bias_hh``: where ``b_hh`` only adds to the gates (RNN, LSTM; not GRU, whose ``n``
    gate multiplies it by ``r``), add it once to the projection, as ``b_ih + b_hh`` (named so),
    instead of at every step: one add per step fewer, the same sum up to rounding.

    Example:
        >>> import microtensor as mt
        >>> xs, step = hoisted(gru_update, mt.ones(5, 2, 3), mt.zeros(12, 3), mt.zeros(12, 4))
        >>> xs.shape, step(xs[0], mt.ones(2, 4)).shape
        ((5, 2, 12), (2, 4))
    """
    if fold_bias_hh and bias_hh is not None:
        bias_ih, bias_hh = _named(bias_ih + bias_hh, "b_ih+b_hh"), None
    xs = project_input(x, weight_ih, bias_ih)                  # (T, B, G*H)

    def step(xw, state):
        return update(xw, state, weight_hh, bias_hh, **options)
    return xs, step


def layer_norm(a, weight, bias=None, eps=1e-5):
    """Normalise the last axis of ``a`` to zero mean and unit variance, then scale and shift.

    Written from primitives (mean, sub, mul, sqrt, div) so every op shows in the graph.

    Example:
        >>> import microtensor as mt
        >>> layer_norm(mt.tensor([[1.0, 3.0]]), mt.ones(2), eps=0.0).data.tolist()
        [[-1.0, 1.0]]
    """
    mean = a.mean(axis=-1, keepdims=True)                      # (..., 1)
    centred = a - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)     # (..., 1)
    out = centred / (var + eps).sqrt() * weight
    return out if bias is None else out + bias


def layer_norm_lstm_update(xw, state, weight_hh, bias, ln_hh, ln_cell, eps=1e-5):
    """A layer-normalised LSTM step from ``xw = LN(x W_ih^T; ln_ih)`` (B, 4H).

    ``ln_hh`` and ``ln_cell`` are ``(weight, bias)`` pairs of the layer norms of the recurrent
    part (4H) and of the cell state (H); ``bias`` (4H,) or None. Returns ``(h', c')``::

        gates = xw + LN(h W_hh^T; ln_hh) + bias      (gate order i, f, g, o)
        c' = sigmoid(f) * c + sigmoid(i) * tanh(g)
        h' = sigmoid(o) * tanh(LN(c'; ln_cell))

    Example:
        >>> import microtensor as mt
        >>> ln = (mt.ones(8), mt.zeros(8))
        >>> h, c = layer_norm_lstm_update(mt.zeros(1, 8), (mt.zeros(1, 2), mt.ones(1, 2)),
        ...                               mt.zeros(8, 2), None, ln, (mt.ones(2), None))
        >>> c.data.tolist()
        [[0.5, 0.5]]
    """
    h, c = state
    gates = xw + layer_norm(linear(h, weight_hh), *ln_hh, eps)  # (B, 4H)
    if bias is not None:
        gates = gates + bias
    o, c_new = _lstm_gates(gates, c)
    c_normed = _named(layer_norm(c_new, *ln_cell, eps), "LN(c)")
    h_new = _named(o * _named(c_normed.tanh(), "tanh(LN(c))"), "h")       # (B, H)
    return h_new, c_new


def layer_norm_lstm_step(x, state, weight_ih, weight_hh, bias, ln_ih, ln_hh, ln_cell, eps=1e-5):
    """One layer-normalised LSTM step (Ba, Kiros & Hinton 2016): returns ``(h', c')``.

    Shapes: x (B, I), state (h, c) each (B, H), weight_ih (4H, I), weight_hh (4H, H), bias (4H,)
    or None; ``ln_ih``, ``ln_hh`` (4H,) and ``ln_cell`` (H,) are ``(weight, bias)`` pairs (bias
    may be None). See :func:`layer_norm_lstm_update`.

    Example:
        >>> import microtensor as mt
        >>> ones, zeros = mt.ones(16), mt.zeros(16)
        >>> h, c = layer_norm_lstm_step(mt.ones(2, 3), (mt.zeros(2, 4), mt.zeros(2, 4)),
        ...                             mt.ones(16, 3), mt.ones(16, 4), None, (ones, zeros),
        ...                             (ones, zeros), (mt.ones(4), mt.zeros(4)))
        >>> h.shape
        (2, 4)
    """
    return layer_norm_lstm_update(layer_norm_input(x, weight_ih, ln_ih, eps), state, weight_hh,
                                  bias, ln_hh, ln_cell, eps)
