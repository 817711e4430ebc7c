"""Optimizers and learning-rate schedules with PyTorch's update rules, defaults and state layout.

Every optimizer updates ``param.data`` in place (keeping its dtype) from ``param.grad`` and skips
parameters whose ``.grad`` is None. ``state_dict()`` follows PyTorch's layout,
``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``, and round-trips
through :func:`microtensor.save` / :func:`microtensor.load`.

Example:
    >>> import numpy as np, microtensor as mt
    >>> w = mt.nn.Parameter(np.array([1.0, -2.0]))
    >>> opt = mt.optim.SGD([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step(); opt.zero_grad()
    >>> w.data, w.grad
    (array([ 0.8, -1.6]), None)
"""
import copy
import math

import numpy as np

from .autograd import enable_grad
from .tensor import Tensor

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "LRScheduler", "StepLR",
           "CosineAnnealingLR", "LambdaLR"]


def _check(condition, message):
    if not condition:
        raise ValueError(message)


class Optimizer:
    """Base class: holds ``param_groups`` (dicts of ``params`` + hyper-parameters) and per-parameter
    ``state``. Subclasses implement ``_update(param, grad, state, group)``.

    Args:
        params: an iterable of tensors, or of dicts ``{"params": [...], "lr": ...}`` (param groups
            with their own hyper-parameters; missing ones take the defaults).
        defaults: the hyper-parameters of this optimizer.

    Example:
        >>> import microtensor as mt
        >>> a, b = mt.nn.Parameter(mt.zeros(2)), mt.nn.Parameter(mt.zeros(3))
        >>> opt = mt.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
        >>> [g["lr"] for g in opt.param_groups]
        [0.1, 0.5]
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of tensors (e.g. "
                            f"model.parameters() or [w]), not a single Tensor")
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups = []
        self.state = {}
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a dict ``{"params": [...], <hyper-parameter>: value}``; defaults fill the rest.

        Example:
            >>> import microtensor as mt
            >>> opt = mt.optim.SGD([mt.nn.Parameter(mt.zeros(1))], lr=0.1)
            >>> opt.add_param_group({"params": [mt.nn.Parameter(mt.zeros(2))], "lr": 0.01})
            >>> [g["lr"] for g in opt.param_groups]
            [0.1, 0.01]
        """
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError("a param group must be a dict with a 'params' entry")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: can only optimize Tensors, got "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__}: can't optimize a non-leaf Tensor")
            if not p.requires_grad:
                raise ValueError(f"{type(self).__name__}: a parameter does not require grad")
            if id(p) in seen:
                raise ValueError(f"{type(self).__name__}: a parameter appears in more than one "
                                 f"param group (or twice)")
            seen.add(id(p))
        unknown = set(group) - set(self.defaults) - {"params", "initial_lr"}
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown hyper-parameters {sorted(unknown)}; "
                            f"valid: {sorted(self.defaults)}")
        full = dict(self.defaults)
        full.update(group)
        full["params"] = params
        self.param_groups.append(full)

    def zero_grad(self, set_to_none=True):
        """Clear the gradients of every parameter (to None by default, as PyTorch 2).

        Example:
            >>> import numpy as np, microtensor as mt
            >>> w = mt.nn.Parameter(np.ones(2)); w.grad = np.ones(2)
            >>> opt = mt.optim.SGD([w], lr=0.1)
            >>> opt.zero_grad(set_to_none=False); w.grad
            array([0., 0.])
        """
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad[...] = 0

    def step(self, closure=None):
        """Update every parameter that has a gradient. ``closure`` (optional) re-evaluates the
        loss (zero_grad, forward, backward) and returns it; its result is returned.

        Example:
            >>> import numpy as np, microtensor as mt
            >>> w = mt.nn.Parameter(np.array([2.0]))
            >>> opt = mt.optim.SGD([w], lr=0.25)
            >>> def closure():
            ...     opt.zero_grad()
            ...     loss = (w * w).sum()
            ...     loss.backward()
            ...     return loss
            >>> opt.step(closure).item(), w.data
            (4.0, array([1.]))
        """
        loss = None
        if closure is not None:
            with enable_grad():        # the closure runs forward + backward, even under no_grad
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = np.asarray(p.grad)
                if grad.shape != p.data.shape:
                    raise ValueError(f"{type(self).__name__}: a gradient of shape {grad.shape} for a "
                                     f"parameter of shape {p.data.shape}")
                state = self.state.setdefault(id(p), {})
                self._update(p, grad.astype(p.data.dtype, copy=False), state, group)
                p.bump_version()    # a backward that saved the old value must now refuse
        return loss

    def _update(self, param, grad, state, group):
        raise NotImplementedError

    # ----- state --------------------------------------------------------------------------------
    def _ordered_params(self):
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self):
        """``{"state": {index: {name: array or number}}, "param_groups": [...]}`` (copies).

        Parameters are numbered in the order of the param groups, as in PyTorch.

        Example:
            >>> import numpy as np, microtensor as mt
            >>> w = mt.nn.Parameter(np.ones(2)); w.grad = np.ones(2)
            >>> opt = mt.optim.SGD([w], lr=0.1, momentum=0.9); opt.step()
            >>> sd = opt.state_dict()
            >>> sd["state"], sd["param_groups"][0]["params"]
            ({0: {'momentum_buffer': array([1., 1.])}}, [0])
        """
        index = {id(p): i for i, p in enumerate(self._ordered_params())}
        groups = []
        for group in self.param_groups:
            g = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            g["params"] = [index[id(p)] for p in group["params"]]
            groups.append(g)
        state = {}
        for p in self._ordered_params():
            if id(p) in self.state:
                state[index[id(p)]] = {k: (v.copy() if isinstance(v, np.ndarray) else v)
                                       for k, v in self.state[id(p)].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and per-parameter state saved by :meth:`state_dict`.

        Arrays are copied and cast to each parameter's dtype; keys may be ints or their strings
        (as after a JSON round trip). Raises ValueError if the group layout does not match.

        Example:
            >>> import numpy as np, microtensor as mt
            >>> w = mt.nn.Parameter(np.ones(2)); w.grad = np.ones(2)
            >>> opt = mt.optim.Adam([w], lr=0.1); opt.step()
            >>> fresh = mt.optim.Adam([w], lr=0.5)
            >>> fresh.load_state_dict(opt.state_dict())
            >>> fresh.param_groups[0]["lr"], fresh.state[id(w)]["step"]
            (0.1, 1)
        """
        if not isinstance(state_dict, dict) or "param_groups" not in state_dict:
            raise ValueError("optimizer load_state_dict: expected a dict with 'state' and "
                             "'param_groups' (from Optimizer.state_dict())")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"optimizer load_state_dict: the checkpoint has {len(saved_groups)} "
                             f"param groups, this optimizer {len(self.param_groups)}")
        for i, (mine, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(mine["params"]) != len(saved["params"]):
                raise ValueError(f"optimizer load_state_dict: param group {i} has "
                                 f"{len(saved['params'])} parameters in the checkpoint and "
                                 f"{len(mine['params'])} here")
        params = self._ordered_params()
        saved_index = [int(i) for g in saved_groups for i in g["params"]]
        by_saved_index = dict(zip(saved_index, params))
        new_state = {}
        for key, values in state_dict.get("state", {}).items():
            p = by_saved_index.get(int(key))
            if p is None:
                raise ValueError(f"optimizer load_state_dict: state for unknown parameter {key}")
            restored = {}
            for name, v in values.items():
                if isinstance(v, np.ndarray) and v.ndim > 0:
                    if v.shape != p.data.shape:
                        raise ValueError(f"optimizer load_state_dict: state {name!r} of parameter "
                                         f"{key} has shape {v.shape}, the parameter {p.data.shape}")
                    restored[name] = v.astype(p.data.dtype, copy=True)
                elif isinstance(v, (np.ndarray, np.generic)):
                    restored[name] = v.item()
                else:
                    restored[name] = v
            new_state[id(p)] = restored
        for mine, saved in zip(self.param_groups, saved_groups):
            for k, v in saved.items():
                if k == "params":
                    continue
                if k == "betas" and isinstance(v, list):
                    v = tuple(v)
                mine[k] = copy.deepcopy(v)
        self.state = new_state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        return "\n".join(lines) + "\n)"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, dampening, Nesterov and L2 weight decay.

    PyTorch's rule: g = grad + weight_decay * p; with momentum, buf = g on the first step and
    buf = momentum * buf + (1 - dampening) * g after; g = g + momentum * buf (nesterov) or buf;
    p -= lr * g.

    Example:
        >>> import numpy as np, microtensor as mt
        >>> w = mt.nn.Parameter(np.array([1.0]))
        >>> opt = mt.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> for _ in range(2):
        ...     w.grad = np.array([1.0]); opt.step()
        >>> w.data.round(4)
        array([0.71])
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, maximize=False):
        _check(lr >= 0, f"SGD: invalid learning rate {lr}")
        _check(momentum >= 0, f"SGD: invalid momentum {momentum}")
        _check(weight_decay >= 0, f"SGD: invalid weight_decay {weight_decay}")
        _check(not nesterov or (momentum > 0 and dampening == 0),
               "SGD: Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _update(self, p, grad, state, group):
        g = -grad if group["maximize"] else grad
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.data
        momentum = group["momentum"]
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * g
            g = g + momentum * buf if group["nesterov"] else buf
        p.data -= group["lr"] * g


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; ``weight_decay`` is L2 added to the gradient
    (use :class:`AdamW` for decoupled decay); ``amsgrad`` keeps the max second moment.

    Example:
        >>> import numpy as np, microtensor as mt
        >>> w = mt.nn.Parameter(np.array([1.0, 1.0]))
        >>> opt = mt.optim.Adam([w], lr=0.1)
        >>> w.grad = np.array([0.5, -2.0]); opt.step()
        >>> w.data.round(4)            # the first step moves every weight by about lr
        array([0.9, 1.1])
    """

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, maximize=False):
        name = type(self).__name__
        _check(lr >= 0, f"{name}: invalid learning rate {lr}")
        _check(eps >= 0, f"{name}: invalid eps {eps}")
        _check(0 <= betas[0] < 1 and 0 <= betas[1] < 1, f"{name}: invalid betas {betas}")
        _check(weight_decay >= 0, f"{name}: invalid weight_decay {weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize))

    def _update(self, p, grad, state, group):
        beta1, beta2 = group["betas"]
        lr, wd = group["lr"], group["weight_decay"]
        g = -grad if group["maximize"] else grad
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p.data)
            state["exp_avg_sq"] = np.zeros_like(p.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(p.data)
        if wd:
            if self.decoupled:
                p.data *= 1 - lr * wd
            else:
                g = g + wd * p.data
        state["step"] += 1
        step = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (1 - beta1) * (g - m)                       # torch: exp_avg.lerp_(grad, 1 - beta1)
        v *= beta2
        v += (1 - beta2) * g * g
        bias_correction1 = 1 - beta1 ** step
        bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
        if group["amsgrad"]:
            np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            second = state["max_exp_avg_sq"]
        else:
            second = v
        denom = np.sqrt(second) / bias_correction2_sqrt + group["eps"]
        p.data -= (lr / bias_correction1) * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p *= 1 - lr * weight_decay before
    the Adam step. Default ``weight_decay=0.01`` as in PyTorch.

    Example:
        >>> import numpy as np, microtensor as mt
        >>> w = mt.nn.Parameter(np.array([1.0]))
        >>> opt = mt.optim.AdamW([w], lr=0.1, weight_decay=0.5)
        >>> w.grad = np.array([0.0]); opt.step()     # no gradient: only the decay acts
        >>> w.data
        array([0.95])
    """

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)


class Adagrad(Optimizer):
    """Adagrad (the optimizer of Karpathy's min-char-rnn): per-element steps lr / (sqrt(sum g^2) + eps).

    PyTorch's rule: clr = lr / (1 + (step - 1) * lr_decay); sum += g^2 (starting from
    ``initial_accumulator_value``); p -= clr * g / (sqrt(sum) + eps), with eps OUTSIDE the root.

    Example:
        >>> import numpy as np, microtensor as mt
        >>> w = mt.nn.Parameter(np.array([1.0]))
        >>> opt = mt.optim.Adagrad([w], lr=0.1)
        >>> w.grad = np.array([4.0]); opt.step()
        >>> w.data.round(6)
        array([0.9])
    """

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, maximize=False):
        _check(lr >= 0, f"Adagrad: invalid learning rate {lr}")
        _check(lr_decay >= 0, f"Adagrad: invalid lr_decay {lr_decay}")
        _check(weight_decay >= 0, f"Adagrad: invalid weight_decay {weight_decay}")
        _check(initial_accumulator_value >= 0,
               f"Adagrad: invalid initial_accumulator_value {initial_accumulator_value}")
        _check(eps >= 0, f"Adagrad: invalid eps {eps}")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))
        # PyTorch creates Adagrad's state eagerly, so a fresh optimizer's state_dict has it.
        for group in self.param_groups:
            for p in group["params"]:
                self.state[id(p)] = {"step": 0, "sum": np.full_like(
                    p.data, group["initial_accumulator_value"])}

    def _update(self, p, grad, state, group):
        if not state:
            state["step"] = 0
            state["sum"] = np.full_like(p.data, group["initial_accumulator_value"])
        g = -grad if group["maximize"] else grad
        state["step"] += 1
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.data
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] += g * g
        p.data -= clr * (g / (np.sqrt(state["sum"]) + group["eps"]))


class RMSprop(Optimizer):
    """RMSprop (Hinton), PyTorch's variant: v = alpha v + (1 - alpha) g^2; with ``centered``, the
    running mean of g is subtracted (denominator sqrt(v - mean^2) + eps); with ``momentum``,
    buf = momentum * buf + g / denom and p -= lr * buf, else p -= lr * g / denom.

    Example:
        >>> import numpy as np, microtensor as mt
        >>> w = mt.nn.Parameter(np.array([1.0]))
        >>> opt = mt.optim.RMSprop([w], lr=0.01, alpha=0.99)
        >>> w.grad = np.array([2.0]); opt.step()
        >>> w.data.round(4)               # 1 - 0.01 * 2 / sqrt(0.01 * 4)
        array([0.9])
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, maximize=False):
        _check(lr >= 0, f"RMSprop: invalid learning rate {lr}")
        _check(eps >= 0, f"RMSprop: invalid eps {eps}")
        _check(momentum >= 0, f"RMSprop: invalid momentum {momentum}")
        _check(weight_decay >= 0, f"RMSprop: invalid weight_decay {weight_decay}")
        _check(alpha >= 0, f"RMSprop: invalid alpha {alpha}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _update(self, p, grad, state, group):
        alpha = group["alpha"]
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(p.data)
            if group["momentum"] > 0:
                state["momentum_buffer"] = np.zeros_like(p.data)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(p.data)
        g = -grad if group["maximize"] else grad
        state["step"] += 1
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.data
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * g * g
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg += (1 - alpha) * (g - grad_avg)     # torch: grad_avg.lerp_(grad, 1 - alpha)
            avg = np.sqrt(square_avg - grad_avg * grad_avg) + group["eps"]
        else:
            avg = np.sqrt(square_avg) + group["eps"]
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf *= group["momentum"]
            buf += g / avg
            p.data -= group["lr"] * buf
        else:
            p.data -= group["lr"] * (g / avg)


# ----- learning-rate schedules ------------------------------------------------------------------
class LRScheduler:
    """Base class: sets every group's ``lr`` from ``initial_lr`` and the epoch counter.

    Call ``scheduler.step()`` once per epoch AFTER ``optimizer.step()``, as in PyTorch.
    Subclasses define ``_lr_at(base_lr, epoch)``.

    Example:
        >>> import microtensor as mt
        >>> opt = mt.optim.SGD([mt.nn.Parameter(mt.zeros(1))], lr=1.0)
        >>> sched = mt.optim.StepLR(opt, step_size=1, gamma=0.5)
        >>> opt.step(); sched.step(); sched.get_last_lr()
        [0.5]
    """

    def __init__(self, optimizer, last_epoch=-1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__} needs an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"{type(self).__name__}: resuming (last_epoch={last_epoch}) needs "
                               f"'initial_lr' in every param group")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def _lr_at(self, base_lr, epoch):
        raise NotImplementedError

    def step(self):
        """Advance one epoch and set the new learning rates (see the class example)."""
        self.last_epoch += 1
        self._last_lr = []
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self._lr_at(base, self.last_epoch)
            self._last_lr.append(group["lr"])

    def get_last_lr(self):
        """The learning rates set by the last ``step()``, one per param group.

        Example:
            >>> import microtensor as mt
            >>> opt = mt.optim.SGD([mt.nn.Parameter(mt.zeros(1))], lr=0.3)
            >>> mt.optim.StepLR(opt, step_size=5).get_last_lr()
            [0.3]
        """
        return list(self._last_lr)

    _not_saved = ("optimizer",)

    def state_dict(self):
        """Everything but the optimizer (numbers and lists), for :func:`microtensor.save`.

        Example:
            >>> import microtensor as mt
            >>> opt = mt.optim.SGD([mt.nn.Parameter(mt.zeros(1))], lr=1.0)
            >>> mt.optim.StepLR(opt, step_size=3).state_dict()["last_epoch"]
            0
        """
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k not in self._not_saved}

    def load_state_dict(self, state_dict):
        """Restore what :meth:`state_dict` returned."""
        self.__dict__.update(copy.deepcopy(state_dict))


