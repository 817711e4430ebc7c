"""Fused recurrent ops: a whole sequence of one layer and direction as ONE ``mt.Function``.

The explicit cells in :mod:`rnn.cells` build every gate from primitive ops, which is what a learner
wants to see but costs a graph node per primitive per step. Here each cell type is one
``mt.Function`` over a whole sequence with a hand-derived backward, built for speed:

* the input projection of all steps is hoisted into one matmul before the loop
  (``(T*B, I) @ (I, G*H)``), so the loop only does ``h @ W_hh^T`` (one matmul for all gates);
* the backward loop only propagates through time; the gradients of ``weight_ih``, ``weight_hh``,
  the biases and the input for all steps are each summed in ONE matmul after the loop;
* each is a multi-output Function: it returns the output sequence and the final state(s) as
  separate tensors of one node (LSTM ``(output, h_n, c_n)``), and its backward takes one
  gradient per output (zeros for an output nobody used).

A cell's ``fused=True`` runs the same Function on a sequence of length 1, so there is one fused node
per time step. ``mask`` (T, B, 1) of booleans implements ``lengths``: where it is False the state is
carried unchanged, the output is 0, and no gradient reaches that step's input.

Gate order and formulas are PyTorch's (LSTM i, f, g, o; GRU r, z, n with
``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``), so the same parameters give the same numbers as
the explicit cells (to ~1e-15 in float64).

Example:
    >>> import numpy as np, microtensor as mt
    >>> from rnn.fused import lstm_sequence
    >>> T, B, I, H = 5, 2, 3, 4
    >>> x = mt.randn(T, B, I, requires_grad=True)
    >>> h0, c0 = mt.zeros(B, H), mt.zeros(B, H)
    >>> w_ih, w_hh = mt.randn(4 * H, I, requires_grad=True), mt.randn(4 * H, H, requires_grad=True)
    >>> out, (h_n, c_n) = lstm_sequence(x, (h0, c0), w_ih, w_hh)
    >>> out.shape, h_n.shape
    ((5, 2, 4), (2, 4))
    >>> out.sum().backward()
    >>> x.grad.shape, w_hh.grad.shape
    ((5, 2, 3), (16, 4))
"""
import functools

import numpy as np

import microtensor as mt


def _sigmoid_(a):
    """In-place logistic sigmoid, computed exactly as mt.sigmoid does: (1 + tanh(a / 2)) / 2."""
    a *= 0.5
    np.tanh(a, out=a)
    a += 1
    a *= 0.5
    return a


def _input_projection(x, w_ih, bias):
    """All steps' ``x_t @ W_ih^T + bias`` in one matmul: (T, B, I) -> (T, B, G*H)."""
    T, B, features = x.shape
    gi = x.reshape(T * B, features) @ w_ih.T   # (T*B, G*H)
    if bias is not None:
        gi += bias
    return gi.reshape(T, B, -1)


def _weight_grads(ctx, x, h_prev, d_gi, d_gh, n_bias):
    """Grads of x, weight_ih, weight_hh and the biases, each summed over all steps in one op."""
    T, B, features = x.shape
    H = h_prev.shape[2]
    d_gi2 = d_gi.reshape(T * B, -1)            # (T*B, G*H)
    d_gh2 = d_gi2 if d_gh is None else d_gh.reshape(T * B, -1)
    needs = ctx.needs_input_grad
    w_ih = ctx.w_ih
    dx = (d_gi2 @ w_ih).reshape(T, B, features) if needs[0] else None
    dw_ih = d_gi2.T @ x.reshape(T * B, features) if needs[-2 - n_bias] else None
    dw_hh = d_gh2.T @ h_prev.reshape(T * B, H) if needs[-1 - n_bias] else None
    biases = ()
    if n_bias:
        shared = d_gh is None and needs[-1]    # bias_hh's gradient is the same sum
        d_bias_ih = d_gi2.sum(axis=0) if needs[-2] or shared else None
        if d_gh is None:                       # one reduction, then a copy
            d_bias_hh = d_bias_ih.copy() if shared else None
        else:
            d_bias_hh = d_gh2.sum(axis=0) if needs[-1] else None
        biases = (d_bias_ih if needs[-2] else None, d_bias_hh)
    return dx, dw_ih, dw_hh, biases


