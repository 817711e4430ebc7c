"""Train a small MLP on noisy XOR with the whole toolbox, stopping half-way to checkpoint and resume.

Uses ``mt.nn`` (Sequential, Linear, Tanh, Dropout, cross_entropy), ``mt.optim`` (AdamW with a
cosine schedule), ``mt.nn.utils.clip_grad_norm_`` and ``mt.save`` / ``mt.load``. Half-way through,
everything needed to continue (model, optimizer, schedule, step, RNG-independent data) is saved
atomically, all objects are thrown away, rebuilt from the checkpoint, and training goes on:
the run ends exactly where an uninterrupted one would.

Usage:
    python examples/train_xor.py --out out/xor             # full run
    python examples/train_xor.py --quick --out /tmp/xor    # a few seconds, for CI

Writes ``checkpoint.npz`` (the half-way checkpoint), ``final.npz`` (the trained model) and
``losses.csv`` (step, loss, learning rate, gradient norm) to ``--out``.
"""
import argparse
import csv
import pathlib

import numpy as np

import microtensor as mt
import microtensor.nn.functional as F
from microtensor import nn


def make_xor(n, seed):
    """``n`` points around the four corners of [-1, 1]^2; the class is XOR of the signs."""
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 2, size=(n, 2))
    points = (corners * 2 - 1) + rng.normal(0, 0.35, size=(n, 2))
    labels = corners[:, 0] ^ corners[:, 1]
    return points.astype(np.float32), labels


def build(args):
    """Model, optimizer and schedule, fresh (the same code runs before and after the restart)."""
    model = nn.Sequential(nn.Linear(2, args.hidden), nn.Tanh(), nn.Dropout(0.1),
                          nn.Linear(args.hidden, 2))
    optimizer = mt.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-3)
    schedule = mt.optim.CosineAnnealingLR(optimizer, T_max=args.steps, eta_min=args.lr * 0.05)
    return model, optimizer, schedule


def train(model, optimizer, schedule, data, start, stop, log):
    """Run steps [start, stop): forward, loss, backward, clip, step, schedule."""
    points, labels = data
    model.train()
    for step in range(start, stop):
        mt.manual_seed(step)                     # dropout masks depend only on the step number
        logits = model(mt.tensor(points))
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
        log.append((step, loss.item(), schedule.get_last_lr()[0], float(grad_norm)))
        schedule.step()


def accuracy(model, data):
    points, labels = data
    model.eval()
    with mt.no_grad():
        predicted = model(mt.tensor(points)).data.argmax(axis=1)
    return float((predicted == labels).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run for CI (seconds)")
    parser.add_argument("--out", default="out/xor", help="folder for checkpoints and the loss log")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.steps = 120
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    train_data, test_data = make_xor(256, args.seed), make_xor(256, args.seed + 1)
    mt.manual_seed(args.seed)
    model, optimizer, schedule = build(args)
    print(model)
    log = []
    half = args.steps // 2
    train(model, optimizer, schedule, train_data, 0, half, log)

    # ---- checkpoint, forget everything, restore ----
    checkpoint = out / "checkpoint.npz"
    mt.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "schedule": schedule.state_dict(), "step": half}, checkpoint)
    del model, optimizer, schedule
    state = mt.load(checkpoint)
    model, optimizer, schedule = build(args)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    print(f"resumed from {checkpoint} at step {state['step']} "
          f"(lr {schedule.get_last_lr()[0]:.4f})")

    train(model, optimizer, schedule, train_data, state["step"], args.steps, log)
    mt.save({"model": model.state_dict(), "steps": args.steps}, out / "final.npz")
    with open(out / "losses.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "loss", "lr", "grad_norm"])
        writer.writerows(log)

    # The same run without the interruption must end with bit-identical weights.
    mt.manual_seed(args.seed)
    straight, straight_opt, straight_schedule = build(args)
    train(straight, straight_opt, straight_schedule, train_data, 0, args.steps, [])
    identical = all(np.array_equal(a, b) for a, b in zip(model.state_dict().values(),
                                                         straight.state_dict().values()))
    print(f"resumed run identical to an uninterrupted one: {identical}")
    if not identical:
        raise SystemExit("checkpoint/resume changed the result")

    train_acc, test_acc = accuracy(model, train_data), accuracy(model, test_data)
    print(f"loss {log[0][1]:.3f} -> {log[-1][1]:.3f}; accuracy train {train_acc:.1%}, "
          f"test {test_acc:.1%}; files in {out}")
    if test_acc < 0.8:
        raise SystemExit(f"training failed: test accuracy {test_acc:.1%} < 80%")


if __name__ == "__main__":
    main()