class StepLR(LRScheduler):
    """lr = initial_lr * gamma ** (epoch // step_size).

    Example:
        >>> import microtensor as mt
        >>> opt = mt.optim.SGD([mt.nn.Parameter(mt.zeros(1))], lr=1.0)
        >>> sched = mt.optim.StepLR(opt, step_size=2, gamma=0.1)
        >>> lrs = []
        >>> for _ in range(4):
        ...     opt.step(); sched.step(); lrs.append(round(sched.get_last_lr()[0], 6))
        >>> lrs
        [1.0, 0.1, 0.1, 0.01]
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size <= 0:
            raise ValueError(f"StepLR: step_size must be a positive int, got {step_size!r}")
        self.step_size, self.gamma = step_size, float(gamma)
        super().__init__(optimizer, last_epoch)

    def _lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """Cosine schedule from initial_lr down to ``eta_min`` over ``T_max`` epochs:
    lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2.

    Example:
        >>> import microtensor as mt
        >>> opt = mt.optim.SGD([mt.nn.Parameter(mt.zeros(1))], lr=1.0)
        >>> sched = mt.optim.CosineAnnealingLR(opt, T_max=2)
        >>> opt.step(); sched.step(); round(sched.get_last_lr()[0], 6)
        0.5
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        if T_max <= 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be positive, got {T_max}")
        self.T_max, self.eta_min = T_max, float(eta_min)
        super().__init__(optimizer, last_epoch)

    def _lr_at(self, base_lr, epoch):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class LambdaLR(LRScheduler):
    """lr = initial_lr * lr_lambda(epoch), with one function, or one per param group (e.g. warm-up).

    The functions are code, so ``state_dict`` leaves them out (rebuild the scheduler with them,
    then load the state).

    Example:
        >>> import microtensor as mt
        >>> opt = mt.optim.SGD([mt.nn.Parameter(mt.zeros(1))], lr=1.0)
        >>> warmup = mt.optim.LambdaLR(opt, lambda epoch: min(1.0, (epoch + 1) / 4))
        >>> lrs = [warmup.get_last_lr()[0]]
        >>> for _ in range(4):
        ...     opt.step(); warmup.step(); lrs.append(warmup.get_last_lr()[0])
        >>> lrs
        [0.25, 0.5, 0.75, 1.0, 1.0]
    """

    _not_saved = ("optimizer", "lr_lambdas")

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        groups = len(optimizer.param_groups) if isinstance(optimizer, Optimizer) else 0
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != groups:
                raise ValueError(f"LambdaLR: {len(lr_lambda)} functions for {groups} param groups")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * groups
        if not all(callable(f) for f in self.lr_lambdas):
            raise TypeError("LambdaLR: lr_lambda must be a function of the epoch (or a list of them)")
        super().__init__(optimizer, last_epoch)

    def step(self):
        """Advance one epoch and set each group's lr from its own function."""
        self.last_epoch += 1
        self._last_lr = []
        for group, base, fn in zip(self.optimizer.param_groups, self.base_lrs, self.lr_lambdas):
            group["lr"] = base * fn(self.last_epoch)
            self._last_lr.append(group["lr"])
