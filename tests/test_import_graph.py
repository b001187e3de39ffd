"""tensorgrad's imports run one way: the import graph of its modules, counting imports inside functions, has no
cycle (its largest strongly connected component is one module).

Edges: ``import a.b`` -> a.b; ``from X import n`` -> X.n when that is a module of the package, else X. A package's
__init__ being run before its submodules is not an edge (every submodule would otherwise "import" its package).
"""
import ast
import os

import pytest

PKG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tensorgrad")


def _modules():
    """module name -> path of its .py file (None for a compiled extension such as tensorgrad._C)."""
    mods = {}
    for root, _, files in os.walk(PKG):
        for f in files:
            if f.endswith((".so", ".pyd")):
                rel = os.path.relpath(os.path.join(root, f.split(".")[0]), os.path.dirname(PKG))
                mods[rel.replace(os.sep, ".")] = None
            if f.endswith(".py"):
                path = os.path.join(root, f)
                rel = os.path.relpath(path, os.path.dirname(PKG))[:-3].replace(os.sep, ".")
                mods[rel[:-len(".__init__")] if rel.endswith(".__init__") else rel] = path
    return mods


def _resolve(module, is_pkg, level, name):
    if level == 0:
        return name
    parts = module.split(".")
    base = parts if is_pkg else parts[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def import_graph():
    """(edges: module -> set of modules, function-level imports: list of (module, line, target))."""
    mods = _modules()
    edges = {m: set() for m in mods}
    in_function = []
    for m, path in mods.items():
        if path is None:
            continue
        tree = ast.parse(open(path, encoding="utf-8").read())
        is_pkg = path.endswith("__init__.py")

        def visit(node, depth):
            for child in ast.iter_child_nodes(node):
                d = depth + isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                targets = []
                if isinstance(child, ast.Import):
                    targets = [a.name for a in child.names]
                elif isinstance(child, ast.ImportFrom):
                    base = _resolve(m, is_pkg, child.level, child.module)
                    targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in child.names]
                for t in targets:
                    if t in mods and t != m:
                        edges[m].add(t)
                        if d:
                            in_function.append((m, child.lineno, t))
                visit(child, d)
        visit(tree, 0)
    return edges, in_function


def strongly_connected(edges):
    """Tarjan's algorithm, iterative."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


# The imports of tensorgrad modules that stay inside functions, each for a reason other than a cycle: the kernel
# registry loads a device's launchers on first use (the CUDA ones need CuPy, the CPU ones the compiled extension).
FUNCTION_LEVEL_ALLOWED = {("tensorgrad.backend.kernels", "tensorgrad.backend.cpu"),
                          ("tensorgrad.backend.kernels", "tensorgrad.backend.cuda")}


def test_no_import_cycle():
    edges, _ = import_graph()
    comps = [c for c in strongly_connected(edges) if len(c) > 1]
    largest = max(comps, key=len) if comps else []
    assert not comps, (f"import cycle among {len(largest)} modules: {largest}; edges inside it: " +
                       "; ".join(f"{a} -> {b}" for a in largest for b in sorted(edges[a]) if b in largest))


def test_function_level_imports_only_where_allowed():
    _, in_function = import_graph()
    print(f"function-level imports of tensorgrad modules: {len(in_function)}")
    extra = [f"{m}:{line} -> {t}" for m, line, t in in_function if (m, t) not in FUNCTION_LEVEL_ALLOWED]
    assert not extra, "imports inside functions (move them to the top of the module): " + "; ".join(extra)


def test_the_cycle_detector_finds_a_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert [c for c in strongly_connected(edges) if len(c) > 1] == [["a", "b", "c"]]


@pytest.mark.parametrize("module", ["tensorgrad.tensor"])
def test_tensor_imports_no_op(module):
    edges, _ = import_graph()
    assert not [t for t in edges[module] if t.startswith("tensorgrad.ops") or t.startswith("tensorgrad.nn")]
