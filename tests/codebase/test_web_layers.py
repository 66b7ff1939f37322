"""Rules for the web adapters (dashboard/web/): module-level blueprints that
read the app's Runtime, an app.py that only wires them, no import cycles."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "dashboard" / "web"
#: Decorators that add a route or a hook to a Quart app or blueprint.
ROUTE_DECORATORS = frozenset(
    {
        "get",
        "post",
        "put",
        "delete",
        "route",
        "websocket",
        "before_request",
        "before_websocket",
        "before_app_request",
        "before_app_websocket",
        "teardown_websocket",
        "teardown_app_websocket",
        "errorhandler",
        "while_serving",
    }
)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def web_imports(path: Path) -> set[str]:
    """The dashboard.web modules *path* imports, TYPE_CHECKING blocks included."""
    found: set[str] = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "dashboard.web":
                found.update(alias.name for alias in node.names)
            elif node.module.startswith("dashboard.web."):
                found.add(node.module.removeprefix("dashboard.web.").split(".")[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("dashboard.web."):
                    found.add(alias.name.removeprefix("dashboard.web.").split(".")[0])
    return found


def _graph() -> dict[str, set[str]]:
    return {p.stem: web_imports(p) - {p.stem} for p in WEB.glob("*.py") if p.stem != "__init__"}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle in *graph*, as the path around it, or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for imported in sorted(graph.get(module, ())):
            found = visit(imported, [*path, module])
            if found:
                return found
        done.add(module)
        return None

    for module in sorted(graph):
        found = visit(module, [])
        if found:
            return found
    return None


def test_web_modules_import_no_cycle():
    """Not even under TYPE_CHECKING: each module can be read knowing only
    those it imports."""
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_state_depends_on_no_web_module_but_assets():
    """Every route module reads the Runtime; the Runtime knows none of them."""
    assert web_imports(WEB / "state.py") <= {"assets"}


def test_the_gate_takes_the_token_check_from_the_core():
    """The bearer-token check is dashboard.access.authorized, not an ingest route's."""
    assert "ingest" not in web_imports(WEB / "gate.py")


def _nested_routes(path: Path) -> list[str]:
    """Routes and hooks declared inside a function (closures), not at module level."""
    nested = []
    for function in ast.walk(_tree(path)):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(function):
            if inner is function or not isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for decorator in inner.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if isinstance(target, ast.Attribute) and target.attr in ROUTE_DECORATORS:
                    nested.append(f"{path.name}: {function.name} declares {inner.name}")
    return nested


def test_routes_are_declared_at_module_level():
    """Blueprints are module-level and read runtime_of(current_app): a route
    is found by reading its module, not by calling a factory."""
    nested = [line for path in sorted(WEB.glob("*.py")) for line in _nested_routes(path)]
    assert not nested, "\n".join(nested)


def test_app_module_only_wires():
    """create_app puts the blueprints together; it holds no route body."""
    source = (WEB / "app.py").read_text(encoding="utf-8")
    assert len(source.splitlines()) <= 80
    tree = _tree(WEB / "app.py")
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                name = target.attr if isinstance(target, ast.Attribute) else ""
                assert name not in ROUTE_DECORATORS, f"app.py declares {node.name}"


def test_endpoints_the_gate_names_exist():
    """The gate names endpoints as text (PAGE_ENDPOINT, PUBLIC_ENDPOINTS): a
    renamed route or blueprint must not silently change who may see it."""
    from dashboard import create_app
    from dashboard.config import DashboardConfig
    from dashboard.web.gate import PAGE_ENDPOINT, PUBLIC_ENDPOINTS

    app = create_app(DashboardConfig())
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert PUBLIC_ENDPOINTS | {PAGE_ENDPOINT} <= endpoints
