"""Write your own recurrent cell and plug it into the generic layer (the recipe of docs/custom_cell.md).

The cell here is the Minimal Gated Unit (Zhou et al. 2016), a GRU with one gate::

    f  = sigmoid(W_if x + b_if + W_hf h + b_hf)          forget gate
    n  = tanh(W_in x + b_in + W_hn (f * h) + b_hn)       candidate
    h' = (1 - f) * h + f * n

Steps: (1) write the step as a stateless function of tensors (``mgu_step``, as ``rnn.steps``
does for the built-in cells) with primitive ops, naming the intermediates; (2) subclass
``rnn.RecurrentCell`` and set ``num_gates`` (the base creates PyTorch-style ``weight_ih`` (2H, I),
``weight_hh`` (2H, H), ``bias_ih``, ``bias_hh``) and let ``forward(x, hx)`` call the step with
them; (3) check the step's gradients with ``mt.gradcheck``;
(4) stack it with ``rnn.Recurrent(MGUCell, ...)``: layers, bidirectional, lengths, dropout, the
per-step scopes and PyTorch-style parameter names come for free. The script then trains a small
bidirectional MGU on a toy task (is the running sum of a noisy sequence positive at the end?)
and prints the loss and the nodes of one unrolled step.

Usage:
    python examples/custom_cell.py --out out/custom_cell             # 300 training steps
    python examples/custom_cell.py --quick --out /tmp/custom_cell    # 20 steps, for CI
"""
import argparse
import json
import os
import pathlib
import tempfile

import numpy as np

import microtensor as mt
import rnn


def mgu_step(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One MGU step, stateless: ``x`` (B, I), ``h`` (B, H) -> ``h'`` (B, H).

    weight_ih (2H, I), weight_hh (2H, H), biases (2H,) or None; row blocks f then n.

    Example:
        >>> import microtensor as mt
        >>> mgu_step(mt.ones(2, 3), mt.zeros(2, 4), mt.zeros(8, 3), mt.zeros(8, 4)).shape
        (2, 4)
    """
    H = h.shape[1]
    w_ih_f, w_ih_n = weight_ih[:H], weight_ih[H:]
    w_hh_f, w_hh_n = weight_hh[:H], weight_hh[H:]
    f_pre = x @ w_ih_f.T + h @ w_hh_f.T                        # (B, H)
    n_in = x @ w_ih_n.T                                        # (B, H)
    if bias_ih is not None:
        f_pre = f_pre + bias_ih[:H] + bias_hh[:H]
        n_in = n_in + bias_ih[H:]
    f = f_pre.sigmoid()
    f.name = "f"                                               # names show in the drawn graph
    n_rec = (f * h) @ w_hh_n.T                                 # (B, H)
    if bias_hh is not None:
        n_rec = n_rec + bias_hh[H:]
    n = (n_in + n_rec).tanh()
    n.name = "n"
    h_new = (1 - f) * h + f * n                                # (B, H)
    h_new.name = "h"                                           # the hidden state's role name
    return h_new


class MGUCell(rnn.RecurrentCell):
    """Minimal Gated Unit cell: one forget gate ``f`` and a candidate ``n`` (Zhou et al. 2016).

    Args: input_size, hidden_size, bias (as rnn.GRUCell).
    Inputs: ``x`` (B, input_size), ``hx`` (B, hidden_size) or None. Outputs: ``h'`` (B, hidden_size).
    Shape: weight_ih (2H, I), weight_hh (2H, H), bias_ih (2H,), bias_hh (2H,), rows f then n.

    Example:
        >>> import microtensor as mt
        >>> MGUCell(3, 4)(mt.ones(2, 3)).shape
        (2, 4)
    """

    num_gates = 2          # weight_ih has 2 blocks of H rows: f, n
    num_states = 1         # the state is h alone (2 would mean (h, c), as in LSTM)

    def forward(self, x, hx=None):
        x, (h,) = self.check_input(x, hx)          # shapes and dtype checked, zeros if hx is None
        return mgu_step(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class Classifier(mt.nn.Module):
    """A bidirectional MGU over the sequence and a linear read-out of both final states."""

    def __init__(self, hidden_size):
        super().__init__()
        self.encoder = rnn.Recurrent(MGUCell, 1, hidden_size, bidirectional=True, name="mgu")
        self.head = mt.nn.Linear(2 * hidden_size, 1)

    def forward(self, x, lengths):
        _, h_n = self.encoder(x, lengths=lengths)              # (2, B, H)
        both = mt.cat([h_n[0], h_n[1]], axis=1)                # (B, 2H)
        return self.head(both).reshape(-1)                     # (B,) logits


def make_batch(rng, batch, max_len):
    """Noisy sequences of varying length; label 1 if their sum is positive."""
    lengths = rng.integers(2, max_len + 1, size=batch)
    x = rng.normal(0.0, 1.0, size=(max_len, batch, 1)).astype(np.float32)
    x[np.arange(max_len)[:, None] >= lengths[None, :]] = 0.0  # padding
    labels = (x.sum(axis=(0, 2)) > 0).astype(np.float32)
    return x, lengths, labels


def bce_with_logits(logits, labels):
    """Mean binary cross-entropy from logits, from primitives: softplus(z) - y z."""
    return (logits.softplus() - logits * mt.tensor(labels)).mean()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 steps, for CI")
    parser.add_argument("--out", default="out/custom_cell", help="directory for results")
    args = parser.parse_args(argv)
    steps = 20 if args.quick else 300

    # (3) gradcheck the step in float64, parameters included: they are plain inputs of the
    # stateless step, so gradcheck perturbs them like x and h.
    mt.manual_seed(0)
    cell = MGUCell(3, 2).double()
    x = mt.tensor(np.random.default_rng(1).standard_normal((2, 3)), requires_grad=True)
    h = mt.tensor(np.random.default_rng(2).standard_normal((2, 2)), requires_grad=True)
    mt.gradcheck(mgu_step, [x, h] + list(cell.parameters()))
    print("gradcheck of MGUCell: passed")

    # (4) plug it into the generic layer and train.
    model = Classifier(hidden_size=8)
    print("parameters:", ", ".join(n for n, _ in model.named_parameters()))
    optimizer = mt.optim.Adam(model.parameters(), lr=0.02)
    rng = np.random.default_rng(0)
    losses = []
    for i in range(steps):
        x, lengths, labels = make_batch(rng, batch=16, max_len=12)
        loss = bce_with_logits(model(mt.tensor(x), lengths), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if i % max(steps // 10, 1) == 0 or i == steps - 1:
            print(f"step {i:4d}  loss {loss.item():.4f}")
    x, lengths, labels = make_batch(rng, batch=256, max_len=12)
    with mt.no_grad():
        accuracy = float(((model(mt.tensor(x), lengths).data > 0) == (labels > 0)).mean())
    print(f"accuracy on 256 new sequences: {accuracy:.3f}")

    # The unrolled graph: one scope per layer, direction and step, the gates as named nodes.
    out, _ = model.encoder(mt.tensor(x[:3, :1]))
    records = mt.graph.walk(out)
    step_nodes = [r.name or r.op or "const" for r in records if r.scope == "mgu/l0/reverse/t1"]
    print("nodes of step mgu/l0/reverse/t1:", " ".join(step_nodes))

    out_dir = pathlib.Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {"steps": steps, "first_loss": losses[0], "last_loss": losses[-1],
              "accuracy": accuracy}
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".tmp")    # atomic write
    with os.fdopen(fd, "w") as f:
        json.dump(result, f, indent=2)
    os.replace(tmp, out_dir / "custom_cell.json")


if __name__ == "__main__":
    main()
