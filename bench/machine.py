"""What the suite ran on: CPU, cores, memory, kernel, Docker, load, and the code's git state."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from typing import Any

from bench.sampler import idle_seconds
from deploy.compose import ROOT


def _run(*command: str) -> str:
    try:
        result = subprocess.run(command, cwd=ROOT, text=True, capture_output=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip()


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def load() -> tuple[float, float, float]:
    return os.getloadavg()


def busy_percent(seconds: float) -> float | None:
    """How busy the whole machine is over the next `seconds`, in % of one core (2 cores: 200 %)."""
    before = idle_seconds()
    started = time.monotonic()
    time.sleep(seconds)
    after = idle_seconds()
    elapsed = time.monotonic() - started
    if before is None or after is None:
        return None
    return 100 * (before[1] * elapsed - (after[0] - before[0])) / elapsed


def describe() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "nproc": int(_run("nproc") or os.cpu_count() or 0),
        "memory_gib": memory_gib(),
        "kernel": platform.release(),
        "os": _run("sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"),
        "docker": _run("docker", "version", "--format", "{{.Server.Version}}"),
        "compose": _run("docker", "compose", "version", "--short"),
        "storage_driver": _run("docker", "info", "--format", "{{.Driver}}"),
        "cgroup": _run("docker", "info", "--format", "{{.CgroupVersion}}"),
        "host_python": platform.python_version(),
        "git": _run("git", "describe", "--always", "--dirty", "--abbrev=12"),
    }
