"""What every command shares: the exit codes, bad input as one line (UsageError), the files and folders a
command writes (each tried before any work), and the options several commands read."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from parity import frameworks

EXIT_OK, EXIT_FINDING, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 70, 130
EXIT_UNWRITABLE = 74   # sysexits' EX_IOERR: the output could not be written (a full disk) mid-run
EXIT_PIPE_CLOSED = 141   # what a shell reports for a process ended by SIGPIPE
# Where commands write by default: an ignored working folder, never a tracked file. Publishing into
# results/ (or the package's checkpoint) is a command of its own, with --out given on purpose.
WORK_DIR = Path("runs")


class UsageError(Exception):
    """Bad input: the CLI prints the message (one line per problem) and exits 2."""


def err(msg: str) -> None:
    say(f"parity: {msg}")


def say(line: str) -> None:
    """One line on stderr; a closed terminal (SIGHUP) cannot turn it into a traceback."""
    try:
        print(line, file=sys.stderr)
    except OSError:   # the exit code still says what happened
        pass


def output_file(path: str | Path, flag: str) -> Path:
    """A file the command will write, refused before any work when it cannot be one."""
    out = Path(path)
    try:
        if out.is_dir():
            raise UsageError(f"{flag}: {path} is a folder; give a file name")
    except OSError as e:   # e.g. a name too long
        raise UsageError(f"{flag}: {out} cannot be written ({e.strerror or type(e).__name__})") from None
    output_folder(out.parent, flag)
    return out


def first_existing(path: Path) -> Path:
    """The nearest of ``path`` and its parents that exists (os.path.exists: False, not an error, for a name
    too long or a folder that may not be read -- output_file then refuses it in one line)."""
    return next(p for p in (path, *path.parents) if os.path.exists(p))


def remove_made_folders(folder: Path, kept: Path) -> None:
    """Remove ``folder`` and its parents up to ``kept`` (which existed before), each only while empty."""
    for p in (folder, *folder.parents):
        if p == kept or not p.is_relative_to(kept):
            return
        try:
            p.rmdir()
        except OSError:
            return


def output_folder(path: str | Path, flag: str) -> Path:
    """A folder the command will write into, made (or found) and tried before any work."""
    out = Path(path)
    try:
        if out.exists() and not out.is_dir():
            raise UsageError(f"{flag}: {out} is a file, not a folder")
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:   # a file somewhere above it
        raise UsageError(f"{flag}: {out} cannot be made (a file is in its path)") from None
    except OSError as e:
        raise UsageError(f"{flag}: {out} cannot be made ({e.strerror or type(e).__name__})") from None
    _try_writing(out, flag)
    return out


def _try_writing(folder: Path, flag: str) -> None:
    """A file made and removed in ``folder``: a read-only, full or pseudo file system is found now, not
    after the work."""
    import tempfile

    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".parity-write-test-") as f:
            f.write(b"x" * 4096)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise UsageError(f"{flag}: {folder} cannot be written ({e.strerror or type(e).__name__})") from None


def to_json(data) -> str:
    """--json: what the command found, on stdout for a script (progress and summaries stay on stderr)."""
    return json.dumps(data, indent=1, default=str)


def parse_frameworks(text: str | None, here: bool = True) -> list[str] | None:
    """--frameworks -> names; with ``here``, a named framework this environment lacks is refused before
    anything runs (a suite's own list still runs without it: its column reads "not installed")."""
    try:
        names = frameworks.parse(text)
    except frameworks.UnknownFramework as e:
        raise UsageError(f"--frameworks: {e}") from None
    for name in (names or []) if here else []:
        lacking = frameworks.missing_modules(name)
        if lacking:
            raise UsageError(f"--frameworks: {name} is not installed here (no module {', '.join(lacking)})"
                             + (f"; {frameworks.get(name).install_hint}" if frameworks.get(name).install_hint else ""))
    return names


def parse_reference(name: str) -> str:
    """--reference -> a registered framework's name (one line, exit 2, with a did-you-mean, when it is not)."""
    try:
        return frameworks.get(name).name
    except frameworks.UnknownFramework as e:
        raise UsageError(f"--reference: {e}") from None