def _masked_outputs(hs, mask, reverse):
    """The (T, B, H) outputs in time order from the states ``hs`` (T + 1, B, H) in processing
    order, zero where ``mask`` is False. Unmasked, a view of ``hs`` (no copy, as the NumPy
    reference); the op saves it with ``hs``, so an in-place change of the output (which would
    change ``hs``) makes backward refuse, naming the op, instead of using changed states."""
    outputs = hs[:0:-1] if reverse else hs[1:]
    return outputs * mask if mask is not None else outputs


def _final_state(states, stack_states):
    """A copy of the state after the last step, from ``states`` (T + 1, B, H): (B, H), or
    (1, B, H) with ``stack_states`` (what a one-layer, one-direction layer returns as h_n)."""
    last = states.shape[0] - 1
    return states[last:last + 1].copy() if stack_states else states[last].copy()


def _masks_in_processing_order(mask, reverse, dtype):
    """``(keep, carry)`` as floats (T, B, 1) in processing order, or ``(None, None)``."""
    if mask is None:
        return None, None
    keep = (mask[::-1] if reverse else mask).astype(dtype)
    return keep, 1 - keep


def _output_grads(d_output, mask, reverse):
    """dL/d(outputs) (T, B, H) in processing order; padded outputs are constant zeros."""
    d_out = d_output if mask is None else d_output * mask
    return d_out[::-1] if reverse else d_out


@functools.lru_cache(maxsize=64)
def lstm_gate_scales(hidden_size, dtype):
    """Per-row scale and shift that turn one tanh over all four gates into sigmoid for i, f, o.

    sigmoid(a) = tanh(a / 2) / 2 + 1/2, so the rows of i, f, o are pre-scaled by 1/2 (exact in
    binary floating point) and after the tanh multiplied by 1/2 and shifted by 1/2; g's rows get
    scale 1 and shift 0, which leave it unchanged bit for bit. Three ufunc calls instead of seven.
    (The benchmark's NumPy reference uses it too.) Cached and read-only: it is built once per size.

    Example:
        >>> scale, shift = lstm_gate_scales(1, np.dtype("float32"))
        >>> scale.tolist(), shift.tolist(), scale.flags.writeable
        ([0.5, 0.5, 1.0, 0.5], [0.5, 0.5, 0.0, 0.5], False)
    """
    H = hidden_size
    scale = np.full(4 * H, 0.5, dtype=dtype)
    scale[2 * H:3 * H] = 1
    shift = scale.copy()
    shift[2 * H:3 * H] = 0
    scale.flags.writeable = shift.flags.writeable = False
    return scale, shift


