"""The run folder's files, opened safely: only regular files read, outputs never written through a link.

Whoever can write into a run folder can plant anything there: a node file that is a FIFO (open()
would wait forever for a writer), a device or a link to one (/dev/zero never ends), a link out of
the folder; an output name (summary.json, a figure) that is a link to a file the analysis would
then overwrite. So `open_regular` opens without following a link and without blocking, and
refuses anything but a regular file; `write_output` writes a new temporary file in the folder and
renames it over the name: os.replace swaps a planted link itself, never its target.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in KINDS if test(mode)), "a special file")


def open_regular(path: Path) -> BinaryIO:
    """`path` opened for reading if it is a regular file; else OSError whose strerror says what it is.

    O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer (it is then refused);
    on a regular file the flag changes nothing. O_NOFOLLOW: a symbolic link is refused, not followed.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, "a symbolic link (not followed)", str(path)) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"{_kind(mode)}, not a regular file", str(path))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def regular_size(path: Path) -> int:
    """The size of `path` if it is a regular file (a link is not followed), else 0."""
    try:
        info = path.lstat()
    except OSError:
        return 0
    return info.st_size if stat.S_ISREG(info.st_mode) else 0


def write_output(folder: Path, name: str, write: Callable[[BinaryIO], object]) -> Path:
    """Write `folder/name` with `write(file)`: into a new file beside it, then renamed over the name.

    The temporary file is created with O_EXCL (which never follows a link); os.replace then swaps
    whatever held the name, a planted link included, for the new file. On any failure the
    temporary file is removed and the old `name` is left as it was.
    """
    path = folder / name
    temporary = folder / f".{name}.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    out = os.fdopen(os.open(temporary, flags, 0o666), "wb")
    try:
        with out:
            write(out)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def write_text(folder: Path, name: str, text: str) -> Path:
    """`write_output` of `text`, UTF-8."""
    return write_output(folder, name, lambda out: out.write(text.encode("utf-8")))
