"""The hand-written NumPy reference: a char-level LSTM language model, forward and BPTT by hand.

This is the yardstick of the benchmark suite: what a careful person writes with NumPy alone.
Everything a fast implementation does is done here, so a ratio to it measures engine overhead:

* the input projection of all T steps is one matmul before the time loop, ``(T*B, E) @ (E, 4H)``;
* the four gates come from one fused matmul per step, ``(B, H) @ (H, 4H)``;
* the output projection of all T steps is one matmul after the loop, ``(T*B, H) @ (H, V)``;
* one tanh over all four gates per step (sigmoid as a scaled tanh, ``rnn.fused.lstm_gate_scales``);
* the backward's gate factors for all steps at once, then 7 NumPy calls per step, in place;
* the weight gradients are each one matmul over all steps (``dgates.T @ inputs``);
* the embedding's gradient as one-hot GEMMs (``microtensor.ops.nn.scatter_add_rows``), not ``np.add.at``;
* activations live in preallocated ``(T, B, ...)`` buffers and are updated in place.

Gate order, parameter names and shapes follow PyTorch (``weight_ih_l0`` is ``(4H, E)``, gates
i, f, g, o), so parameters can be copied one to one into a microtensor or PyTorch model.

Example:
    >>> import numpy as np
    >>> model = NumpyCharLSTM(vocab_size=11, embed_size=4, hidden_size=5, seed=0)
    >>> inputs = np.array([[1, 2, 3], [4, 5, 6]])        # (B, T) token ids
    >>> loss, grads, state = model.loss_and_grads(inputs, (inputs + 1) % 11, model.zero_state(2))
    >>> round(float(loss), 1), grads["lstm.weight_hh_l0"].shape, state[0].shape
    (2.5, (20, 5), (2, 5))
"""
import numpy as np

# Two NumPy-only helpers shared with microtensor, so the yardstick uses the same tricks by
# construction: one tanh for all four gates, and the embedding gradient as one-hot GEMMs.
from microtensor.ops.nn import scatter_add_rows
from rnn.fused import lstm_gate_scales

#: Parameter names, in a fixed order, as a microtensor/PyTorch model would name them.
PARAM_NAMES = ("embedding.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0",
               "lstm.bias_hh_l0", "head.weight", "head.bias")


def init_params(vocab_size, embed_size, hidden_size, seed=0, dtype=np.float32):
    """PyTorch's default initialisation, drawn from one seeded NumPy generator.

    Embedding ~ N(0, 1); LSTM and Linear ~ U(-1/sqrt(fan), 1/sqrt(fan)) with fan = hidden_size
    for the LSTM (PyTorch's rule) and fan = in_features for the Linear head.

    Example:
        >>> p = init_params(65, 64, 128)
        >>> p["lstm.weight_ih_l0"].shape, p["lstm.weight_ih_l0"].dtype
        ((512, 64), dtype('float32'))
    """
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(hidden_size)

    def uniform(*shape):
        return rng.uniform(-bound, bound, size=shape).astype(dtype)

    return {
        "embedding.weight": rng.standard_normal((vocab_size, embed_size)).astype(dtype),
        "lstm.weight_ih_l0": uniform(4 * hidden_size, embed_size),
        "lstm.weight_hh_l0": uniform(4 * hidden_size, hidden_size),
        "lstm.bias_ih_l0": uniform(4 * hidden_size),
        "lstm.bias_hh_l0": uniform(4 * hidden_size),
        "head.weight": uniform(vocab_size, hidden_size),
        "head.bias": uniform(vocab_size),
    }


