"""The import rules of docs/design.md, read from every module's imports (ast), so a change
cannot quietly break them: one-way tiers, no circles."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "prunedistill"
ESTIMATORS = {"distances", "dimension", "information", "decoding", "similarity", "stats",
              "_validation", "_io", "_memory"}
INPUTS = {"stimuli", "models", "activations"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(path: Path, name: str | None = None) -> set[str]:
    """Every prunedistill module ``path`` (module ``name``, by default its place in the
    package) imports at run time (function-level imports included, ``if TYPE_CHECKING:``
    blocks left out)."""
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.startswith("prunedistill"))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[:len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target.startswith("prunedistill"):
                    for alias in child.names:
                        sub = f"{target}.{alias.name}"
                        found.add(sub if module_path(sub) else target)
            visit(child)

    visit(ast.parse(path.read_text()))
    found.discard(name)
    return found


def module_path(name: str) -> Path | None:
    if name == "prunedistill":
        return PACKAGE / "__init__.py"
    relative = Path(*name.split(".")[1:])
    for candidate in (PACKAGE / relative.with_suffix(".py"), PACKAGE / relative / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def unit(name: str) -> str:
    """The tier unit of a module: its subpackage or top-level module (``prunedistill``
    itself for the package's ``__init__``)."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "prunedistill"


MODULES = {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def importers_of(target_unit: str) -> dict[str, set[str]]:
    return {m: {i for i in imports if unit(i) == target_unit} for m, imports in MODULES.items()
            if unit(m) != target_unit and any(unit(i) == target_unit for i in imports)}


def test_the_reader_sees_the_modules():
    assert "prunedistill.pipeline.stages" in MODULES
    assert "prunedistill.analysis.summaries" in MODULES["prunedistill.pipeline.report_stage"]
    assert "prunedistill.analysis.options" in MODULES["prunedistill.config"]


def test_only_the_cli_imports_the_pipeline():
    assert set(importers_of("pipeline")) <= {"prunedistill.cli"}


def test_the_report_imports_nothing_but_its_helpers():
    for module, imports in MODULES.items():
        if unit(module) == "report":
            assert {unit(i) for i in imports} <= {"report", "_io", "_validation"}, module


def test_analysis_imports_estimators_and_inputs_only():
    allowed = ESTIMATORS | INPUTS | {"analysis"}
    for module, imports in MODULES.items():
        if unit(module) == "analysis":
            assert {unit(i) for i in imports} <= allowed, module


def test_estimators_import_only_estimators():
    for module, imports in MODULES.items():
        if unit(module) in ESTIMATORS:
            assert {unit(i) for i in imports} <= ESTIMATORS, module


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_circles_between_subpackages():
    graph: dict[str, set[str]] = {}
    for module, imports in MODULES.items():
        if unit(module) == "prunedistill":
            continue  # the package __init__ only carries the version
        graph.setdefault(unit(module), set()).update(
            unit(i) for i in imports if unit(i) != unit(module))
    assert _cycle(graph) is None


@pytest.mark.parametrize("package", sorted({unit(m) for m in MODULES
                                            if module_path(m).name != "__init__.py"
                                            and "." in m[len("prunedistill."):]}))
def test_no_circles_between_modules_of_a_subpackage(package):
    inside = {m: {i for i in imports if unit(i) == package and module_path(i).name
                  != "__init__.py"}
              for m, imports in MODULES.items() if unit(m) == package}
    assert _cycle(inside) is None


def test_the_reader_catches_a_function_level_violation(tmp_path):
    probe = tmp_path / "figures.py"
    probe.write_text((PACKAGE / "report" / "figures.py").read_text()
                     + "\n\ndef later():\n    from ..analysis import summaries\n")
    found = imports_of(probe, "prunedistill.report.figures")
    assert "prunedistill.analysis.summaries" in found
    assert {unit(i) for i in found} - {"report", "_io", "_validation"} == {"analysis"}
