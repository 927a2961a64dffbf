"""``python -m tfpipe.config [FILE] [--set k=v ...]``: list every config key, or print a config
validated by its task (``tfpipe.tasks.resolve``: each task checks its own models and keys)."""
from __future__ import annotations

import sys
from typing import Sequence

from tfpipe import tasks
from tfpipe.config import ConfigError, describe, load


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tfpipe.config [FILE] [--set k=v ...]``: print the keys, or a resolved config."""
    from tfpipe import cli

    parser = cli.ArgumentParser(
        prog="python -m tfpipe.config",
        description="With no FILE: list every config key, its default and meaning. "
        "With FILE: print the validated config after overrides.",
    )
    parser.add_argument("config", nargs="?", help="YAML config file")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one key (repeatable)")
    args = parser.parse_args(argv)
    if args.config is None and not args.overrides:
        print(describe())
        return 0
    try:
        cfg = load(args.config, args.overrides)
        tasks.resolve(cfg)  # the config's task checks its model and keys (classification: validate_model)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(cfg.to_yaml(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