class NumpyCharLSTM:
    """Embedding -> one-layer LSTM -> Linear -> mean cross-entropy, forward and backward by hand.

    Args:
        vocab_size, embed_size, hidden_size: the model's sizes (V, E, H).
        seed: seed of :func:`init_params` (ignored when ``params`` is given).
        dtype: float32 (the benchmark) or float64 (finite-difference tests).
        params: optional dict name -> array (see :data:`PARAM_NAMES`), used as is (not copied).

    Example:
        >>> import numpy as np
        >>> model = NumpyCharLSTM(7, 3, 4)
        >>> x = np.zeros((2, 5), dtype=np.int64)
        >>> first = model.train_step(x, x, lr=0.5)
        >>> second = model.train_step(x, x, lr=0.5)       # the state from step 1 is carried
        >>> bool(second < first)
        True
    """

    def __init__(self, vocab_size, embed_size, hidden_size, seed=0, dtype=np.float32, params=None):
        self.vocab_size, self.embed_size, self.hidden_size = vocab_size, embed_size, hidden_size
        self.dtype = np.dtype(dtype)
        self.params = params if params is not None else init_params(
            vocab_size, embed_size, hidden_size, seed, self.dtype)
        self.state = None

    def zero_state(self, batch_size):
        """``(h0, c0)``, each ``(B, H)`` zeros."""
        zeros = np.zeros((batch_size, self.hidden_size), dtype=self.dtype)
        return zeros, zeros.copy()

    def loss_and_grads(self, inputs, targets, state):
        """Mean cross-entropy over all B*T positions, its gradients, and the final state.

        Args:
            inputs, targets: ``(B, T)`` integer token ids.
            state: ``(h0, c0)``, each ``(B, H)``; treated as a constant (the graph is cut there).

        Returns: ``(loss, grads, (h_T, c_T))`` with ``grads`` a dict name -> array.
        """
        loss, kept, final_state = self.forward(inputs, targets, state)
        return loss, self.backward(kept), final_state

    def forward(self, inputs, targets, state):
        """The forward pass: ``(loss, kept, (h_T, c_T))``; ``kept`` is what :meth:`backward` needs.

        ``kept`` is a dict of the arrays held between the two passes: the benchmark's memory
        yardstick (:func:`kept_bytes`).
        """
        p = self.params
        batch, steps = inputs.shape
        hidden = self.hidden_size
        n = batch * steps
        scale, shift = lstm_gate_scales(hidden, self.dtype)
        w_ih = p["lstm.weight_ih_l0"] * scale[:, None]                # i, f, o rows halved
        w_hh = p["lstm.weight_hh_l0"] * scale[:, None]
        bias = (p["lstm.bias_ih_l0"] + p["lstm.bias_hh_l0"]) * scale
        tokens = np.ascontiguousarray(inputs.T).reshape(-1)            # (T*B,), time-major

        x = p["embedding.weight"][tokens]                              # (T*B, E)
        acts = x @ w_ih.T                                              # (T*B, 4H) hoisted
        acts += bias
        acts = acts.reshape(steps, batch, 4 * hidden)                  # becomes the gate activations
        hs = np.empty((steps + 1, batch, hidden), dtype=self.dtype)    # h_0 .. h_T
        cs = np.empty((steps + 1, batch, hidden), dtype=self.dtype)    # c_0 .. c_T
        tanh_cs = np.empty((steps, batch, hidden), dtype=self.dtype)   # tanh(c_1) .. tanh(c_T)
        hs[0], cs[0] = state
        # h @ W_hh.T as (W_hh @ h.T).T: with few rows OpenBLAS is 1.2-2x faster when the big
        # operand is read in its stored order (measured on the benchmark machine).
        few_rows = batch <= 128
        w_hh_t = w_hh.T
        scratch = np.empty((batch, hidden), dtype=self.dtype)
        for t in range(steps):
            a = acts[t]                                                # (B, 4H)
            a += (w_hh @ hs[t].T).T if few_rows else hs[t] @ w_hh_t     # one fused gate matmul
            np.tanh(a, out=a)
            a *= scale
            a += shift                                                 # i, f, o sigmoid; g tanh
            i, f = a[:, :hidden], a[:, hidden:2 * hidden]
            g, o = a[:, 2 * hidden:3 * hidden], a[:, 3 * hidden:]
            np.multiply(f, cs[t], out=cs[t + 1])
            np.multiply(i, g, out=scratch)
            cs[t + 1] += scratch                                       # c_t = f c_{t-1} + i g
            np.tanh(cs[t + 1], out=tanh_cs[t])
            np.multiply(o, tanh_cs[t], out=hs[t + 1])                  # h_t = o tanh(c_t)

        logits = hs[1:].reshape(n, hidden) @ p["head.weight"].T       # (T*B, V) hoisted
        logits += p["head.bias"]
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)                                     # now unnormalised probs
        totals = logits.sum(axis=1)
        flat_targets = targets.T.reshape(-1)                           # time-major like `tokens`
        picked = logits[np.arange(n), flat_targets] / totals
        loss = -np.log(picked).mean(dtype=np.float64)
        kept = {"tokens": tokens, "x": x, "acts": acts, "hs": hs, "cs": cs, "tanh_cs": tanh_cs,
                "probs": logits, "totals": totals, "targets": flat_targets}
        return loss, kept, (hs[steps].copy(), cs[steps].copy())

    def backward(self, kept):
        """The backward pass from what :meth:`forward` kept: dict name -> gradient array.

        It overwrites ``kept``'s buffers (the probabilities become their gradient): call it once.
        """
        p = self.params
        w_out = p["head.weight"]
        x, acts, hs, cs, tanh_cs = kept["x"], kept["acts"], kept["hs"], kept["cs"], kept["tanh_cs"]
        steps, batch, hidden = tanh_cs.shape
        n = batch * steps
        h_flat = hs[1:].reshape(n, hidden)

        dlogits = kept["probs"]
        dlogits /= kept["totals"][:, None]                             # softmax
        dlogits[np.arange(n), kept["targets"]] -= 1
        dlogits *= 1.0 / n                                             # mean over B*T
        grads = {"head.weight": dlogits.T @ h_flat, "head.bias": dlogits.sum(axis=0)}
        dhs = (dlogits @ w_out).reshape(steps, batch, hidden)          # dL/dh_t from the head

        # Every factor that does not depend on the incoming gradient, for all steps at once
        # (T, B, 4, H): d(pre-activation) = factor * dc_t for i, f, g and factor * dh_t for o.
        # The loop then multiplies each step's factors by its gradient IN PLACE, so this buffer
        # becomes the gate gradients: no second (T, B, 4H) array.
        gates = acts.reshape(steps, batch, 4, hidden)
        i, f, g, o = gates[:, :, 0], gates[:, :, 1], gates[:, :, 2], gates[:, :, 3]
        dgates = np.empty_like(gates)
        np.subtract(1, i, out=dgates[:, :, 0])
        dgates[:, :, 0] *= i
        dgates[:, :, 0] *= g                                           # g i (1 - i)
        np.subtract(1, f, out=dgates[:, :, 1])
        dgates[:, :, 1] *= f
        dgates[:, :, 1] *= cs[:-1]                                     # c_{t-1} f (1 - f)
        np.multiply(g, g, out=dgates[:, :, 2])
        np.subtract(1, dgates[:, :, 2], out=dgates[:, :, 2])
        dgates[:, :, 2] *= i                                           # i (1 - g^2)
        np.subtract(1, o, out=dgates[:, :, 3])
        dgates[:, :, 3] *= o
        dgates[:, :, 3] *= tanh_cs                                     # tanh(c_t) o (1 - o)
        to_cell = np.multiply(tanh_cs, tanh_cs)
        np.subtract(1, to_cell, out=to_cell)
        to_cell *= o                                                   # dc_t += dh_t o (1 - tanh^2)

        w_hh = p["lstm.weight_hh_l0"]
        dh = np.zeros((batch, hidden), dtype=self.dtype)
        dc = np.zeros((batch, hidden), dtype=self.dtype)
        tmp = np.empty((batch, hidden), dtype=self.dtype)
        for t in range(steps - 1, -1, -1):
            d = dgates[t]                                              # (B, 4, H)
            dh += dhs[t]
            np.multiply(dh, to_cell[t], out=tmp)
            dc += tmp                                                  # dL/dc_t
            d[:, :3] *= dc[:, None, :]                                 # di, df, dg
            d[:, 3] *= dh                                              # do
            dc *= f[t]                                                 # dL/dc_{t-1}
            if t:                                                      # h_0 is a constant
                dh = d.reshape(batch, 4 * hidden) @ w_hh               # dL/dh_{t-1}

        dgates_flat = dgates.reshape(n, 4 * hidden)
        grads["lstm.weight_ih_l0"] = dgates_flat.T @ x                # all steps in one matmul
        grads["lstm.weight_hh_l0"] = dgates_flat.T @ hs[:-1].reshape(n, hidden)
        grads["lstm.bias_ih_l0"] = dgates_flat.sum(axis=0)
        grads["lstm.bias_hh_l0"] = grads["lstm.bias_ih_l0"].copy()
        dx = dgates_flat @ p["lstm.weight_ih_l0"]                      # (T*B, E)
        grads["embedding.weight"] = scatter_add_rows(kept["tokens"], dx, self.vocab_size)
        return grads

    def train_step(self, inputs, targets, lr=0.1):
        """One SGD step on ``(inputs, targets)``, carrying the hidden state; returns the loss."""
        if self.state is None or self.state[0].shape[0] != inputs.shape[0]:
            self.state = self.zero_state(inputs.shape[0])
        loss, grads, self.state = self.loss_and_grads(inputs, targets, self.state)
        for name, grad in grads.items():
            param = self.params[name]
            grad *= lr
            param -= grad
        return loss


def kept_bytes(kept):
    """Bytes of the distinct arrays in a :meth:`NumpyCharLSTM.forward` ``kept`` dict (views once).

    Example:
        >>> a = np.zeros(10, dtype=np.float32)
        >>> kept_bytes({"a": a, "view": a[2:], "b": np.zeros(3)})
        64
    """
    bases = {}
    for array in kept.values():
        base = array if array.base is None else array.base
        bases[id(base)] = base.nbytes
    return sum(bases.values())
