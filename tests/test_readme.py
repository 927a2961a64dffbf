"""The README's commands, checked without running them (fast) and run on a fresh clone (slow).

Fast: every command of the README's ``bash`` blocks names a module or make target that
exists, no placeholder paths or ``[optional]`` syntax, every ``--config`` exists (or is
written by an earlier command), and every ``python -m`` command's flags are accepted by
that CLI's own parser (the parser runs; the command does not).  Slow:
``tests.readme_commands`` clones ``HEAD`` and runs every command in order.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import re

import pytest

from tests import readme_commands
from tests.conftest import SHARED_DATA

REPO = readme_commands.REPO
CMDS = readme_commands.readme_commands()


class _Parsed(Exception):
    """Raised by the patched parser once it has accepted the arguments."""


def test_commands_are_found_in_order():
    texts = [c.text for c in CMDS]
    assert texts[:2] == ["make demo", "make test"]  # the README's first two commands
    assert "source .venv/bin/activate" in texts
    lines = [c.line for c in CMDS]
    assert lines == sorted(lines)
    assert any(c.needs == "network" for c in CMDS)  # the TFDS download is marked, not hidden


def test_parser_joins_continuations_and_drops_comments():
    text = "x\n```bash\n# a comment\npython -m m --a 1 \\\n    --b '#not' # gone\nrun2  # needs: network\n```\n"
    cmds = readme_commands.commands(text)
    assert [c.text for c in cmds] == ["python -m m --a 1 --b '#not'", "run2"]
    assert [c.line for c in cmds] == [4, 6] and [c.needs for c in cmds] == [None, "network"]
    assert cmds[0].module == "m"


def test_make_targets_and_modules_exist():
    with open(os.path.join(REPO, "Makefile"), encoding="utf-8") as f:
        targets = set(re.findall(r"^([a-z][\w-]*):", f.read(), re.M))
    for cmd in CMDS:
        argv = cmd.argv
        if argv[0] == "make":
            assert set(argv[1:]) <= targets, (cmd.line, cmd.text, sorted(targets))
        elif cmd.module:
            assert importlib.util.find_spec(cmd.module) is not None, (cmd.line, cmd.text)
        else:
            assert cmd.text == readme_commands.ACTIVATE, f"README.md:{cmd.line}: unexpected command {cmd.text!r}"


def test_no_placeholders_and_every_input_exists():
    written = ("artifacts/",)  # outputs of earlier commands
    for cmd in CMDS:
        assert not re.search(r"(^|\s)\[-", cmd.text), f"README.md:{cmd.line}: [optional] syntax: {cmd.text}"
        argv = cmd.argv
        for flag, value in zip(argv, argv[1:]):
            if flag == "--config":
                assert value.startswith(written) or os.path.exists(os.path.join(REPO, value)), (cmd.line, value)
            if flag in ("--space", "--classes"):
                assert os.path.exists(os.path.join(REPO, value)), (cmd.line, value)
        for arg in argv:
            for part in arg.split(":"):  # FORMAT:PATH inputs
                if part.startswith("../shared/"):
                    assert part.startswith("../shared/data/"), (cmd.line, part)
                elif re.fullmatch(r"[\w./-]+\.(npy|json|yaml|csv|txt|tsv)", part) and "/" not in part:
                    pytest.fail(f"README.md:{cmd.line}: {part!r} is not written by any command")


def _accepts(module_name: str, argv: list[str], monkeypatch) -> None:
    """Runs the CLI's ``main(argv)`` until its parser has accepted ``argv``; fails on a parse error."""
    original = argparse.ArgumentParser.parse_args

    def parse_args(self, args=None, namespace=None):
        original(self, args, namespace)
        raise _Parsed()

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_args)
    spec = importlib.util.find_spec(module_name)
    if spec.submodule_search_locations:  # a package: `python -m` runs its __main__
        module_name += ".__main__"
    module = importlib.import_module(module_name)
    with pytest.raises(_Parsed):
        module.main(argv)


@pytest.mark.parametrize("cmd", [c for c in CMDS if c.module and not c.needs],
                         ids=lambda c: f"line{c.line}")
def test_cli_accepts_the_flags(cmd, monkeypatch, capsys):
    argv = cmd.argv[3:]
    if cmd.module == "beam_jobs.preprocess":
        # Its flags are parsed with parse_known_args (the rest are Beam options): run its whole
        # validation, which needs the input files.
        if "../shared/" in cmd.text and not os.path.isdir(SHARED_DATA):
            pytest.skip("the command reads ../shared/data")
        from beam_jobs import preprocess

        monkeypatch.chdir(REPO)
        cfg, _ = preprocess.parse([a.replace("../shared/data", SHARED_DATA) for a in argv])
        assert cfg.output_dir
        return
    if cmd.module in ("beam_jobs.preprocess_images", "beam_jobs.extract_features"):
        # parse_known_args too (the rest are Beam options), and their validation reads inputs
        # that earlier commands write: check the flags with the job's own parser and Beam's.
        module = importlib.import_module(cmd.module)
        from beam_jobs.preprocess import _beam_unknown_args

        _, rest = module.build_parser().parse_known_args(argv)
        assert not _beam_unknown_args(rest), (cmd.line, rest)
        return
    _accepts(cmd.module, argv, monkeypatch)


@pytest.mark.slow
def test_every_readme_command_runs_on_a_fresh_clone(tmp_path):
    """``make demo`` and every later command, in order, in a clone of HEAD (reusing this venv)."""
    if not os.path.isdir(SHARED_DATA):
        pytest.skip("the README's commands read ../shared/data")
    repo = readme_commands.clone(str(tmp_path), shared=SHARED_DATA)
    cmds = [c for c in CMDS if c.text != "make test"]  # CI runs it; here it would run twice
    venv = os.path.join(REPO, ".venv")
    records = readme_commands.walk(repo, cmds, venv=venv if os.path.isdir(venv) else None)
    failed = [r for r in records if r["status"] == "failed"]
    assert not failed, failed[0]
    assert len(records) == len(cmds)


def test_a_wrong_flag_is_caught(monkeypatch, capsys):
    with pytest.raises(SystemExit):
        _accepts("tfpipe.train", ["--config", "configs/char_cnn_small_default.yaml", "--epochs", "3"], monkeypatch)
    with pytest.raises(SystemExit):
        _accepts("tfpipe.index", ["build", "--vectors", "v.npy", "--out", "o", "--engine", "faiss"], monkeypatch)
    _accepts("tfpipe.index", ["build", "--vectors", "v.npy", "--out", "o", "--engine", "exact"], monkeypatch)
