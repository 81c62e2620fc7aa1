"""``parity list | run | report | compare | bench | upgrade-check | audit | pretrain``: the command line.

Exit codes everywhere: 0 success, 1 a finding the command exists to report,
2 bad input or usage (one line per problem on stderr, no traceback),
70 an internal error -- a bug, never a finding: one line naming the file that holds the traceback,
74 the output could not be written mid-run (a full disk; finished jobs are kept, ``--resume`` finishes),
130 interrupted by SIGINT, SIGTERM or SIGHUP (finished jobs are kept; ``--resume`` continues),
141 the output's reader went away (``parity list | head``).
"""
from __future__ import annotations

import errno
import os
import signal
import sys

from parity import frameworks
from parity.cli.common import (EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_PIPE_CLOSED, EXIT_UNWRITABLE,
                               UsageError, err, say)
from parity.cli.parser import build_parser


def main(argv: list[str] | None = None) -> int:
    def on_term(signum, frame):
        raise KeyboardInterrupt

    for signum in (signal.SIGTERM, signal.SIGHUP):   # as Ctrl-C: finished jobs kept, one line, exit 130
        signal.signal(signum, on_term)
    frameworks.set_process_env()   # tfds (dataset preparation) imports TensorFlow in this process
    try:
        args = build_parser().parse_args(argv)
        if not getattr(args, "fn", None):
            raise UsageError("parity: give a command: list, run, report, compare, bench, upgrade-check, audit or "
                             "pretrain (see --help)")
        return args.fn(args)
    except UsageError as e:
        for line in str(e).splitlines():
            say(line if line.startswith(("parity:", "parity ")) else f"parity: {line}")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        err("interrupted: finished jobs are kept; rerun with --resume to finish the suite")
        return EXIT_INTERRUPTED
    except BrokenPipeError:   # the reader went away (`parity list | head`): nothing more to say, no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # Python's exit flush must not fail too
        return EXIT_PIPE_CLOSED
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            return _internal_error(sys.argv[1:] if argv is None else argv)
        err(f"no space left on device writing {e.filename or 'the output'}: free space and run the command again")
        return EXIT_UNWRITABLE
    except Exception:
        return _internal_error(sys.argv[1:] if argv is None else argv)


def _internal_error(argv: list[str]) -> int:
    """An exception nothing expected: a bug, never a finding. One line; the traceback kept in a file."""
    import tempfile
    import traceback

    from parity.process import one_line

    summary = one_line(sys.exc_info()[1], limit=300)
    try:
        fd, path = tempfile.mkstemp(prefix="bn-parity-error-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8") as log:
            log.write(f"parity {' '.join(argv)}\n\n")
            traceback.print_exc(file=log)
        where = f"the traceback is in {path}"
    except OSError:   # nowhere to write it: the traceback is all that can be said
        traceback.print_exc()
        where = "the traceback is above"
    err(f"internal error, not a finding ({summary}); {where}; please report it")
    return EXIT_INTERNAL
