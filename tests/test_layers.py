"""The architecture, enforced: dependencies inside ``stylestore/`` point one way.

Imports are read with ``ast`` (imports inside functions included, since a deferred
import that dodges a cycle is still a cycle). The rules:

- ``stylestore.engine`` is pure PyTorch + Pillow: it imports neither Django nor any
  other stylestore module;
- every stylestore module has a layer (``LAYERS``, lowest first; the longest matching
  prefix wins) and imports only from its own layer or lower ones;
- no import cycles, at any granularity: between modules, and between packages.
"""
import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "stylestore"

#: Lowest first. A module may import from its own layer and the layers below it.
LAYERS = [
    ["stylestore.engine"],
    ["stylestore.conf", "stylestore.ratelimit", "stylestore.moments"],
    ["stylestore.storage", "stylestore.validators"],
    ["stylestore.fields"],
    ["stylestore.models"],
    ["stylestore.variants.sources"],
    ["stylestore.references"],
    ["stylestore.variants.state"],
    ["stylestore.variants.files"],
    ["stylestore.variants.queue", "stylestore.variants.estimates", "stylestore.variants.masks",
     "stylestore.variants.quality", "stylestore.variants.signals"],
    ["stylestore.variants.requests", "stylestore.variants.previews"],
    ["stylestore.variants.batches", "stylestore.variants.webhook"],
    ["stylestore.variants.sweeper", "stylestore.variants.worker", "stylestore.variants.upgrades"],
    ["stylestore.variants.handlers"],
    ["stylestore.variants"],
    ["stylestore.personalization.policy", "stylestore.personalization.evaluation", "stylestore.personalization.tokens",
     "stylestore.personalization.refits"],
    ["stylestore.personalization.caches", "stylestore.personalization.choices", "stylestore.personalization.erase",
     "stylestore.personalization.looks"],
    ["stylestore.personalization.population", "stylestore.personalization.embeddings", "stylestore.personalization.identity"],
    ["stylestore.personalization.page", "stylestore.personalization.viewers"],
    ["stylestore.personalization.events"],
    ["stylestore.personalization.analytics"],
    ["stylestore.personalization"],
    ["stylestore.tasks", "stylestore.schedules"],
    ["stylestore.signals", "stylestore.checks", "stylestore.install_checks"],
    ["stylestore.forms", "stylestore.templatetags"],
    ["stylestore.admin", "stylestore.api", "stylestore.management"],
    ["stylestore.apps", "stylestore.migrations", "stylestore"],
    ["stylestore.contrib"],
]

#: Known violations, (importer, imported) — each move deletes its line. Empty: none left.
ALLOWED = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imports_of(name: str, path: Path, known=()) -> set:
    """Every module ``name`` imports, absolute, wherever the import statement is.

    ``from package import name`` counts as importing ``package.name`` when that is one
    of the ``known`` modules, else as importing ``package``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:
                # ``from . import tasks`` imports the module ``stylestore.tasks``.
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in known else target)
    return found


def graph() -> dict:
    """Module -> the stylestore modules it imports (only names that are modules)."""
    known = modules()
    edges = {}
    for name, path in known.items():
        edges[name] = {t for t in imports_of(name, path, known) if t in known and t != name}
    return edges


def layer(name: str) -> int:
    best, rank = -1, None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    assert rank is not None, f"{name} has no layer in tests/test_layers.py"
    return rank


def test_engine_imports_no_django_and_no_other_stylestore_module():
    offending = []
    for name, path in modules().items():
        if not name.startswith("stylestore.engine"):
            continue
        for target in imports_of(name, path):
            top = target.split(".")[0]
            if top in ("django", "rest_framework", "django_q", "drf_spectacular"):
                offending.append((name, target))
            elif target.startswith("stylestore") and not target.startswith("stylestore.engine"):
                offending.append((name, target))
    assert offending == []


def test_lower_layers_never_import_higher_ones():
    edges = {(name, target) for name, targets in graph().items() for target in targets}
    violations = {(name, target) for name, target in edges if layer(target) > layer(name)}
    assert violations - ALLOWED == set()
    # An import that is gone must leave the allowed list too, so the list only shrinks.
    assert ALLOWED - edges == set()


def _cycle(edges):
    """One cycle of the graph as a list of nodes, or None."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycle_between_modules():
    edges = {name: {t for t in targets if (name, t) not in ALLOWED} for name, targets in graph().items()}
    assert _cycle(edges) is None


@pytest.mark.parametrize("depth", [2, 3])
def test_no_import_cycle_between_packages(depth):
    """``stylestore.variants`` may not import ``stylestore.personalization`` if any
    module of the latter imports the former, and so on one level down."""
    packages = {}
    for name, targets in graph().items():
        source = ".".join(name.split(".")[:depth])
        for target in targets:
            if (name, target) in ALLOWED:
                continue
            dest = ".".join(target.split(".")[:depth])
            if dest != source and not dest.startswith(source + ".") and not source.startswith(dest + "."):
                packages.setdefault(source, set()).add(dest)
    assert _cycle(packages) is None