class LSTMSequence(mt.Function):
    """One LSTM layer/direction over a whole sequence (gate order i, f, g, o).

    Inputs: x (T, B, I), h0 (B, H), c0 (B, H), weight_ih (4H, I), weight_hh (4H, H), then optionally
    bias_ih (4H,), bias_hh (4H,). Attributes: ``mask`` (T, B, 1) bool or None, ``reverse``.
    Outputs: output (T, B, H), h_n (B, H), c_n (B, H).

    Arrays indexed by ``s`` are in processing order (``s = t``, or ``T - 1 - t`` in reverse): a
    reversed view of a time-ordered array, so the weight gradients need no reordering copies.
    The loops are written in place with preallocated buffers, and every elementwise factor of the
    backward that does not depend on the incoming gradient is computed for all steps at once
    before the loop, into the buffer that the loop then turns into the gate gradients (scaled in
    place), which leaves 7 NumPy calls per step and no second (T, B, 4H) array.
    """
    name = "lstm_fused"

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, *biases, mask=None, reverse=False,
                stack_states=False):
        T, B, _ = x.shape
        H = h0.shape[1]
        dtype = x.dtype
        scale, shift = lstm_gate_scales(H, np.dtype(dtype))
        bias = (biases[0] + biases[1]) * scale if biases else None
        acts_time = _input_projection(x, w_ih * scale[:, None], bias)   # (T, B, 4H)
        acts = acts_time[::-1] if reverse else acts_time      # becomes the activations i, f, g, o
        hs = np.empty((T + 1, B, H), dtype=dtype)             # state entering step s is hs[s]
        cs = np.empty((T + 1, B, H), dtype=dtype)
        tanh_cs = np.empty((T, B, H), dtype=dtype)            # tanh(c) of each step's new cell
        hs[0], cs[0] = h0, c0
        carry = None                                          # (T, B, 1): True = padded step
        if mask is not None:
            carry = ~(mask[::-1] if reverse else mask)
        w_hh_scaled = w_hh * scale[:, None]                   # (4H, H)
        w_hh_t = w_hh_scaled.T                                # (H, 4H)
        # With few rows, OpenBLAS is 1.2-2x faster on (W @ h.T).T than on h @ W.T (the big
        # operand read in its stored order); same numbers.
        few_rows = B <= 128
        scratch = np.empty((B, H), dtype=dtype)
        for s in range(T):
            a = acts[s]                                       # (B, 4H)
            # one matmul for all four gates
            a += (w_hh_scaled @ hs[s].T).T if few_rows else hs[s] @ w_hh_t
            np.tanh(a, out=a)
            a *= scale
            a += shift                                        # i, f, o sigmoid; g tanh
            i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            np.multiply(f, cs[s], out=cs[s + 1])
            np.multiply(i, g, out=scratch)
            cs[s + 1] += scratch                              # c' = f c + i g
            np.tanh(cs[s + 1], out=tanh_cs[s])
            np.multiply(o, tanh_cs[s], out=hs[s + 1])         # h' = o tanh(c')
            if carry is not None:                             # padded rows keep their state
                np.copyto(hs[s + 1], hs[s], where=carry[s])
                np.copyto(cs[s + 1], cs[s], where=carry[s])
        out = _masked_outputs(hs, mask, reverse)             # (T, B, H), zero past each length
        ctx.w_ih, ctx.w_hh = w_ih, w_hh
        ctx.n_bias, ctx.mask, ctx.reverse = len(biases), mask, reverse
        ctx.save_for_backward(x, acts_time, hs, cs, tanh_cs, out)
        return out, _final_state(hs, stack_states), _final_state(cs, stack_states)

    @staticmethod
    def backward(ctx, d_output, d_h_n, d_c_n):
        x, acts_time, hs, cs, tanh_cs, _ = ctx.saved_tensors
        mask, reverse = ctx.mask, ctx.reverse
        T, B, _ = x.shape
        H = hs.shape[2]
        dtype = hs.dtype
        gates = (acts_time[::-1] if reverse else acts_time).reshape(T, B, 4, H)
        i, f, g, o = gates[:, :, 0], gates[:, :, 1], gates[:, :, 2], gates[:, :, 3]
        # Factors for all steps at once (T, B, 4, H): d(pre-activation) = factor * dc' for i, f, g
        # and = factor * dh' for o; and dc' gets dh' * o (1 - tanh(c')^2). The loop scales them in
        # place, so this buffer (in processing order) becomes the gate gradients.
        d_gates_time = np.empty_like(acts_time)               # grads of the pre-activations
        d_gates = d_gates_time[::-1] if reverse else d_gates_time
        factors = d_gates.reshape(T, B, 4, H)                 # the same memory, gate by gate
        np.subtract(1, i, out=factors[:, :, 0])
        factors[:, :, 0] *= i
        factors[:, :, 0] *= g                                 # g i (1 - i)
        np.subtract(1, f, out=factors[:, :, 1])
        factors[:, :, 1] *= f
        factors[:, :, 1] *= cs[:-1]                           # c f (1 - f)
        np.multiply(g, g, out=factors[:, :, 2])
        np.subtract(1, factors[:, :, 2], out=factors[:, :, 2])
        factors[:, :, 2] *= i                                 # i (1 - g^2)
        np.subtract(1, o, out=factors[:, :, 3])
        factors[:, :, 3] *= o
        factors[:, :, 3] *= tanh_cs                           # tanh(c') o (1 - o)
        to_cell = np.multiply(tanh_cs, tanh_cs)
        np.subtract(1, to_cell, out=to_cell)
        to_cell *= o                                          # o (1 - tanh(c')^2)
        keep, carry = _masks_in_processing_order(mask, reverse, dtype)
        d_out = _output_grads(d_output, mask, reverse)
        dh = d_h_n.reshape(B, H).copy()                       # dL/d(state after step s)
        dc = d_c_n.reshape(B, H).copy()
        w_hh = ctx.w_hh
        need_h0 = ctx.needs_input_grad[1]
        tmp = np.empty((B, H), dtype=dtype)
        for s in range(T - 1, -1, -1):
            d, d4 = d_gates[s], factors[s]                    # (B, 4H) and (B, 4, H), one buffer
            if carry is not None:                             # a padded row passes dh, dc through
                dh_carry, dc_carry = dh * carry[s], dc * carry[s]
                dh *= keep[s]
                dc *= keep[s]
            dh += d_out[s]
            np.multiply(dh, to_cell[s], out=tmp)
            dc += tmp                                         # dL/dc'
            d4[:, :3] *= dc[:, None, :]                       # di, df, dg
            d4[:, 3] *= dh                                    # do
            dc *= f[s]                                        # dL/dc entering step s
            if s or need_h0:
                dh = d @ w_hh                                 # dL/dh entering step s
            if carry is not None:
                dc += dc_carry
                if s or need_h0:
                    dh += dh_carry
        h_prev = hs[-2::-1] if reverse else hs[:-1]           # (T, B, H) in time order
        dx, dw_ih, dw_hh, biases = _weight_grads(ctx, x, h_prev, d_gates_time, None, ctx.n_bias)
        return (dx, dh if need_h0 else None, dc, dw_ih, dw_hh) + biases


