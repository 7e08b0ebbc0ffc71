"""The suite's Docker side: build, run the real compose file in a project of its own, sample costs.

A run is `docker compose up --no-build node1 node2 node3` (init runs first as their dependency;
the `summary` analysis service is not started) with the rates, duration and log folder pinned
through the environment, exactly as a user would override `.env`. While it runs, a sampler reads
each node's CPU time and resident memory from /proc of its container's main process (the node
is PID 1 of its container), once a second.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "lamportbench"
NODES = ("node1", "node2", "node3")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


NODE_IMAGE = "lamport-node:latest"  # what docker-compose.yml runs


def use_node_image(image: str) -> None:
    """Run the nodes from another image (e.g. an older build, for before/after): a compose override
    file in bench/raw/ replaces the image of init and the nodes; docker-compose.yml is unchanged."""
    override = ROOT / "bench" / "raw" / "compose.node-image.yml"
    override.parent.mkdir(parents=True, exist_ok=True)
    services = "".join(f"  {name}:\n    image: {image}\n" for name in ("init", *NODES))
    override.write_text(f"# written by python -m bench --node-image\nservices:\n{services}")
    os.environ["COMPOSE_FILE"] = os.pathsep.join(["docker-compose.yml", str(override)])


def compose_env(logs: Path, env: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        "COMPOSE_PROJECT_NAME": PROJECT,
        "HOST_LOG_DIR": str(logs),
        "COMPOSE_ANSI": "never",
        "COMPOSE_STATUS_STDOUT": "1",
        **env,
    }


def compose(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "compose", *args], cwd=ROOT, env=env, text=True, capture_output=True, check=False)


def exit_codes(env: dict[str, str]) -> dict[str, int]:
    """Exit code of each service of the project in `env` (compose prints a list or JSON lines)."""
    text = compose(["ps", "--all", "--format", "json"], env).stdout.strip()
    if not text:
        return {}
    entries = json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines()]
    codes: dict[str, int] = {}
    for entry in entries:
        with contextlib.suppress(KeyError, TypeError, ValueError):
            codes[str(entry["Service"])] = int(entry["ExitCode"])
    return codes


def build_images() -> None:
    result = subprocess.run(
        ["docker", "compose", "build", "--quiet"], cwd=ROOT, text=True, capture_output=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"docker compose build failed:\n{result.stdout}{result.stderr}")


def image_size(image: str) -> int | None:
    result = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Size}}", image], text=True, capture_output=True, check=False
    )
    return int(result.stdout.strip()) if result.returncode == 0 else None


@dataclass
class Sample:
    t: float  # time.time()
    cpu_s: float  # user + system CPU seconds of the process so far
    rss_kb: int


@dataclass
class ProcessSampler:
    """Samples /proc/<pid> of each node once a second in a background thread."""

    pids: dict[str, int]
    interval: float = 1.0
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    peak_rss_kb: dict[str, int] = field(default_factory=dict)
    system: list[tuple[float, float, int]] = field(default_factory=list)  # (time, idle seconds, CPUs)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        alive = dict(self.pids)
        while alive and not self._stop.is_set():
            idle = idle_seconds()
            if idle is not None:
                self.system.append((time.time(), *idle))
            for node, pid in list(alive.items()):
                sample = read_proc(pid)
                if sample is None:
                    del alive[node]
                    continue
                self.samples.setdefault(node, []).append(sample[0])
                self.peak_rss_kb[node] = max(self.peak_rss_kb.get(node, 0), sample[1])
            self._stop.wait(self.interval)

    def cpu_percent(self, node: str, start: float, end: float) -> float | None:
        """Mean CPU use (% of one core) over the samples within [start, end]."""
        inside = [s for s in self.samples.get(node, []) if start <= s.t <= end]
        if len(inside) < 2:
            inside = self.samples.get(node, [])
        if len(inside) < 2 or inside[-1].t <= inside[0].t:
            return None
        return 100 * (inside[-1].cpu_s - inside[0].cpu_s) / (inside[-1].t - inside[0].t)

    def system_percent(self, start: float, end: float) -> float | None:
        """Mean CPU use of the whole machine over [start, end], in % of one core (2 cores: 200 %)."""
        inside = [s for s in self.system if start <= s[0] <= end]
        if len(inside) < 2:
            inside = self.system
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return None
        (t0, idle0, cpus), (t1, idle1, _) = inside[0], inside[-1]
        return 100 * (cpus * (t1 - t0) - (idle1 - idle0)) / (t1 - t0)

    def rss_mb(self, node: str, start: float, end: float) -> float | None:
        """Largest resident set seen while ticking, in MiB."""
        inside = [s.rss_kb for s in self.samples.get(node, []) if start <= s.t <= end]
        return max(inside) / 1024 if inside else None


def idle_seconds() -> tuple[float, int] | None:
    """(seconds all CPUs have been idle, number of CPUs).

    From cpuidle's per-state residency (microseconds, exact) when the kernel has it; else from
    /proc/stat, whose idle time is sampled at each timer tick and can alias with tick rates that
    are multiples of HZ (measured here: a 1000 ticks/s run looked idler than the nodes alone).
    """
    cpus = sorted(Path("/sys/devices/system/cpu").glob("cpu[0-9]*/cpuidle"))
    if cpus:
        try:
            total = sum(int((state / "time").read_text()) for cpu in cpus for state in cpu.glob("state*"))
            return total / 1e6, len(cpus)
        except (OSError, ValueError):
            pass
    try:
        with open("/proc/stat", encoding="ascii") as f:
            lines = f.read().splitlines()
        fields = [int(x) for x in lines[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    count = sum(1 for line in lines[1:] if line.startswith("cpu"))
    return (fields[3] + fields[4]) / CLOCK_TICKS, count


def read_proc(pid: int) -> tuple[Sample, int] | None:
    """(sample, peak RSS kB) of a process, None once it is gone."""
    try:
        now = time.time()
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            stat = f.read()
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            status = f.read()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14, 15 of stat)
    values = {}
    for line in status.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return Sample(now, cpu, values.get("VmRSS", 0)), values.get("VmHWM", 0)


@dataclass
class ComposeRun:
    """One `docker compose up node1 node2 node3` of the real compose file in the bench project."""

    logs: Path
    env: dict[str, str]
    timeout: float
    output: Path
    launched_at: float = 0.0
    exit_codes: dict[str, int] = field(default_factory=dict)
    sampler: ProcessSampler | None = None
    other_containers: list[str] = field(default_factory=list)  # running beside ours: disturbs timing

    def run(self) -> None:
        env = compose_env(self.logs, self.env)
        compose(["down", "--volumes", "--remove-orphans"], env)  # leftovers of an interrupted suite
        self.logs.mkdir(parents=True, exist_ok=True)
        with self.output.open("w") as out:
            self.launched_at = time.time()
            process = subprocess.Popen(
                ["docker", "compose", "up", "--no-build", *NODES],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            try:
                pids = self._wait_for_pids(env, process)
                if pids:
                    self.sampler = ProcessSampler(pids)
                    self.sampler.start()
                self.other_containers = other_containers()
                process.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                process.terminate()
                process.wait(timeout=30)
            finally:
                if self.sampler is not None:
                    self.sampler.stop()
                self.exit_codes = self._exit_codes(env)
                compose(["down", "--volumes", "--remove-orphans"], env)

    def _wait_for_pids(self, env: dict[str, str], process: subprocess.Popen[bytes]) -> dict[str, int]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            pids: dict[str, int] = {}
            for node in NODES:
                cid = compose(["ps", "-q", node], env).stdout.strip()
                if not cid:
                    break
                inspect = subprocess.run(
                    ["docker", "inspect", "-f", "{{.State.Pid}}", cid], text=True, capture_output=True, check=False
                )
                pid = int(inspect.stdout.strip() or 0)
                if pid <= 0:
                    break
                pids[node] = pid
            if len(pids) == len(NODES):
                return pids
            time.sleep(0.1)
        return {}

    def _exit_codes(self, env: dict[str, str]) -> dict[str, int]:
        return exit_codes(env)

    def run_folder(self) -> Path:
        return (self.logs / "latest").resolve()


def other_containers() -> list[str]:
    """Running containers that are not the suite's own."""
    result = subprocess.run(["docker", "ps", "--format", "{{.Names}}"], text=True, capture_output=True, check=False)
    return sorted(name for name in result.stdout.split() if not name.startswith(PROJECT))


