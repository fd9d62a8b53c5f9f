"""The package's shape: one home per concept, so no two modules import each
other (function-level imports included), and the version written once."""
import ast
import importlib.metadata
from pathlib import Path

import densefit

PACKAGE = Path(densefit.__file__).parent


def _module_name(path):
    """``"models"``, ``"datasets.mnist"``; a package's ``__init__`` is the package."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path, modules):
    """The densefit modules a module imports, at any level of its code (``from .
    import x`` names module x when there is one, else the package itself)."""
    name = _module_name(path)
    package = name.split(".") if path.stem == "__init__" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level >= 1:
            base = package[:len(package) - (node.level - 1)]
            if node.module:
                found.add(".".join(base + node.module.split(".")))
            for alias in node.names if not node.module else ():
                target = ".".join(base + [alias.name])
                found.add(target if target in modules else ".".join(base))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("densefit."):
            found.add(node.module.split(".", 1)[1])
    return found


def _graph():
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path, modules) & set(modules) for name, path in modules.items()
            if name}  # the top-level __init__ imports everything: it is no node


def _cycle(graph):
    """One import cycle as a list of module names, or None."""
    state = {}

    def visit(name, path):
        state[name] = "open"
        for nxt in sorted(graph.get(name, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt] if nxt in path else [name, nxt]
            if nxt not in state:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[name] = "done"
        return None

    for name in sorted(graph):
        if name not in state:
            found = visit(name, [name])
            if found:
                return found
    return None


def test_no_import_cycles_among_modules():
    graph = _graph()
    assert "models" in graph and "saving" in graph["models"]  # the parser sees imports
    assert {"datasets.mnist", "datasets.originals"} <= graph["datasets"]  # and subpackages
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_version_comes_from_the_installed_metadata():
    assert densefit.__version__ == importlib.metadata.version("densefit")


def _sizes():
    """``(lines, "module.name")`` of every function and class, reference.py excepted
    (the readable oracle, written to be read top to bottom)."""
    for path in PACKAGE.rglob("*.py"):
        if path.stem == "reference":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                yield node, node.end_lineno - node.lineno + 1, f"{_module_name(path)}.{node.name}"


def test_functions_and_classes_stay_short():
    """The structure's limits: no function over 50 lines, no class over 300."""
    too_long = [(name, lines) for node, lines, name in _sizes()
                if lines > (300 if isinstance(node, ast.ClassDef) else 50)]
    assert not too_long, too_long
