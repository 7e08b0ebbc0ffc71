"""In the container: write results as the owner of the log folder, never as root.

The analysis container starts as root (every capability dropped but SETUID/SETGID) and takes the
identity of whoever owns the bind-mounted log folder before writing anything, so summaries and
plots belong to the user who ran compose. Only active when RUN_AS_LOG_OWNER=1 (set in the image).
"""

from __future__ import annotations

import os
from pathlib import Path


def take_log_owner_identity(log_dir: Path) -> None:
    if os.environ.get("RUN_AS_LOG_OWNER") != "1" or not hasattr(os, "setuid") or os.geteuid() != 0:
        return
    try:
        st = os.stat(log_dir)
    except OSError:
        return
    if st.st_uid != 0:  # a root-owned folder: stay root, the files are root's like the folder
        os.setgroups([])
        os.setgid(st.st_gid)
        os.setuid(st.st_uid)
