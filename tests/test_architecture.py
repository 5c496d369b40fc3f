"""The package's shape, as docs/architecture.md describes it: the import graph has no cycles, no
module imports from a later pass, and no module is too long to read (generated tables aside).

Imports are read from the source with `ast`, including those inside functions and under
TYPE_CHECKING: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import graphlib
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "cnndsl"
GENERATED = {"cnndsl.syntax.tables"}
# Directories of data shipped as packages: grammars/ (the grammar file, mapped in as cnndsl.grammars)
# and the HTML report's assets and vendored library.
DATA_PACKAGES = {"cnndsl.grammars", "cnndsl.draw.assets", "cnndsl.draw.vendor"}
MAX_LINES = 400
# The one sanctioned backward edge: the checked model's picture methods (`model.draw(path)`, and
# `_repr_svg_`/`_repr_html_`, which Jupyter's display protocol looks up on the object's own class)
# import the outputs stage's `draw` lazily, when called. Nothing of the pipeline runs through them.
PICTURE_METHODS = {("cnndsl.model", "cnndsl.draw"), ("cnndsl.model", "cnndsl.draw.graphviz")}

# The pipeline's order: a module may import from its own stage and earlier ones only.
STAGES = [
    (
        "support",
        ["version", "source", "codes", "diagnostics", "signals", "progress", "reader", "files", "npy", "rules"],
    ),
    ("syntax", ["syntax"]),
    ("layers", ["layers"]),
    ("ir", ["ir"]),
    ("resolve", ["resolve"]),
    ("analysis", ["analysis"]),
    ("pipeline", ["model"]),
    ("outputs", ["summary", "onnx", "draw", "export", "importer"]),
    ("runtime", ["runtime"]),
    ("deploy", ["deploy"]),
    ("interface", ["cli", "lsp", "highlight", "__init__", "__main__"]),
]


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def imports(module: str) -> set[str]:
    """The cnndsl modules `module` imports, anywhere in its body."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if is_package(module) else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("cnndsl")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            if not source.startswith("cnndsl"):
                continue
            for alias in node.names:  # `from . import ast` imports the module cnndsl.syntax.ast
                submodule = f"{source}.{alias.name}"
                if submodule not in DATA_PACKAGES:
                    found.add(submodule if submodule in MODULES else source)
    return {target for target in found if target in MODULES and target != module}


GRAPH = {module: {t for t in imports(module) if (module, t) not in PICTURE_METHODS} for module in MODULES}


def stage_of(module: str) -> int:
    top = module.split(".")[1] if module != "cnndsl" else "__init__"
    for index, (_, members) in enumerate(STAGES):
        if top in members:
            return index
    raise AssertionError(f"{module} belongs to no stage: add it to STAGES and to docs/architecture.md")


def test_the_import_graph_has_no_cycles():
    try:
        tuple(graphlib.TopologicalSorter(GRAPH).static_order())
    except graphlib.CycleError as cycle:
        raise AssertionError(f"import cycle: {' -> '.join(cycle.args[1])}") from None


def test_no_module_imports_from_a_later_stage():
    backwards = [
        f"{module} ({STAGES[stage_of(module)][0]}) imports {target} ({STAGES[stage_of(target)][0]})"
        for module, targets in GRAPH.items()
        for target in sorted(targets)
        if stage_of(target) > stage_of(module)
    ]
    assert not backwards, "\n".join(backwards)


def test_layers_import_nothing_but_their_own_package():
    outside = {
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module.startswith("cnndsl.layers")
        for target in targets
        if not target.startswith("cnndsl.layers")
    }
    assert not outside, sorted(outside)


def test_no_module_is_too_long():
    long = {
        module: lines
        for module, path in MODULES.items()
        if module not in GENERATED and (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_the_stages_match_the_documented_architecture():
    """docs/architecture.md names every package and top-level module of the pipeline."""
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [name for _, members in STAGES for name in members if not name.startswith("__") and name not in text]
    assert not missing, f"docs/architecture.md does not mention {missing}"


def test_the_wheel_lists_every_package():
    """setuptools is given the package list (grammars/ is mapped in as cnndsl.grammars): a new
    package missing from it would be left out of the wheel while editable installs still work."""
    import tomllib

    config = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    on_disk = {module for module in MODULES if is_package(module)}
    assert listed == on_disk | DATA_PACKAGES
