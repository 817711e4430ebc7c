"""Per-time-step gradient norms: how much of the loss's gradient reaches each hidden state.

Works on any unrolled model that opens a scope per time step (``mt.scope("lstm/l0/t3")``, as
``rnn.RNN/LSTM/GRU`` do, or by hand) and names its hidden state ``"h"``: the hidden state of a step
is the last tensor named ``"h"`` made inside that step's scope (or, without one, the last tensor
made there). Both conventions are defined in :mod:`rnn.conventions`. Only the public
``microtensor`` API is used.

Example:
    >>> import microtensor as mt
    >>> W = mt.tensor([[0.5]], requires_grad=True)
    >>> h = mt.ones(1, 1)
    >>> for t in range(3):
    ...     with mt.scope(f"rnn/l0/t{t}"):
    ...         h = (h @ W).tanh()
    ...         h.name = "h"
    >>> norms = hidden_grad_norms(h.sum())
    >>> list(norms), norms["rnn/l0"].round(3)
    (['rnn/l0'], array([0.234, 0.494, 1.   ]))
"""
import numpy as np

import microtensor as mt

from . import conventions


def split_step_scope(scope):
    """``"lstm/l1/reverse/t3/gates"`` -> ``("lstm/l1/reverse", 3)``; None outside any time step.

    The family (the scope before the ``t<k>`` part) names a layer and direction of one model.

    Example:
        >>> split_step_scope("gru/l0/t12"), split_step_scope("head")
        (('gru/l0', 12), None)
    """
    parsed = conventions.parse_scope(scope)
    return None if parsed is None else (parsed.family, parsed.t)


def step_states(records, name=conventions.HIDDEN):
    """The hidden-state record of every time step among ``mt.graph.walk`` records.

    Returns ``{(family, t): record}`` in sorted order: per step, the last record named ``name``
    made in that step's scope, else the last record made there that requires grad.

    Example:
        >>> import microtensor as mt
        >>> x = mt.ones(2, requires_grad=True)
        >>> with mt.scope("rnn/l0/t0"):
        ...     h = x.tanh(); h.name = "h"; y = h * 2.0
        >>> {k: r.name for k, r in step_states(mt.graph.walk(y)).items()}
        {('rnn/l0', 0): 'h'}
    """
    named, fallback = {}, {}
    for rec in records:   # walk order is creation order: later records overwrite earlier ones
        key = split_step_scope(rec.scope)
        if key is None:
            continue
        if rec.name == name:
            named[key] = rec
        elif rec.requires_grad:
            fallback[key] = rec
    chosen = {**fallback, **named}
    return {k: chosen[k] for k in sorted(chosen)}


def _norm(grad, norm):
    g = np.asarray(grad, dtype=np.float64)
    if norm not in ("l2", "maxabs"):
        raise ValueError(f"norm must be 'l2' or 'maxabs', not {norm!r}")
    largest = float(np.max(np.abs(g))) if g.size else 0.0
    if norm == "maxabs" or largest == 0 or not np.isfinite(largest):
        return largest
    # Scaled: a vanishing gradient of 1e-200 must not square to zero.
    scaled = g / largest
    return largest * float(np.sqrt(np.sum(scaled * scaled)))


def hidden_grad_norms(loss, name=conventions.HIDDEN, norm="l2"):
    """``||dL/dh_t||`` for every time step of every layer/direction of the graph behind ``loss``.

    If the hidden states kept their gradients (``loss.backward(keep_grads=True)``) those are used;
    otherwise they are computed here with ``mt.grad(..., retain_graph=True)``, which leaves every
    ``.grad`` untouched. The graph must still exist (not freed by a plain ``backward()``).

    Args:
        loss: a one-element tensor.
        name: the name of the per-step tensor to measure (``"h"``; ``"c"`` for an LSTM's cell state).
        norm: ``"l2"`` or ``"maxabs"``.

    Returns:
        ``{family: ndarray}`` (e.g. ``{"lstm/l0": ..., "lstm/l0/reverse": ...}``), one value per
        time step indexed by t; NaN for a step absent from the scopes or that got no gradient.

    Example:
        >>> import microtensor as mt
        >>> x = mt.tensor([[1.0, -2.0]], requires_grad=True)
        >>> for t in range(2):
        ...     with mt.scope(f"net/l0/t{t}"):
        ...         x = (x * 0.5).tanh()
        >>> hidden_grad_norms(x.sum())["net/l0"].round(3)
        array([0.643, 1.414])
    """
    states = step_states(mt.graph.walk(loss), name=name)
    if not states:
        raise ValueError("no time-step scopes found in this graph: run the model inside "
                         "mt.scope('<name>/l0/t<k>') per step (rnn.RNN/LSTM/GRU do unless "
                         "fused=True) and make sure backward() did not free the graph (use "
                         "keep_grads=True)")
    records = list(states.values())
    grads = [r.tensor.grad if r.requires_grad else None for r in records]
    if any(g is None for g, r in zip(grads, records) if r.requires_grad) and loss.requires_grad:
        wanted = [r.tensor for r in records if r.requires_grad]
        computed = iter(mt.grad(loss, wanted, retain_graph=True, allow_unused=True))
        grads = [next(computed) if r.requires_grad else None for r in records]
    result = {}
    for (family, t), g in zip(states, grads):
        values = result.setdefault(family, {})
        values[t] = np.nan if g is None else _norm(g, norm)
    out = {}
    for family, values in result.items():
        series = np.full(max(values) + 1, np.nan)
        for t, v in values.items():
            series[t] = v
        out[family] = series
    return out