def run_reference(mode: str, rate: int, duration: float, out: Path, output: Path, image: str = NODE_IMAGE) -> float:
    """Three reference loops (bench.naive) in containers of the node image, side by side, like the
    three nodes; returns the launch time."""
    out.mkdir(parents=True, exist_ok=True)
    names = [f"{PROJECT}-{mode}-{node}" for node in NODES]
    for name in names:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    launched = time.time()
    for name, node in zip(names, NODES, strict=True):
        # Locked down like the compose services; bench/ is mounted next to the image's node/.
        command = ["docker", "run", "-d", "--name", name, "--network", "none", "--read-only", "--cap-drop", "ALL"]
        command += [
            "--security-opt",
            "no-new-privileges:true",
            "--tmpfs",
            "/tmp",
            "--user",
            f"{os.getuid()}:{os.getgid()}",
        ]
        command += ["-v", f"{ROOT / 'bench'}:/app/bench:ro", "-v", f"{out}:/out", "--entrypoint", "python", image]
        command += ["-m", "bench.naive", "--mode", mode, "--rate", str(rate), "--duration", str(duration)]
        command += ["--node", node, "--out", "/out"]
        subprocess.run(command, check=True, capture_output=True)
    with output.open("w") as log:
        for name in names:
            wait = subprocess.run(
                ["docker", "wait", name], text=True, capture_output=True, check=False, timeout=duration * 3 + 120
            )
            logs = subprocess.run(["docker", "logs", name], text=True, capture_output=True, check=False)
            log.write(f"== {name}: exit {wait.stdout.strip()}\n{logs.stdout}{logs.stderr}")
            subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    return launched