class GRUSequence(mt.Function):
    """One GRU layer/direction over a whole sequence (gate order r, z, n; PyTorch's formulas).

    Inputs: x (T, B, I), h0 (B, H), weight_ih (3H, I), weight_hh (3H, H), optionally bias_ih, bias_hh
    (3H,). Attributes: ``mask`` (T, B, 1) bool or None, ``reverse``.
    Outputs: output (T, B, H), h_n (B, H).
    Indexing by ``s`` is in processing order, as in :class:`LSTMSequence`.
    """
    name = "gru_fused"

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, *biases, mask=None, reverse=False, stack_states=False):
        T, B, _ = x.shape
        H = h0.shape[1]
        dtype = x.dtype
        gi_time = _input_projection(x, w_ih, biases[0] if biases else None)   # (T, B, 3H)
        gi = gi_time[::-1] if reverse else gi_time
        b_hh = biases[1] if biases else None
        w_hh_t = w_hh.T                                       # (H, 3H)
        hs = np.empty((T + 1, B, H), dtype=dtype)             # state entering step s is hs[s]
        gh_all = np.empty((T, B, 3 * H), dtype=dtype)         # h W_hh^T + b_hh (n's part is used)
        rz = np.empty((T, B, 2 * H), dtype=dtype)             # activated r, z
        n_all = np.empty((T, B, H), dtype=dtype)
        hs[0] = h0
        carry = None if mask is None else ~(mask[::-1] if reverse else mask)
        for s in range(T):
            gh = np.matmul(hs[s], w_hh_t, out=gh_all[s])      # (B, 3H), one matmul for all gates
            if b_hh is not None:
                gh += b_hh
            g = rz[s]
            np.add(gi[s, :, :2 * H], gh[:, :2 * H], out=g)
            _sigmoid_(g)
            r, z = g[:, :H], g[:, H:]
            n = np.multiply(r, gh[:, 2 * H:], out=n_all[s])
            n += gi[s, :, 2 * H:]
            np.tanh(n, out=n)                                 # (B, H)
            h_new = np.subtract(hs[s], n, out=hs[s + 1])
            h_new *= z
            h_new += n                                        # (1 - z) * n + z * h
            if carry is not None:                             # padded rows keep their state
                np.copyto(hs[s + 1], hs[s], where=carry[s])
        ctx.w_ih, ctx.w_hh = w_ih, w_hh
        ctx.n_bias, ctx.mask, ctx.reverse = len(biases), mask, reverse
        out = _masked_outputs(hs, mask, reverse)
        ctx.save_for_backward(x, hs, gh_all, rz, n_all, out)
        return out, _final_state(hs, stack_states)

    @staticmethod
    def backward(ctx, d_output, d_h_n):
        x, hs, gh_all, rz, n_all, _ = ctx.saved_tensors
        mask, reverse = ctx.mask, ctx.reverse
        T, B, _ = x.shape
        H = hs.shape[2]
        dtype = hs.dtype
        r, z = rz[:, :, :H], rz[:, :, H:]
        # Factors for all steps at once: d(pre-activation) = factor * dh' for n and z; r's is
        # factor * d(n's pre-activation).
        n_factor = 1 - n_all * n_all
        n_factor *= 1 - z                                     # (1 - z) (1 - n^2)
        z_factor = hs[:-1] - n_all
        z_factor *= z
        z_factor *= 1 - z                                     # (h - n) z (1 - z)
        r_factor = gh_all[:, :, 2 * H:] * r
        r_factor *= 1 - r                                     # (W_hn h + b_hn) r (1 - r)
        keep, carry = _masks_in_processing_order(mask, reverse, dtype)
        d_out = _output_grads(d_output, mask, reverse)
        dh = d_h_n.reshape(hs.shape[1:]).copy()
        d_gi_time = np.empty((T, B, 3 * H), dtype=dtype)
        d_gh_time = np.empty_like(d_gi_time)
        d_gi = d_gi_time[::-1] if reverse else d_gi_time
        d_gh = d_gh_time[::-1] if reverse else d_gh_time
        w_hh = ctx.w_hh
        need_h0 = ctx.needs_input_grad[1]
        for s in range(T - 1, -1, -1):
            gi_s, gh_s = d_gi[s], d_gh[s]
            if carry is not None:
                dh_carry = dh * carry[s]
                dh *= keep[s]
            dh += d_out[s]
            dn = np.multiply(dh, n_factor[s], out=gi_s[:, 2 * H:])
            np.multiply(dh, z_factor[s], out=gi_s[:, H:2 * H])
            np.multiply(dn, r_factor[s], out=gi_s[:, :H])
            gh_s[:, :2 * H] = gi_s[:, :2 * H]
            np.multiply(dn, r[s], out=gh_s[:, 2 * H:])
            if s or need_h0:
                direct = dh * z[s]
                dh = gh_s @ w_hh
                dh += direct
                if carry is not None:
                    dh += dh_carry
        h_prev = hs[-2::-1] if reverse else hs[:-1]
        dx, dw_ih, dw_hh, biases = _weight_grads(ctx, x, h_prev, d_gi_time, d_gh_time, ctx.n_bias)
        return (dx, dh if need_h0 else None, dw_ih, dw_hh) + biases


