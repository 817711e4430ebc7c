"""``Module``: the base class of layers and models, as in PyTorch.

Assigning a :class:`Parameter` or a ``Module`` to an attribute registers it; ``named_parameters``
walks the tree and names parameters with dots (``encoder.weight_ih_l0``).

Example:
    >>> import numpy as np, microtensor as mt
    >>> class Affine(mt.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.weight = mt.nn.Parameter(np.ones((2, 3)))
    ...     def forward(self, x):
    ...         return x @ self.weight
    >>> m = Affine()
    >>> [name for name, _ in m.named_parameters()], m(mt.ones(1, 2)).shape
    (['weight'], (1, 3))
"""
from collections import OrderedDict

import numpy as np

from ..errors import MicrotensorError
from ..tensor import Tensor
from .parameter import Parameter


class StateDictError(MicrotensorError, KeyError, RuntimeError):
    """``load_state_dict`` found missing keys, unexpected keys or shape mismatches (all listed).

    A ``KeyError`` (what code catching bad keys expects) and a ``RuntimeError`` (what PyTorch
    raises), printed without KeyError's quotes.

    Example:
        >>> str(StateDictError("missing keys: bias"))
        'missing keys: bias'
    """

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class Module:
    """Base class: registers parameters, buffers and sub-modules by attribute assignment.

    Subclass it, call ``super().__init__()`` first, assign layers and Parameters as attributes,
    and define ``forward``; calling the module calls ``forward``.

    Example:
        >>> import microtensor as mt
        >>> class MLP(mt.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.hidden = mt.nn.Linear(2, 4)
        ...         self.out = mt.nn.Linear(4, 1)
        ...     def forward(self, x):
        ...         return self.out(self.hidden(x).tanh())
        >>> mlp = MLP()
        >>> mlp(mt.ones(3, 2)).shape, mlp.num_parameters()
        ((3, 1), 17)
        >>> mlp
        MLP(
          (hidden): Linear(in_features=2, out_features=4, bias=True)
          (out): Linear(in_features=4, out_features=1, bias=True)
        )
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ----- registration -------------------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"call super().__init__() in {type(self).__name__}.__init__ "
                                 f"before assigning {name!r}")
        if value is None:
            # As in PyTorch: `self.bias = None` keeps a registered slot registered (as absent).
            for table in (self._parameters, self._buffers, self._modules):
                if name in table:
                    table[name] = None
                    return
        # A name moves out of the other tables, but keeps its place in its own one (a dict
        # assignment to an existing key), so state_dict()'s order stays PyTorch's.
        if isinstance(value, Parameter):
            self._buffers.pop(name, None)
            self._modules.pop(name, None)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._parameters.pop(name, None)
            self._buffers.pop(name, None)
            self._modules[name] = value
        elif name in self._parameters:
            raise TypeError(f"cannot assign {type(value).__name__} as parameter {name!r} of "
                            f"{type(self).__name__} (mt.nn.Parameter or None expected; to change "
                            f"its values, assign to .data or use an in-place method)")
        elif name in self._modules:
            raise TypeError(f"cannot assign {type(value).__name__} as sub-module {name!r} of "
                            f"{type(self).__name__} (a Module or None expected)")
        elif name in self._buffers:          # a buffer takes the new array, in its place
            self.register_buffer(name, value.data if isinstance(value, Tensor) else value)
            return
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            if table in d and name in d[table]:
                return d[table][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter, or None for an absent optional one, e.g. no bias).

        Example:
            >>> import microtensor as mt
            >>> m = mt.nn.Module()
            >>> m.register_parameter("bias", None)
            >>> m.bias is None, list(m.state_dict())
            (True, [])
        """
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter({name!r}): expected a Parameter or None")
        self.__dict__.pop(name, None)
        self._parameters[name] = param

    def register_buffer(self, name, array):
        """Register a non-learnable array that is saved in ``state_dict`` (e.g. running stats).

        Example:
            >>> import numpy as np, microtensor as mt
            >>> m = mt.nn.Module()
            >>> m.register_buffer("steps", np.zeros(1))
            >>> list(m.state_dict()), list(m.parameters())
            (['steps'], [])
        """
        self.__dict__.pop(name, None)
        self._buffers[name] = None if array is None else np.asarray(array)

    def add_module(self, name, module):
        """Register a sub-module under ``name`` (for names that are not identifiers).

        Example:
            >>> import microtensor as mt
            >>> m = mt.nn.Module()
            >>> m.add_module("layer-1", mt.nn.Linear(1, 1))
            >>> [name for name, _ in m.named_parameters()]
            ['layer-1.weight', 'layer-1.bias']
        """
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}): expected a Module")
        self._modules[name] = module

    # ----- traversal ----------------------------------------------------------------------------
    def named_modules(self, prefix=""):
        """Yield ``(dotted name, module)`` for this module and every descendant (iteratively).

        Example:
            >>> import microtensor as mt
            >>> net = mt.nn.Sequential(mt.nn.Linear(1, 1), mt.nn.Tanh())
            >>> [(name, type(m).__name__) for name, m in net.named_modules()]
            [('', 'Sequential'), ('0', 'Linear'), ('1', 'Tanh')]
        """
        stack = [(prefix, self)]
        seen = set()
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{k}" if name else k, m) for k, m in module._modules.items()
                        if m is not None]
            stack.extend(reversed(children))

    def modules(self):
        """Every module in the tree, this one first."""
        return (m for _, m in self.named_modules())

    def named_children(self):
        """Direct sub-modules with their names."""
        return ((k, m) for k, m in self._modules.items() if m is not None)

    def children(self):
        """Direct sub-modules."""
        return (m for _, m in self.named_children())

    def named_parameters(self, prefix=""):
        """Yield ``(dotted name, Parameter)``, each parameter once, in registration order.

        Example:
            >>> import microtensor as mt
            >>> net = mt.nn.Sequential(mt.nn.Linear(3, 2), mt.nn.LayerNorm(2))
            >>> [(name, p.shape) for name, p in net.named_parameters()]
            [('0.weight', (2, 3)), ('0.bias', (2,)), ('1.weight', (2,)), ('1.bias', (2,))]
        """
        seen = set()
        for module_name, module in self.named_modules(prefix):
            for name, p in module._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{module_name}.{name}" if module_name else name), p

    def parameters(self):
        """Every learnable parameter (for an optimizer)."""
        return (p for _, p in self.named_parameters())

    def named_buffers(self):
        """Yield ``(dotted name, ndarray)`` for registered buffers."""
        for module_name, module in self.named_modules():
            for name, b in module._buffers.items():
                if b is not None:
                    yield (f"{module_name}.{name}" if module_name else name), b

    def apply(self, fn):
        """Call ``fn(module)`` on every sub-module (children first) and on this one; returns self.

        The usual way to run a custom initialisation over a whole model.

        Example:
            >>> import microtensor as mt
            >>> def init_weights(m):
            ...     if isinstance(m, mt.nn.Linear):
            ...         mt.nn.init.zeros_(m.bias)
            >>> net = mt.nn.Sequential(mt.nn.Linear(2, 3), mt.nn.Tanh()).apply(init_weights)
            >>> net[0].bias.data.tolist()
            [0.0, 0.0, 0.0]
        """
        # Iterative post-order (each child's subtree, in order, before its parent), as PyTorch.
        stack, seen = [(self, False)], set()
        while stack:
            module, children_done = stack.pop()
            if children_done:
                fn(module)
                continue
            if id(module) in seen:
                continue
            seen.add(id(module))
            stack.append((module, True))
            stack.extend((child, False) for child in reversed(list(module.children())))
        return self

    def requires_grad_(self, requires_grad=True):
        """Freeze (False) or unfreeze every parameter; returns self.

        Example:
            >>> import microtensor as mt
            >>> layer = mt.nn.Linear(2, 2).requires_grad_(False)
            >>> layer.weight.requires_grad
            False
        """
        for p in self.parameters():
            p.requires_grad = bool(requires_grad)
        return self

    def num_parameters(self):
        """Total number of learnable scalars.

        Example:
            >>> import microtensor as mt
            >>> mt.nn.Linear(3, 2).num_parameters()
            8
        """
        return int(sum(p.size for p in self.parameters()))

    # ----- modes and gradients ------------------------------------------------------------------
    def train(self, mode=True):
        """Set training mode (dropout active) on every module; returns self.

        Example:
            >>> import microtensor as mt
            >>> net = mt.nn.Sequential(mt.nn.Dropout(0.5))
            >>> net.eval()[0].training, net.train()[0].training
            (False, True)
        """
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        """Set evaluation mode; returns self."""
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        """Clear every parameter's gradient (to None by default, as PyTorch 2; else fill with 0).

        Example:
            >>> import microtensor as mt
            >>> layer = mt.nn.Linear(2, 1)
            >>> layer(mt.ones(1, 2)).sum().backward()
            >>> layer.zero_grad(); layer.weight.grad is None
            True
        """
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad[...] = 0

    def to(self, dtype):
        """Convert every parameter and floating buffer to ``dtype`` in place; returns self.

        Example:
            >>> import microtensor as mt
            >>> mt.nn.Linear(2, 2).to("float64").weight.dtype
            dtype('float64')
        """
        dtype = np.dtype(dtype)
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None:
                    p.data = p.data.astype(dtype)
                    p.bump_version()
                    p.grad = None if p.grad is None else p.grad.astype(dtype)
            for k, b in list(m._buffers.items()):
                if b is not None and b.dtype.kind == "f":
                    m._buffers[k] = b.astype(dtype)
        return self

    def double(self):
        """``to(float64)``."""
        return self.to(np.float64)

    def float(self):
        """``to(float32)``."""
        return self.to(np.float32)

    # ----- state --------------------------------------------------------------------------------
    def state_dict(self):
        """An ordered dict of dotted names -> copies of parameter and buffer arrays.

        Example:
            >>> import microtensor as mt
            >>> {k: v.shape for k, v in mt.nn.Linear(3, 2).state_dict().items()}
            {'weight': (2, 3), 'bias': (2,)}
        """
        state = OrderedDict()
        for name, p in self.named_parameters():
            state[name] = p.data.copy()
        for name, b in self.named_buffers():
            state[name] = b.copy()
        return state

    def load_state_dict(self, state, strict=True):
        """Copy arrays from ``state`` into the parameters, keeping their dtype (PyTorch semantics).

        Every missing key, unexpected key and shape mismatch is reported at once. With
        ``strict=False`` missing and unexpected keys are allowed (shape mismatches never are).
        Returns ``(missing_keys, unexpected_keys)``.

        Example:
            >>> import numpy as np, microtensor as mt
            >>> layer = mt.nn.Linear(2, 1)
            >>> layer.load_state_dict({"weight": np.ones((1, 2)), "bias": np.zeros(1)})
            ([], [])
            >>> try:
            ...     layer.load_state_dict({"weight": np.ones((2, 2)), "scale": np.ones(1)})
            ... except mt.nn.StateDictError as e:
            ...     print(str(e).replace(" | ", "\\n"))
            load_state_dict for Linear: missing keys: bias
            unexpected keys: scale
            shape mismatches: weight: checkpoint (2, 2) vs model (1, 2)
        """
        own = dict(self.named_parameters())
        own_buffers = dict(self.named_buffers())
        missing = [k for k in list(own) + list(own_buffers) if k not in state]
        unexpected = [k for k in state if k not in own and k not in own_buffers]
        mismatched = []
        for k, v in state.items():
            target = own[k].data if k in own else own_buffers.get(k)
            if target is not None and tuple(np.shape(v)) != target.shape:
                mismatched.append(f"{k}: checkpoint {tuple(np.shape(v))} vs model {target.shape}")
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {', '.join(missing)}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {', '.join(unexpected)}")
        if mismatched:
            problems.append(f"shape mismatches: {'; '.join(mismatched)}")
        if problems:
            raise StateDictError(f"load_state_dict for {type(self).__name__}: " + " | ".join(problems))
        for k, v in state.items():
            value = v.data if isinstance(v, Tensor) else np.asarray(v)
            if k in own:
                own[k].data[...] = value.astype(own[k].dtype, copy=False)
                own[k].bump_version()
            elif k in own_buffers:
                own_buffers[k][...] = value
        return missing, unexpected

    # ----- calling and printing -----------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def extra_repr(self):
        """One line of settings shown in ``repr`` (override in subclasses)."""
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        children = list(self.named_children())
        if not children:
            return lines[0] + ")"
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"
