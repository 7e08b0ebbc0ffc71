"""Where a run came from: the code's commit, the machine and its load. index.json records them with every run."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _output(*command: str, cwd: Path = ROOT) -> str | None:
    """A command's stdout, or None when it cannot run or fails (no git, no docker daemon)."""
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


# What a run writes itself, and the wheels scripts/setup downloads: not changes to the code.
NOT_CODE = ("experiments/results", "experiments/work", "wheels")


def code_version(root: Path = ROOT) -> dict[str, object] | None:
    """{"commit": HEAD, "dirty": uncommitted changes or untracked files outside NOT_CODE}, or None
    outside a git checkout. (Before 2026-11-26 afternoon a set's own result files, written as it
    ran, counted as changes: runs after a set's first one were marked dirty.)"""
    commit = _output("git", "rev-parse", "HEAD", cwd=root)
    status = _output("git", "status", "--porcelain", "--", ".", *(f":(exclude){p}" for p in NOT_CODE), cwd=root)
    if commit is None or status is None:
        return None
    return {"commit": commit.strip(), "dirty": bool(status.strip())}


def memory_gib() -> float | None:
    """The machine's memory (MemTotal of /proc/meminfo) in GiB, None where there is no /proc."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def docker_version() -> str | None:
    """The Docker server's version, None when there is none to ask."""
    found = (_output("docker", "version", "--format", "{{.Server.Version}}") or "").strip()
    return found or None


def machine(engine: str) -> dict[str, object]:
    """The machine a set runs on (nproc: the CPUs this process may use, as `nproc` counts them)."""
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 0)
    info: dict[str, object] = {
        "hostname": socket.gethostname(),
        "nproc": len(cpus),
        "memory_gib": memory_gib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }
    if engine == "containers":
        info["docker"] = docker_version()
    return info


def load_average() -> float | None:
    """The 1-minute load average (/proc/loadavg), None where there is none."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