class RNNSequence(mt.Function):
    """One Elman RNN layer/direction over a whole sequence: h' = act(W_ih x + b_ih + W_hh h + b_hh).

    Inputs: x (T, B, I), h0 (B, H), weight_ih (H, I), weight_hh (H, H), optionally bias_ih, bias_hh
    (H,). Attributes: ``nonlinearity`` ("tanh" or "relu"), ``mask``, ``reverse``.
    Outputs: output (T, B, H), h_n (B, H).
    """
    name = "rnn_fused"

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, *biases, nonlinearity="tanh", mask=None, reverse=False,
                stack_states=False):
        T, B, _ = x.shape
        H = h0.shape[1]
        bias = biases[0] + biases[1] if biases else None
        gi_time = _input_projection(x, w_ih, bias)            # (T, B, H)
        gi = gi_time[::-1] if reverse else gi_time
        w_hh_t = w_hh.T
        hs = np.empty((T + 1, B, H), dtype=x.dtype)           # state entering step s is hs[s]
        hs[0] = h0
        carry = None if mask is None else ~(mask[::-1] if reverse else mask)
        relu = nonlinearity == "relu"
        for s in range(T):
            a = np.matmul(hs[s], w_hh_t, out=hs[s + 1])       # (B, H)
            a += gi[s]
            if relu:
                np.maximum(a, 0, out=a)
            else:
                np.tanh(a, out=a)
            if carry is not None:
                np.copyto(hs[s + 1], hs[s], where=carry[s])
        ctx.w_ih, ctx.w_hh = w_ih, w_hh
        ctx.n_bias, ctx.mask, ctx.reverse, ctx.relu = len(biases), mask, reverse, relu
        out = _masked_outputs(hs, mask, reverse)
        ctx.save_for_backward(x, hs, out)
        return out, _final_state(hs, stack_states)

    @staticmethod
    def backward(ctx, d_output, d_h_n):
        x, hs, _ = ctx.saved_tensors
        mask, reverse = ctx.mask, ctx.reverse
        T = x.shape[0]
        dtype = hs.dtype
        # d(pre-activation) = dh' * act'(pre), for all steps at once. (Where a padded row's state
        # was carried, the factor is wrong but multiplies a zero gradient.)
        new = hs[1:]
        factor = (new > 0).astype(dtype) if ctx.relu else 1 - new * new
        keep, carry = _masks_in_processing_order(mask, reverse, dtype)
        d_out = _output_grads(d_output, mask, reverse)
        dh = d_h_n.reshape(hs.shape[1:]).copy()
        d_pre_time = np.empty((T,) + hs.shape[1:], dtype=dtype)
        d_pre = d_pre_time[::-1] if reverse else d_pre_time
        w_hh = ctx.w_hh
        need_h0 = ctx.needs_input_grad[1]
        for s in range(T - 1, -1, -1):
            if carry is not None:
                dh_carry = dh * carry[s]
                dh *= keep[s]
            dh += d_out[s]
            np.multiply(dh, factor[s], out=d_pre[s])
            if s or need_h0:
                dh = d_pre[s] @ w_hh
                if carry is not None:
                    dh += dh_carry
        h_prev = hs[-2::-1] if reverse else hs[:-1]
        dx, dw_ih, dw_hh, biases = _weight_grads(ctx, x, h_prev, d_pre_time, None, ctx.n_bias)
        return (dx, dh if need_h0 else None, dw_ih, dw_hh) + biases


