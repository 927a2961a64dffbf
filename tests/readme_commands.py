"""The README's shell commands, in order, and a walk that runs them as a new user would.

    python -m tests.readme_commands --list            # the commands, one per line
    python -m tests.readme_commands --run [--keep DIR] # fresh clone, then every command in order

:func:`commands` reads every fenced ``bash`` block of ``README.md`` top to bottom,
joins ``\\`` continuations, drops comments and returns one :class:`Command` per
shell command.  A command whose line ends with a ``# needs: <what>`` comment
(e.g. ``# needs: network``) is kept but marked, and the walk skips it, saying
why.  ``source .venv/bin/activate`` is honoured by running every later command
with ``.venv/bin`` first on ``PATH``.

:func:`walk` clones the current ``HEAD`` into a new directory with
``../shared`` beside it (a symlink to this checkout's), then runs the commands
one after the other in that clone with ``bash -e``, stopping at the first that
fails; it returns one record per command (``rc``, seconds, the tail of its
output).  ``VENV`` may name an existing virtual environment to reuse instead of
installing one (the Makefile reads it), which saves the five-minute install.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, "README.md")
NEEDS = re.compile(r"#\s*needs:\s*(?P<what>[^#]+?)\s*$")
ACTIVATE = "source .venv/bin/activate"


@dataclasses.dataclass(frozen=True)
class Command:
    text: str  # the command, continuations joined, comments removed
    line: int  # 1-based line of README.md where it starts
    needs: str | None = None  # what the README says it needs beyond the machine (skipped then)

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.text)

    @property
    def module(self) -> str | None:
        """``M`` of ``python -m M ...``, else None."""
        argv = self.argv
        if len(argv) >= 3 and os.path.basename(argv[0]).startswith("python") and argv[1] == "-m":
            return argv[2]
        return None


def _strip_comment(line: str) -> str:
    """``line`` without a trailing shell comment (a ``#`` outside quotes, after a blank)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def commands(text: str) -> list[Command]:
    """Every shell command of the fenced ``bash`` blocks of ``text``, in order."""
    out: list[Command] = []
    in_block = False
    pending: list[str] = []
    start = 0
    needs = None
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("```"):
            if not in_block:
                in_block = stripped[3:].strip() == "bash"
            else:
                in_block = False
            continue
        if not in_block:
            continue
        match = NEEDS.search(raw)
        body = _strip_comment(raw)
        if not body.strip():
            continue  # blank or comment-only line (a `# needs:` there marks nothing)
        if not pending:
            start, needs = number, None
        if match:
            needs = match.group("what")
        continued = body.endswith("\\")
        pending.append(body[:-1].strip() if continued else body.strip())
        if not continued:
            out.append(Command(" ".join(p for p in pending if p), start, needs))
            pending = []
    if pending:
        raise ValueError(f"README.md:{start}: a command ends in a line continuation")
    return out


def readme_commands(path: str = README) -> list[Command]:
    with open(path, encoding="utf-8") as f:
        return commands(f.read())


def clone(dest: str, shared: str | None = None) -> str:
    """``git clone`` of this checkout's HEAD into ``dest/tfpipe`` with ``dest/shared`` beside it."""
    repo = os.path.join(dest, "tfpipe")
    subprocess.run(["git", "clone", "--quiet", REPO, repo], check=True)
    shared = shared or os.path.join(os.path.dirname(REPO), "shared")
    if os.path.isdir(shared):
        os.symlink(os.path.abspath(shared), os.path.join(dest, "shared"))
    return repo


def walk(repo: str, cmds: list[Command], *, venv: str | None = None, log=print) -> list[dict]:
    """Runs ``cmds`` in ``repo`` in order (stopping at the first failure); one record each."""
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    if venv:
        env["VENV"] = os.path.abspath(venv)
    records = []
    activated = False
    for cmd in cmds:
        record = {"line": cmd.line, "command": cmd.text}
        if cmd.needs:
            record.update(status="skipped", why=f"needs {cmd.needs}")
            records.append(record)
            log(f"README.md:{cmd.line}: skipped ({cmd.needs}): {cmd.text}")
            continue
        if cmd.text == ACTIVATE:
            bindir = os.path.join(os.path.abspath(venv) if venv else os.path.join(repo, ".venv"), "bin")
            env["PATH"] = bindir + os.pathsep + env["PATH"]
            activated = True
            record.update(status="ok", rc=0, seconds=0.0)
            records.append(record)
            continue
        started = time.time()
        proc = subprocess.run(["bash", "-e", "-c", cmd.text], cwd=repo, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        record.update(rc=proc.returncode, seconds=round(time.time() - started, 1),
                      status="ok" if proc.returncode == 0 else "failed",
                      output_tail=proc.stdout[-2000:], activated=activated)
        records.append(record)
        log(f"README.md:{cmd.line}: rc {proc.returncode} in {record['seconds']} s: {cmd.text}")
        if proc.returncode != 0:
            log(proc.stdout[-4000:])
            break
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.readme_commands", description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="print the commands and exit")
    parser.add_argument("--run", action="store_true", help="clone HEAD and run every command in order")
    parser.add_argument("--keep", default=None, metavar="DIR", help="clone into DIR (default: a temporary directory)")
    parser.add_argument("--venv", default=None, help="reuse this virtual environment (sets VENV for make)")
    parser.add_argument("--skip_make_test", action="store_true",
                        help="skip `make test` (CI runs it anyway)")
    args = parser.parse_args(argv)
    cmds = readme_commands()
    if args.list or not args.run:
        for cmd in cmds:
            print(f"{cmd.line:4d}  {cmd.text}" + (f"    [needs {cmd.needs}]" if cmd.needs else ""))
        return 0
    if args.skip_make_test:
        cmds = [c if c.text != "make test" else dataclasses.replace(c, needs="(skipped: --skip_make_test)")
                for c in cmds]
    dest = args.keep or tempfile.mkdtemp(prefix="tfpipe-readme-")
    os.makedirs(dest, exist_ok=True)
    repo = clone(dest)
    started = time.time()
    records = walk(repo, cmds, venv=args.venv, log=lambda m: print(m, file=sys.stderr, flush=True))
    failed = [r for r in records if r["status"] == "failed"]
    print(json.dumps({
        "clone": repo, "commands": len(cmds), "ran": sum(r["status"] != "skipped" for r in records),
        "skipped": [r["command"] for r in records if r["status"] == "skipped"],
        "failed": [{k: r[k] for k in ("line", "command", "rc")} for r in failed],
        "seconds": round(time.time() - started, 1),
        "per_command_s": {r["command"][:80]: r.get("seconds") for r in records},
    }))
    return 1 if failed or len(records) < len(cmds) else 0


if __name__ == "__main__":
    sys.exit(main())
