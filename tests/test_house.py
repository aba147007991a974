"""The house as a newcomer reads it: no import circles, small files and functions, help for every argument.
(The layers themselves are held by `lint-imports`, run by scripts/test.sh with the contracts in pyproject.toml.)"""

import argparse
import ast
from pathlib import Path

import grimp

from edge.cli import build_parser
from tests.conftest import ROOT

PACKAGES = ("edge", "drivers", "collector", "models")
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60


def test_the_import_graph_has_no_circle():
    graph = grimp.build_graph(*PACKAGES)
    circles = [module for module in graph.modules
               if any(graph.chain_exists(imported=module, importer=target)
                      for target in graph.find_modules_directly_imported_by(module))]
    assert circles == []


def sources():
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def test_no_file_or_function_is_too_long_to_read():
    long_files, long_functions = [], []
    for path in sources():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_FILE_LINES:
            long_files.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{path.relative_to(ROOT)}: {node.name} {length} lines")
    assert long_files == [] and long_functions == []


def parsers(parser: argparse.ArgumentParser, words: tuple[str, ...] = ("gatepost",)):
    yield words, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, words + (name,))


def test_every_command_line_argument_says_what_it_is():
    missing = [f"{' '.join(words)} {'/'.join(action.option_strings) or action.dest}"
               for words, parser in parsers(build_parser()) for action in parser._actions
               if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction))
               and not action.help]
    assert missing == []


def test_every_command_says_what_it_does():
    silent = []
    for _, parser in parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helped = {choice.dest for choice in action._choices_actions}
                silent += [name for name in action.choices if name not in helped]
    assert silent == []


def test_nothing_imports_a_name_that_moved(tmp_path):
    """Every module imports cleanly (a split that left a caller behind fails here, not at a gate)."""
    import importlib

    for path in sources():
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if module.endswith("__main__"):
            continue
        importlib.import_module(module)
    assert Path(ROOT / "edge" / "cli" / "__main__.py").is_file()