def _biases(bias_ih, bias_hh):
    if (bias_ih is None) != (bias_hh is None):
        raise ValueError("give both bias_ih and bias_hh, or neither")
    return () if bias_ih is None else (bias_ih, bias_hh)


def _mask_array(mask):
    if mask is None:
        return None
    mask = np.asarray(getattr(mask, "data", mask), dtype=bool)
    if mask.ndim != 3 or mask.shape[2] != 1:
        raise mt.ShapeError(f"mask must have shape (T, B, 1), got {mask.shape}")
    return mask


def lstm_sequence(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None, mask=None,
                  reverse=False, stack_states=False):
    """Run one LSTM layer/direction over ``x`` as one fused op.

    Args:
        x: (T, B, I) tensor. state: ``(h0, c0)``, each (B, H).
        weight_ih (4H, I), weight_hh (4H, H), bias_ih, bias_hh (4H,) or None: PyTorch's layout.
        mask: optional (T, B, 1) booleans; False steps keep the state and output 0.
        reverse: run from the last step to the first.
        stack_states: return h_n and c_n as (1, B, H), the layout of a one-layer, one-direction
            layer's final states (rnn's layers ask for it: no reshape node per state).

    Returns: ``(output (T, B, H), (h_n, c_n))``.

    Example:
        >>> import microtensor as mt
        >>> out, (h, c) = lstm_sequence(mt.ones(3, 1, 2), (mt.zeros(1, 4), mt.zeros(1, 4)),
        ...                             mt.zeros(16, 2), mt.zeros(16, 4))
        >>> out.shape, float(c.data[0, 0])     # i = f = o = 0.5, g = 0 -> c stays 0
        ((3, 1, 4), 0.0)
    """
    h0, c0 = state
    out, h_n, c_n = LSTMSequence.apply(x, h0, c0, weight_ih, weight_hh, *_biases(bias_ih, bias_hh),
                                       mask=_mask_array(mask), reverse=bool(reverse),
                                       stack_states=bool(stack_states))
    return out, (h_n, c_n)


