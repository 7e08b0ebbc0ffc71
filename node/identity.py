"""Who a container process runs as: the owner of the log folder, never root for long.

Containers start as root with every capability dropped except SETUID/SETGID. Before creating
any file, a process takes the identity of whoever owns the bind-mounted log folder (the user who
cloned the project and ran compose), so its files are that user's. When that owner is root
itself, a node opens its log file first and then becomes `nobody`. Only active when
RUN_AS_LOG_OWNER=1 (set in the image), so tests that import this code are never affected.
"""

from __future__ import annotations

import os
from pathlib import Path

NOBODY = 65534


def _enabled() -> bool:
    return os.environ.get("RUN_AS_LOG_OWNER") == "1" and hasattr(os, "setuid") and os.geteuid() == 0


def _become(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def take_log_owner_identity(log_dir: Path) -> None:
    """Become the owner of `log_dir` (when that owner is not root)."""
    if not _enabled():
        return
    try:
        st = os.stat(log_dir)
    except OSError:
        return  # the caller reports the missing folder
    if st.st_uid != 0:
        _become(st.st_uid, st.st_gid)


def drop_root() -> None:
    """After opening files as root: continue as nobody."""
    if _enabled():
        _become(NOBODY, NOBODY)
