"""options.py is the one definition of every option: Config, config.pyi, --help and the docs agree with it.

Also: every bad command-line value is refused with one line naming the option. Nothing here
starts a server.
"""

import ast
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from morello.config import Config
from morello.options import (
    ENGINE_OPTIONS,
    OPTIONS,
    BindAddress,
    Choice,
    FileMode,
    Flag,
    Integer,
    Layer,
    Seconds,
    ServerName,
)

ROOT = Path(__file__).resolve().parent.parent
STUB = ROOT / "python" / "morello" / "config.pyi"


def run_cli(*args, cwd=None):
    """Run ``python -m morello ARGS``; return (exit status, stdout, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "morello", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=dict(os.environ, PYTHONWARNINGS="ignore"),
    )
    return proc.returncode, proc.stdout, proc.stderr


def stub_class():
    tree = ast.parse(STUB.read_text())
    return next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Config")


def test_stub_fields_are_the_engine_options():
    fields = {
        node.target.id: ast.unparse(node.annotation)
        for node in stub_class().body
        if isinstance(node, ast.AnnAssign)
    }
    assert list(fields) == [o.name for o in ENGINE_OPTIONS]
    for option in ENGINE_OPTIONS:
        expected = option.kind.stub_type
        if option.repeatable:
            expected = f"tuple[{expected}, ...]"
        assert fields[option.name] == expected, option.name


def test_stub_init_takes_every_field_by_keyword():
    init = next(n for n in stub_class().body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    assert [a.arg for a in init.args.args] == ["self"]
    assert [a.arg for a in init.args.kwonlyargs] == [o.name for o in ENGINE_OPTIONS]


def test_engine_reads_exactly_the_engine_options():
    from morello import _morello

    assert sorted(_morello.CONFIG_FIELDS) == sorted(o.name for o in ENGINE_OPTIONS)


def test_config_fields_and_defaults_come_from_options():
    fields = dataclasses.fields(Config)
    assert [f.name for f in fields] == [o.name for o in ENGINE_OPTIONS]
    for field, option in zip(fields, ENGINE_OPTIONS):
        assert field.default == option.default, option.name
        assert field.metadata["option"] is option


def test_generated_files_are_up_to_date():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_docs.py"), "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def test_configuration_md_documents_every_option():
    text = (ROOT / "docs" / "configuration.md").read_text()
    for option in OPTIONS:
        assert f"`{option.flag}" in text, option.flag
        if option.layer is Layer.ENGINE:
            assert f"| `{option.name}` |" in text, option.name


def test_option_names_are_unique_and_timeout_is_reserved():
    flags = [o.flag for o in OPTIONS] + [o.short for o in OPTIONS if o.short]
    assert len(flags) == len(set(flags))
    assert len({o.name for o in OPTIONS}) == len(OPTIONS)
    # --timeout is kept for a future hung-worker timeout.
    assert "--timeout" not in flags


def test_help_lists_every_flag():
    status, out, err = run_cli("--help")
    assert status == 0, err
    for option in OPTIONS:
        assert (option.metavar if option.positional else option.flag) in out, option.flag
        if option.short:
            assert f"{option.short} {option.metavar}" in out
    assert "--version" in out
    # Help texts and defaults come from the same definitions (argparse wraps lines).
    words = " ".join(out.split())
    for option in OPTIONS:
        assert " ".join(option.describe().split()) in words, option.flag
    assert "Default: 127.0.0.1:8000." in words
    assert "Default: 666." in words


def test_version():
    import morello

    status, out, _ = run_cli("--version")
    assert status == 0
    assert out.strip() == f"morello {morello.__version__}"


def bad_values(option):
    """Values the option's kind must refuse, as command-line text."""
    kind = option.kind
    if isinstance(kind, Integer):
        return ["abc", "1.5", str(kind.minimum - 1)]
    if isinstance(kind, Seconds):
        return ["soon", "-1", "nan", "inf"] + (["0"] if kind.positive else [])
    if isinstance(kind, Choice):
        return ["HTTP/2" if "HTTP/1.1" in kind.choices else "loud"]
    if isinstance(kind, FileMode):
        return ["999", "rw", "1000"]
    if isinstance(kind, BindAddress):
        return ["nonsense", "127.0.0.1:notaport", "127.0.0.1:70000"]
    if isinstance(kind, ServerName):
        return ["two words"]
    raise AssertionError(f"no bad values for {option.flag}")


BAD_CASES = [
    (option, value)
    for option in OPTIONS
    if not option.positional
    and not isinstance(option.kind, Flag)
    and option.flag not in ("--mount", "--chdir")
    for value in bad_values(option)
]


@pytest.mark.parametrize("option,value", BAD_CASES, ids=[f"{o.flag}={v}" for o, v in BAD_CASES])
def test_bad_value_is_one_line_naming_the_option(option, value):
    status, out, err = run_cli("examples.hello:app", f"{option.flag}={value}", cwd=ROOT)
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"morello: error: {option.flag}: must be {option.kind.requirement}, got {value!r}")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--threads", "0"], "--threads: must be an integer >= 1, got '0'"),
        (["--threads", "200"], "--max-threads: must be >= --threads (200), got 128"),
        (["--threads", "8", "--max-threads", "4"], "--max-threads: must be >= --threads (8), got 4"),
        (
            ["--unix-socket-mode", "8"],
            "--unix-socket-mode: must be an octal file mode from 000 to 777, got '8'",
        ),
        (["--log-level", "loud"], "--log-level: must be one of debug, info, warning, error, got 'loud'"),
        (["--chdir", ""], "--chdir: must be a non-empty string, got ''"),
        (["--mount", "/x"], "--mount: must be PREFIX=MODULE:APP, got '/x'"),
        (["--mount", "x=examples.hello:app"], "--mount: mount prefix must start with '/', got 'x'"),
        (["--mount", "/=examples.hello:app"], "--mount: two applications are mounted at '/'"),
        (
            ["--mount", "/a=not a module"],
            "--mount: must be MODULE:APP, MODULE:FACTORY() or MODULE, got 'not a module'",
        ),
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["--thread", "4"], "unrecognized arguments: --thread 4"),
        (["--threads"], "argument --threads: expected one argument"),
    ],
)
def test_command_line_errors(args, message):
    status, _, err = run_cli("examples.hello:app", *args, cwd=ROOT)
    assert status == 2
    assert err == f"morello: error: {message}\n"


def test_missing_app():
    status, _, err = run_cli("--threads", "4", cwd=ROOT)
    assert status == 2
    assert err == "morello: error: no application: give APP (MODULE:APP), or --mount PREFIX=MODULE:APP\n"


def test_bad_app_reference():
    status, _, err = run_cli("a:b:c", cwd=ROOT)
    assert status == 2
    assert err == "morello: error: APP: must be MODULE:APP, MODULE:FACTORY() or MODULE, got 'a:b:c'\n"