def gru_sequence(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None, mask=None,
                 reverse=False, stack_states=False):
    """Run one GRU layer/direction over ``x`` as one fused op.

    Args:
        x: (T, B, I) tensor. state: ``h0`` (B, H) (or a 1-tuple holding it).
        weight_ih (3H, I), weight_hh (3H, H), bias_ih, bias_hh (3H,) or None.
        mask, reverse, stack_states: as in :func:`lstm_sequence`.

    Returns: ``(output (T, B, H), h_n)``.

    Example:
        >>> import microtensor as mt
        >>> out, h = gru_sequence(mt.ones(3, 2, 2), mt.zeros(2, 4), mt.zeros(12, 2), mt.zeros(12, 4))
        >>> out.shape, h.shape
        ((3, 2, 4), (2, 4))
    """
    h0 = state[0] if isinstance(state, tuple) else state
    return GRUSequence.apply(x, h0, weight_ih, weight_hh, *_biases(bias_ih, bias_hh),
                             mask=_mask_array(mask), reverse=bool(reverse),
                             stack_states=bool(stack_states))


def rnn_sequence(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh",
                 mask=None, reverse=False, stack_states=False):
    """Run one Elman RNN layer/direction (tanh or relu) over ``x`` as one fused op.

    Args:
        x: (T, B, I) tensor. state: ``h0`` (B, H) (or a 1-tuple holding it).
        weight_ih (H, I), weight_hh (H, H), bias_ih, bias_hh (H,) or None.
        nonlinearity: "tanh" or "relu". mask, reverse, stack_states: as in :func:`lstm_sequence`.

    Returns: ``(output (T, B, H), h_n)``.

    Example:
        >>> import microtensor as mt
        >>> out, h = rnn_sequence(mt.ones(3, 2, 2), mt.zeros(2, 4), mt.ones(4, 2), mt.zeros(4, 4),
        ...                       nonlinearity="relu")
        >>> h.data[0].tolist()
        [2.0, 2.0, 2.0, 2.0]
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    h0 = state[0] if isinstance(state, tuple) else state
    return RNNSequence.apply(x, h0, weight_ih, weight_hh, *_biases(bias_ih, bias_hh),
                             nonlinearity=nonlinearity, mask=_mask_array(mask), reverse=bool(reverse),
                             stack_states=bool(stack_states))
