"""The ``gateway`` command line. Each command group lives in its own module."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from gateway.cli import audit, keys, models, report, serve

BROKEN_PIPE_EXIT = 141


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="A sensitivity-routing gateway for LLMs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve.register(sub)
    keys.register(sub)
    models.register(sub)
    audit.register(sub)
    report.register(sub)
    try:
        from gateway.cli import policy
    except ImportError:  # pragma: no cover - during bootstrap only
        pass
    else:
        policy.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Idle torch threads must sleep, not spin: on a few cores, spinning threads
    # slow every decoding step several times over. Read when torch is imported.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = args.handler
    try:
        code = int(handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_went_away()


def _reader_went_away() -> int:
    """The reader of standard output closed it (``gateway report ... | head``): end quietly.

    Standard output is pointed at ``/dev/null`` so that the interpreter's own
    flush at exit does not fail again; the exit status is a shell's for a
    command ended by SIGPIPE (128 + 13).
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)
    return BROKEN_PIPE_EXIT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
