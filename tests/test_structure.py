"""The engine's modules import each other in one order, and the built-in ops stand on the public
extension surface only (microtensor.extend), as a user's op does.

The checks read the source (``ast``), so they see every import, also one hidden in a function body
or at the bottom of a file.
"""
import ast
import pathlib

import pytest

import microtensor as mt

PACKAGE = pathlib.Path(mt.__file__).parent

# Bottom to top: a module may import only modules listed before it (or itself's package siblings
# in the same layer, listed together). docs/architecture.md draws this.
LAYERS = [
    ["errors", "atomic"],
    ["core"],
    ["gradients"],
    ["function"],
    ["extend"],
    ["graph"],
    ["autograd"],
    ["ops.elementwise", "ops.reduce", "ops.linalg", "ops.nn", "ops.shape"],
    ["tensor"],
    ["creation"],
    ["gradcheck", "checkpoint_schema", "checkpoint_archive"],
    ["serialize"],
    ["testing"],
    ["nn.parameter"], ["nn.module"], ["nn.init"], ["nn.functional"], ["nn.utils"], ["nn.layers"],
    ["optim"],
]


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        yield ".".join(parts), path


def _imports(path, name):
    """(imported module relative to the package or None if outside it, names, the ast node)."""
    tree = ast.parse(path.read_text())
    package = name.split(".")[:-1] if not path.name == "__init__.py" else name.split(".")
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1] if node.level > 1 else package
                target = ".".join([p for p in base if p] + ([node.module] if node.module else []))
                yield target, [a.name for a in node.names], node, tree
            elif node.module and node.module.split(".")[0] == "microtensor":
                yield node.module.partition(".")[2], [a.name for a in node.names], node, tree
            else:
                yield None, [a.name for a in node.names], node, tree
        elif isinstance(node, ast.Import):
            for alias in node.names:
                inside = alias.name.split(".")[0] == "microtensor"
                yield (alias.name.partition(".")[2] if inside else None), [], node, tree


def _layer_of(module):
    for index, layer in enumerate(LAYERS):
        if module in layer:
            return index
    return None


def test_every_module_has_a_layer():
    missing = [name for name, _ in _modules() if name and not name.endswith("__init__")
               and name not in ("", "ops", "nn") and _layer_of(name) is None]
    assert not missing, f"add these modules to LAYERS (and docs/architecture.md): {missing}"


def _resolved(target, names):
    """The package modules an import reaches: ``from . import graph`` names a module."""
    if target in ("", "ops", "nn"):
        return [f"{target}.{n}".lstrip(".") for n in names]
    return [target]


def test_imports_point_only_downward():
    upward = []
    for name, path in _modules():
        own = _layer_of(name)
        if own is None:
            continue                             # the packages' __init__ files sit on top
        for target, names, node, _ in _imports(path, name):
            if target is None:
                continue
            for module in _resolved(target, names):
                layer = _layer_of(module)
                if layer is not None and layer > own:
                    upward.append(f"{name} (line {node.lineno}) imports {module}")
                if layer == own and module != name and own != _layer_of("ops.shape"):
                    upward.append(f"{name} (line {node.lineno}) imports {module} of its own layer")
    assert not upward, "imports against the order in LAYERS:\n" + "\n".join(upward)


def test_no_import_inside_a_function_or_at_the_bottom_of_a_file():
    hidden = []
    for name, path in _modules():
        tree = ast.parse(path.read_text())
        body_started = False
        for statement in tree.body:
            is_import = isinstance(statement, (ast.Import, ast.ImportFrom))
            is_docstring = isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
            if is_import and body_started:
                hidden.append(f"{name} line {statement.lineno}: import after code")
            if not is_import and not is_docstring:
                body_started = True
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.ImportFrom) and (inner.level or (
                            inner.module or "").startswith("microtensor")):
                        hidden.append(f"{name} line {inner.lineno}: import inside {node.name}")
    assert not hidden, "\n".join(hidden)


def _private(names):
    return [n for n in names if n.startswith("_")]


@pytest.mark.parametrize("package", ["ops", "nn"])
def test_built_in_ops_and_layers_use_only_public_names(package):
    private = []
    for name, path in _modules():
        if not name.startswith(package + ".") and name != package:
            continue
        for target, names, node, _ in _imports(path, name):
            if target is None:
                continue
            if _private(names) or any(part.startswith("_") for part in target.split(".") if part):
                private.append(f"{name} line {node.lineno}: {target} {names}")
            if package == "ops" and target not in ("extend",) and not target.startswith("ops"):
                private.append(f"{name} line {node.lineno}: ops import from {target!r}, "
                               f"not from microtensor.extend")
    assert not private, "private imports:\n" + "\n".join(private)


def test_the_check_sees_a_private_import(tmp_path):
    # The walker itself must catch what it claims to: a module with a hidden private import.
    bad = tmp_path / "bad.py"
    bad.write_text("from ..autograd import _Mode\n\ndef f():\n    from ..tensor import Tensor\n")
    found = list(_imports(bad, "ops.bad"))
    assert ("autograd", ["_Mode"]) in [(t, n) for t, n, _, _ in found]
    assert _private(["_Mode"]) == ["_Mode"]


def test_extend_is_the_whole_surface_the_ops_use():
    from microtensor import extend
    for name in ("Function", "Context", "unbroadcast", "IndexedGrad", "OuterGrad", "ShapeError"):
        assert hasattr(extend, name) and name in extend.__all__
    assert mt.Function is extend.Function and mt.extend is extend


def test_the_architecture_doc_names_every_layer():
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    for layer in LAYERS:
        for module in layer:
            path = module.replace(".", "/") + ".py"
            assert path in doc or f"`{module.split('.')[0]}/`" in doc, \
                f"docs/architecture.md does not mention {path}"
