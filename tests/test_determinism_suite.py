"""The test command itself: the tests marked slow in tests/conftest.py exist (a renamed test would
silently move back into the default run), and the default run deselects them."""
from __future__ import annotations

import ast
import pathlib

import conftest

TESTS = pathlib.Path(__file__).resolve().parent


def test_every_listed_slow_test_exists():
    for nodeid in conftest.SLOW_TESTS:
        path, _, name = nodeid.partition("::")
        function = name.split("[", 1)[0]
        source = TESTS.parent / path
        assert source.is_file(), nodeid
        names = {node.name for node in ast.walk(ast.parse(source.read_text()))
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
        assert function in names, f"{nodeid}: no such test (renamed? update SLOW_TESTS)"


class _Item:
    def __init__(self, nodeid: str, slow: bool = False):
        self.nodeid, self.markers = nodeid, {"slow"} if slow else set()

    def add_marker(self, name: str) -> None:
        self.markers.add(name)

    def get_closest_marker(self, name: str):
        return name if name in self.markers else None


class _Config:
    def __init__(self, run_slow: bool = False, markexpr: str = ""):
        self.options = {"--run-slow": run_slow, "markexpr": markexpr}
        self.deselected: list = []
        self.hook = self

    def getoption(self, name: str):
        return self.options[name]

    def pytest_deselected(self, items) -> None:
        self.deselected.extend(items)


def _items() -> list[_Item]:
    return [_Item("tests/test_a.py::test_quick"), _Item(sorted(conftest.SLOW_TESTS)[0]),
            _Item("tests/test_b.py::test_marked_in_its_file", slow=True)]


def test_the_default_run_deselects_slow_tests_and_run_slow_keeps_them():
    items, config = _items(), _Config()
    conftest.pytest_collection_modifyitems(config, items)
    assert [i.nodeid for i in items] == ["tests/test_a.py::test_quick"] and len(config.deselected) == 2
    for config in (_Config(run_slow=True), _Config(markexpr="slow")):  # CI: everything, or -m chooses
        items = _items()
        conftest.pytest_collection_modifyitems(config, items)
        assert len(items) == 3 and not config.deselected
        assert items[1].get_closest_marker("slow")  # listed tests carry the marker (so -m slow finds them)
