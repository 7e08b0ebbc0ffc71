"""`scripts/swarm`: one run of the model on a Docker Swarm of one host or several, from stack file to analysis.

    scripts/swarm up                                     # 3 nodes, 60 s, on this machine
    scripts/swarm up --nodes 5 --duration 15 --rates 1,2,3,4,6 --seed 42
    scripts/swarm up --nodes 4 --hosts host-a,host-b     # round-robin: node1, node3 on host-a
    scripts/swarm up --place node1=host-a,node2=host-b,node3=host-b --collect ssh
    scripts/swarm down [STACK ...] [--leave]             # what a killed `up` left behind
    scripts/swarm stack 5 --out swarm-5.yml              # the stack file for N nodes (deploy/stackgen.py)

`up` uses this Docker's swarm (it must be a manager), or creates a single-node one (`docker swarm
init --advertise-addr 127.0.0.1`) and leaves it at the end. It checks the options as the nodes
would (node.config: one line naming the variable), places node k on a swarm node (--place, else
round-robin over --hosts, else over the swarm's ready nodes), creates the run folder LOGS/RUN with
run.json (node.runfolder, as compose's init does), tags the node image with the name the stack
expects, deploys the generated stack (`--resolve-image never`: no registry needed when every host
has the image), prints progress until every node has exited, then removes the stack (always: also
after a failure, Ctrl-C or SIGTERM), brings the node logs of other hosts into LOGS/RUN (--collect:
scp from each host's LOGS/RUN, or nothing when LOGS is shared storage) and runs the analysis
(python -m analysis). Exit codes: 0 every node exited 0, its log is in LOGS/RUN and the analysis
ran; 1 a node, the collection, the analysis or a docker command failed, or the run outlasted
--timeout (one line says which); 2 bad options; 128+N after signal N.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from deploy.compose import ROOT, ComposeError, ComposeProject, strip_ansi
from deploy.stackgen import (
    DEFAULT_REGISTRY,
    IMAGE_NAME,
    STACK_DEFAULTS,
    Deployment,
    cluster_environments,
    node_ids,
    stack_file,
)
from node.config import DELIVERY_MODES, LATEST, MAX_SEED, PER_NODE, RunOptions, load_config
from node.runfolder import RUN_FILE, RunFolderError, create_run

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_STACK = "lamport"
STACK_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
STACK_LABEL = "com.docker.stack.namespace"  # Docker's label on a stack's services, networks, containers
GWBRIDGE = "docker_gwbridge"  # the bridge Docker makes for overlay networks; `swarm leave` keeps it
STACK_FILE_NAME = "swarm-stack.yml"  # the deployed file, kept in the run folder
# Task states after which a task never runs again (restart_policy none: one task per node).
DONE = frozenset({"complete", "failed", "shutdown", "rejected", "orphaned", "remove"})
NEVER_RAN = frozenset({"rejected", "orphaned"})  # the node never started: the run cannot happen
POLL_S = 2.0  # between `docker stack ps` calls while the nodes run (a few ms of CPU each)
PROGRESS_S = 10.0  # a progress line at least this often, and whenever a node changes state
MARGIN_S = 60.0  # the default --timeout's allowance for scheduling and image loading
REMOVE_TIMEOUT_S = 60.0  # for `docker stack rm` to take the services, containers and network away


class SwarmError(Exception):
    """The swarm, the stack or the run failed (one line)."""


class Interrupted(Exception):  # noqa: N818 (an event, not an error)
    """SIGINT or SIGTERM arrived: clean up, then exit 128 + signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def say(text: str) -> None:
    print(f"swarm: {text}", flush=True)


# -- docker ---------------------------------------------------------------------------------------
def docker(*args: str, check: bool = True, timeout: float = 300) -> str:
    """`docker ARGS`' output; ComposeError (deploy.compose) when it exits non-zero and `check`."""
    result = subprocess.run(["docker", *args], capture_output=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise ComposeError(result.returncode, ["docker", *args], result.stdout, result.stderr)
    return strip_ansi(result.stdout.decode(errors="replace"))


def one_line(error: ComposeError) -> str:
    """A failed docker command in one line: the command and the last line it printed."""
    output = b"".join(x for x in (error.stdout, error.stderr) if isinstance(x, bytes))
    lines = [line.strip() for line in strip_ansi(output.decode(errors="replace")).splitlines() if line.strip()]
    command = " ".join(error.cmd[:3]) if isinstance(error.cmd, list) else str(error.cmd)
    return f"`{command} ...` exited with {error.returncode}: {lines[-1] if lines else 'no output'}"


# -- options --------------------------------------------------------------------------------------
def stack_variables(nodes: int) -> frozenset[str]:
    """The variables the stack file passes to the nodes (and so `--set` may give)."""
    per_node = {f"NODE{k}_{name}" for k in range(1, nodes + 1) for name in PER_NODE}
    return frozenset({*STACK_DEFAULTS, *per_node} - {"PORT"})


def node_settings(args: argparse.Namespace) -> dict[str, str]:
    """The options as the cluster-wide variables of the stack (ValueError: a bad option)."""
    allowed = stack_variables(args.nodes)
    env: dict[str, str] = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"--set {item!r}: expected NAME=VALUE")
        if name not in allowed:
            raise ValueError(f"--set {name}: not a variable the stack passes to the nodes (README: Configuration)")
        env[name] = value.strip()
    shortcuts = {
        "MIN_CLOCK_RATE": args.min_rate,
        "MAX_CLOCK_RATE": args.max_rate,
        "MAX_EVENT_NUM": args.max_event_num,
        "DURATION": args.duration,
        "DELIVERY": args.delivery,
    }
    env.update(
        {
            name: f"{value:g}" if isinstance(value, float) else str(value)
            for name, value in shortcuts.items()
            if value is not None
        }
    )
    if args.rates:
        values = [v.strip() for v in args.rates.split(",")]
        if len(values) != args.nodes:
            raise ValueError(f"--rates {args.rates}: give {args.nodes} comma-separated rates, one per node")
        env.update({f"NODE{k}_CLOCK_RATE": v for k, v in enumerate(values, 1)})
    return env


def node_environments(nodes: int, settings: Mapping[str, str], run_id: str, seed: int) -> dict[str, dict[str, str]]:
    """Each node's variables as the deployed stack file gives them: the stack's defaults, the
    options, the run (deploy.stackgen.cluster_environments)."""
    return cluster_environments(nodes, {**STACK_DEFAULTS, **settings, "RUN_ID": run_id, "SEED": str(seed)})


def check_settings(environments: Mapping[str, Mapping[str, str]]) -> float:
    """Every node's configuration checked by the nodes' own load_config (ConfigError: the node's
    own line, e.g. MAX_EVENT_NUM below N); the run's bound in seconds: start timeout, duration,
    drain (ValueError for a run without end)."""
    configs = [load_config({**env, "LOG_DIR": "/logs"}) for env in environments.values()]
    config = configs[0]
    if config.duration <= 0:
        raise ValueError("--duration must be above 0: a swarm run ends by itself")
    return config.start_timeout + config.duration + config.drain_timeout


def parse_place(items: Sequence[str], ids: Sequence[str]) -> dict[str, str]:
    """--place node1=host-a,node2=host-b (repeatable) as {node: host} (ValueError: one line)."""
    placed: dict[str, str] = {}
    for item in (part.strip() for text in items for part in text.split(",")):
        node, sep, host = (x.strip() for x in item.partition("="))
        if not sep or not node or not host:
            raise ValueError(f"--place {item!r}: expected NODE=HOST, e.g. node1=host-a")
        if node not in ids:
            raise ValueError(f"--place {item}: no node {node!r} (nodes: {ids[0]} to {ids[-1]})")
        if node in placed:
            raise ValueError(f"--place names {node} twice")
        placed[node] = host
    return placed


@dataclass(frozen=True)
class SwarmNode:
    """One swarm node as `docker node ls` shows it."""

    hostname: str
    status: str = "Ready"
    availability: str = "Active"
    local: bool = False  # the node this command runs on

    @property
    def usable(self) -> bool:
        return self.status.lower() == "ready" and self.availability.lower() == "active"


def place(
    ids: Sequence[str], swarm: Sequence[SwarmNode], hosts: Sequence[str] = (), placed: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Each node's host: `placed` (--place), the others round-robin by node number over `hosts`
    (--hosts), else over the swarm's ready and active nodes by hostname. ValueError (one line)
    for a host the swarm does not have, cannot use, or has twice."""
    placed = dict(placed or {})
    by_name: dict[str, SwarmNode] = {}
    for node in swarm:
        if node.hostname in by_name:
            raise ValueError(f"two swarm nodes are called {node.hostname!r}: placement by hostname needs unique ones")
        by_name[node.hostname] = node
    for host in [*hosts, *placed.values()]:
        found = by_name.get(host)
        if found is None:
            raise ValueError(f"no swarm node {host!r} (the swarm has: {', '.join(sorted(by_name)) or 'none'})")
        if not found.usable:
            raise ValueError(f"swarm node {host!r} is {found.status}/{found.availability}: it cannot run a node")
    pool = list(hosts) or sorted(n.hostname for n in swarm if n.usable)
    if not pool:
        raise ValueError("no swarm node is ready and active")
    return {node: placed.get(node) or pool[k % len(pool)] for k, node in enumerate(ids)}


# -- the swarm ------------------------------------------------------------------------------------
def swarm_state() -> tuple[str, bool]:
    """This Docker's swarm state (inactive, active, pending, error, locked) and whether it is a manager."""
    shown = docker("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}")
    state, _, control = shown.strip().partition(" ")
    return state, control == "true"


def use_or_create_swarm(advertise_addr: str) -> bool:
    """Make sure this Docker manages a swarm; True when this call created it (single-node)."""
    state, manager = swarm_state()
    if state == "inactive":
        docker("swarm", "init", "--advertise-addr", advertise_addr)
        say(f"created a single-node swarm (advertise address {advertise_addr}); it is left at the end")
        return True
    if state != "active":
        raise SwarmError(f"this Docker's swarm is {state}: fix it (docker info) or leave it (docker swarm leave)")
    if not manager:
        raise SwarmError("this Docker is a swarm worker: run scripts/swarm on a manager (docker node ls there)")
    return False


def swarm_nodes() -> list[SwarmNode]:
    rows = [json.loads(line) for line in docker("node", "ls", "--format", "{{json .}}").splitlines() if line.strip()]
    return [SwarmNode(r["Hostname"], r["Status"], r["Availability"], bool(r.get("Self"))) for r in rows]


def network_exists(name: str) -> bool:
    return bool(docker("network", "ls", "--quiet", "--filter", f"name=^{name}$").strip())


def leave_swarm(gwbridge_before: bool) -> None:
    """Leave the swarm this command created, and remove the bridge Docker made for it (`swarm
    leave` removes the ingress network but keeps docker_gwbridge)."""
    docker("swarm", "leave", "--force")
    if not gwbridge_before and network_exists(GWBRIDGE):
        docker("network", "rm", GWBRIDGE)
    say("left the swarm this command created")


def deploy_stack(path: Path, name: str) -> None:
    """`docker stack deploy --resolve-image never` (the hosts' own images: no registry is asked);
    its warnings (an option Swarm ignores) are shown, its `Creating service ...` lines are not."""
    command = ["docker", "stack", "deploy", "--detach=true", "--resolve-image", "never", "-c", str(path), name]
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0:
        raise ComposeError(result.returncode, command, result.stdout, result.stderr)
    for line in strip_ansi(result.stderr.decode(errors="replace")).splitlines():
        if line.strip():
            say(f"docker stack deploy: {line.strip()}")


def stack_names() -> list[str]:
    return [line.strip() for line in docker("stack", "ls", "--format", "{{.Name}}").splitlines() if line.strip()]


def stack_leftovers(name: str) -> list[str]:
    """What of stack `name` is still there: its services (swarm-wide), and its containers and
    networks on this host."""
    label = f"label={STACK_LABEL}={name}"
    found = []
    for kind, command in (
        ("service", ("service", "ls", "--quiet", "--filter", label)),
        ("container", ("ps", "--all", "--quiet", "--filter", label)),
        ("network", ("network", "ls", "--quiet", "--filter", label)),
    ):
        count = len(docker(*command).split())
        if count:
            found.append(f"{count} {kind}{'s' if count > 1 else ''}")
    return found


def remove_stack(name: str, timeout: float = REMOVE_TIMEOUT_S) -> None:
    """`docker stack rm`, then wait until its services, containers and network are gone (the
    command returns before they are, whatever --detach says, with this Docker)."""
    docker("stack", "rm", name, check=False)
    deadline = time.monotonic() + timeout
    while left := stack_leftovers(name):
        if time.monotonic() > deadline:
            raise SwarmError(f"stack {name}: {', '.join(left)} still there {timeout:g} s after `docker stack rm`")
        time.sleep(0.5)
    say(f"removed stack {name}")


# -- the image ------------------------------------------------------------------------------------
def image_id(name: str) -> str | None:
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", name], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else None


def tag_image(source: str, target: str) -> Callable[[], None]:
    """Tag `source` as `target`; return what puts `target` back as it was (untagged, or its old image)."""
    before = image_id(target)
    docker("tag", source, target)

    def restore() -> None:
        if before is None:
            docker("image", "rm", "--no-prune", target)
        elif image_id(target) != before:
            docker("tag", before, target)

    return restore


# -- the run --------------------------------------------------------------------------------------
def hand_to_owner(log_dir: Path, paths: Sequence[Path]) -> None:
    """Give what this process made in LOG_DIR to LOG_DIR's owner, as compose's init (which runs as
    that owner) would have made it: the nodes take that identity (node.identity) and must write
    into the run folder. Only root can, and only root needs to."""
    owner = log_dir.stat()
    if os.geteuid() != 0 or owner.st_uid == 0:
        return
    for path in paths:
        os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)


def new_run(log_dir: Path, run_id: str | None, seed: int, swarm: Mapping[str, object]) -> Path:
    """The run folder with run.json (node.runfolder.create_run; `latest` points at it), the
    swarm's account added to run.json (stack, image, each node's host)."""
    run = create_run(RunOptions(log_dir, run_id, seed))
    info_path = run.folder / RUN_FILE
    info = json.loads(info_path.read_text())
    info_path.write_text(json.dumps({**info, "swarm": swarm}, indent=2) + "\n")
    hand_to_owner(log_dir, [run.folder, info_path, log_dir / LATEST])
    for note in run.notes:
        say(note)
    return run.folder


@dataclass(frozen=True)
class Task:
    """A node's task as `docker stack ps` shows it."""

    task_id: str
    node: str  # node id (the service's name in the stack)
    host: str  # the swarm node it was given to ('' while pending)
    state: str  # lowercase: pending, preparing, starting, running, complete, failed, rejected ...
    error: str


def parse_tasks(text: str, stack: str) -> dict[str, Task]:
    """`docker stack ps --no-trunc --format '{{json .}}'` output as each node's newest task."""
    tasks: dict[str, Task] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        service = str(row["Name"]).rsplit(".", 1)[0]
        node = service.removeprefix(f"{stack}_")
        state = str(row["CurrentState"]).split(" ", 1)[0].lower()
        # Listed newest first: the first task of a service is its current one.
        tasks.setdefault(node, Task(str(row["ID"]), node, str(row["Node"]), state, str(row["Error"]).strip('"')))
    return tasks


def read_tasks(stack: str) -> dict[str, Task]:
    result = subprocess.run(
        ["docker", "stack", "ps", "--no-trunc", "--format", "{{json .}}", stack],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:  # "nothing found in stack" until the services have tasks
        return {}
    return parse_tasks(result.stdout, stack)


def progress(tasks: Mapping[str, Task], ids: Sequence[str]) -> str:
    """Nodes by state, e.g. `running: node1 node2; pending: node3 (no suitable node ...)`."""
    groups: dict[str, list[str]] = {}
    for node in ids:
        task = tasks.get(node)
        state = task.state if task else "not scheduled"
        shown = f"{node} ({task.error})" if task and task.error and state not in ("complete", "running") else node
        groups.setdefault(state, []).append(shown)
    return "; ".join(f"{state}: {' '.join(nodes)}" for state, nodes in groups.items())


def wait_for_run(
    stack: str, ids: Sequence[str], timeout: float, clock: Callable[[], float] = time.monotonic
) -> dict[str, Task]:
    """Every node's final task once all have ended; a progress line whenever a node changes state
    and every PROGRESS_S. SwarmError when a node could not start (rejected: e.g. no such image on
    its host) or the run outlasts `timeout`."""
    start = clock()
    shown, shown_at = "", start
    while True:
        tasks = read_tasks(stack)
        for node in ids:
            task = tasks.get(node)
            if task and task.state in NEVER_RAN:
                raise SwarmError(f"{node} could not start on {task.host or 'any host'}: {task.state}: {task.error}")
        now = clock()
        line = progress(tasks, ids)
        if all(node in tasks and tasks[node].state in DONE for node in ids):
            say(f"{now - start:.0f} s: {line}")
            return tasks
        if now - start > timeout:
            raise SwarmError(f"the run is not over after {timeout:g} s (--timeout): {line}")
        if line != shown or now - shown_at >= PROGRESS_S:
            say(f"{now - start:.0f} s: {line}")
            shown, shown_at = line, now
        time.sleep(POLL_S)


def exit_codes(tasks: Mapping[str, Task]) -> dict[str, int]:
    """Each node's exit code (docker inspect of its task)."""
    ids = [t.task_id for t in tasks.values()]
    out = docker("inspect", "--format", "{{.ID}} {{.Status.ContainerStatus.ExitCode}}", *ids)
    by_task = {task: int(code) for task, _, code in (line.partition(" ") for line in out.splitlines() if line.strip())}
    return {t.node: by_task.get(t.task_id, -1) for t in tasks.values()}


def collect_commands(
    placement: Mapping[str, str], local: str, log_root: Path, folder: Path, mode: str
) -> list[list[str]]:
    """The commands that bring the logs of nodes that ran on other hosts into `folder`: with
    mode ssh, `scp HOST:LOG_ROOT/RUN/NODE.jsonl FOLDER/` each (HOST as ssh knows it: ~/.ssh/config
    may map a swarm hostname to an address and a user); none when LOG_ROOT is shared (NFS) or
    every node ran here. `auto`: ssh when any node ran elsewhere."""
    remote = {node: host for node, host in placement.items() if host != local}
    if mode == "none" or (mode == "auto" and not remote):
        return []
    source = log_root / folder.name
    return [
        ["scp", "-q", "-o", "BatchMode=yes", f"{host}:{source / f'{node}.jsonl'}", f"{folder}/"]
        for node, host in remote.items()
    ]


def run_analysis(folder: Path, log_dir: Path) -> int:
    """`python -m analysis` on the run, as compose's summary service runs it (output shown)."""
    return subprocess.run(
        [sys.executable, "-m", "analysis", "--log-dir", str(log_dir), str(folder)], cwd=ROOT, check=False
    ).returncode


@contextmanager
def cleaning_up() -> Iterator[ExitStack]:
    """An ExitStack of clean-up steps that run on every way out: SIGINT and SIGTERM raise
    Interrupted meanwhile, and are ignored while the steps run (so a second Ctrl-C does not cut
    `docker stack rm` short; its docker commands inherit that)."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signum)

    signals = (signal.SIGINT, signal.SIGTERM)
    old = {s: signal.signal(s, interrupt) for s in signals}
    steps = ExitStack()
    try:
        yield steps
    finally:
        for s in signals:
            signal.signal(s, signal.SIG_IGN)
        try:
            steps.close()
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)


def up(args: argparse.Namespace) -> int:
    ids = node_ids(args.nodes)
    seed = args.seed if args.seed is not None else secrets.randbelow(MAX_SEED + 1)
    settings = node_settings(args)
    bound = check_settings(node_environments(args.nodes, settings, args.run_id or "check", seed))
    placed = parse_place(args.place, ids)
    hosts = [h.strip() for h in args.hosts.split(",") if h.strip()] if args.hosts else []
    log_dir = args.logs.resolve()
    if not log_dir.is_dir():
        raise ValueError(f"--logs {args.logs}: no such folder")
    timeout = args.timeout if args.timeout is not None else bound + MARGIN_S
    if args.build:
        say("building the images (docker compose build)")
        ComposeProject().build()
    image = args.image or f"{args.registry}/{IMAGE_NAME}"
    if image_id(args.image or IMAGE_NAME) is None:
        build = "docker pull it" if args.image else "build it (`docker compose build`, or scripts/swarm up --build)"
        raise SwarmError(f"no image {args.image or IMAGE_NAME} here: {build}")

    with cleaning_up() as cleanup:
        gwbridge_before = network_exists(GWBRIDGE)
        if use_or_create_swarm(args.advertise_addr):
            cleanup.callback(leave_swarm, gwbridge_before)
        swarm = swarm_nodes()
        placement = place(ids, swarm, hosts, placed)
        if args.name in stack_names():
            raise SwarmError(f"a stack {args.name} is deployed already: `scripts/swarm down {args.name}`, or --name")
        if not args.image:
            cleanup.callback(tag_image(IMAGE_NAME, image))
        if args.push:
            docker("push", image)
        folder = new_run(log_dir, args.run_id, seed, {"stack": args.name, "image": image, "hosts": placement})
        stack_path = folder / STACK_FILE_NAME
        environments = node_environments(args.nodes, settings, folder.name, seed)
        deployment = Deployment(image, str(log_dir), placement, environments)
        stack_path.write_text(stack_file(args.nodes, str(stack_path), deployment))
        hand_to_owner(log_dir, [stack_path])
        cleanup.callback(remove_stack, args.name)
        deploy_stack(stack_path, args.name)
        where = ", ".join(f"{node} on {host}" for node, host in placement.items())
        say(f"stack {args.name}: {where}; logs in {folder} (seed {seed}: --seed {seed} repeats it)")
        tasks = wait_for_run(args.name, ids, timeout)
        codes = exit_codes(tasks)
    # The stack is removed and the swarm as it was: now the logs and the analysis.
    problems = [f"{node} exited with {code} on {tasks[node].host}" for node, code in codes.items() if code != 0]
    local = next((n.hostname for n in swarm if n.local), "")
    for command in collect_commands(placement, local, log_dir, folder, args.collect):
        say(" ".join(command))
        if subprocess.run(command, check=False).returncode != 0:
            problems.append(f"could not copy {command[-2]}")
        elif (copied := folder / Path(command[-2]).name).is_file():
            hand_to_owner(log_dir, [copied])
    missing = [f"{node}.jsonl" for node in ids if not (folder / f"{node}.jsonl").is_file()]
    if missing:
        problems.append(f"no {', '.join(missing)} in {folder} (--collect: README Running on several hosts)")
    if not args.no_analysis and run_analysis(folder, log_dir) != 0:
        problems.append("the analysis failed")
    for line in problems:
        print(f"swarm: {line}", file=sys.stderr)
    say(f"run {folder.name}: {'failed' if problems else 'every node exited 0'}; logs in {folder}")
    return EXIT_FAILED if problems else EXIT_OK


def down(args: argparse.Namespace) -> int:
    state, manager = swarm_state()
    if state != "active" or not manager:
        say(f"this Docker manages no swarm ({state}): no stack to remove")
        return EXIT_OK
    deployed = stack_names()
    for name in args.stacks or [DEFAULT_STACK]:
        if name in deployed or stack_leftovers(name):
            remove_stack(name)
        else:
            say(f"no stack {name}")
    if args.leave:
        docker("swarm", "leave", "--force")
        say(f"left the swarm ({GWBRIDGE} stays: `docker network rm {GWBRIDGE}` if nothing else uses it)")
    return EXIT_OK


def write_stack(args: argparse.Namespace) -> int:
    if args.out is None:
        sys.stdout.write(stack_file(args.nodes, "swarm-stack.yml"))
        return EXIT_OK
    args.out.write_text(stack_file(args.nodes, str(args.out)))
    print(f"wrote {args.out}: {args.nodes} nodes")
    return EXIT_OK


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/swarm",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("up", help="one run on the swarm, then the analysis")
    run.add_argument("--nodes", type=int, default=3, help="number of nodes node1..nodeN (default 3)")
    run.add_argument("--rates", help="comma-separated rates (ticks/s) for node1, node2, ... (default: drawn)")
    run.add_argument("--min-rate", type=int, help=f"MIN_CLOCK_RATE (default {STACK_DEFAULTS['MIN_CLOCK_RATE']})")
    run.add_argument("--max-rate", type=int, help=f"MAX_CLOCK_RATE (default {STACK_DEFAULTS['MAX_CLOCK_RATE']})")
    run.add_argument("--max-event-num", type=int, help=f"MAX_EVENT_NUM (default {STACK_DEFAULTS['MAX_EVENT_NUM']})")
    run.add_argument("--duration", type=float, help=f"seconds of ticking (default {STACK_DEFAULTS['DURATION']})")
    run.add_argument("--delivery", choices=DELIVERY_MODES, help="DELIVERY (default reliable)")
    run.add_argument("--seed", type=int, help="the run's seed (default: drawn, and printed)")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a node variable the stack passes, as in .env (NET_DELAY_MS=20, NODE2_NET_JITTER_MS=5)",
    )
    run.add_argument("--run-id", help="the run folder's name (default: the start time, UTC)")
    run.add_argument("--hosts", help="swarm nodes (hostnames) to place node1, node2, ... on in turn (default: all)")
    run.add_argument(
        "--place",
        action="append",
        default=[],
        metavar="NODE=HOST,...",
        help="put these nodes on these swarm nodes (the others go round-robin)",
    )
    run.add_argument(
        "--logs",
        type=Path,
        default=ROOT / "logs",
        help="LOG_ROOT: where run folders go, the same path on every host (default: the repository's logs/)",
    )
    run.add_argument(
        "--collect",
        choices=("auto", "ssh", "none"),
        default="auto",
        help="other hosts' logs: scp from each (ssh), none (shared LOG_ROOT); auto: ssh if any",
    )
    run.add_argument(
        "--image",
        help="the node image every host has, used as is "
        "(default: REGISTRY/lamport-node:latest, tagged here from lamport-node:latest)",
    )
    run.add_argument(
        "--registry",
        default=os.environ.get("REGISTRY") or DEFAULT_REGISTRY,
        help=f"REGISTRY of the image name (default: $REGISTRY or {DEFAULT_REGISTRY})",
    )
    run.add_argument("--push", action="store_true", help="push the image to the registry first (several hosts)")
    run.add_argument("--build", action="store_true", help="build the images first (docker compose build)")
    run.add_argument("--name", default=DEFAULT_STACK, help=f"the stack's name (default {DEFAULT_STACK})")
    run.add_argument("--advertise-addr", default="127.0.0.1", help="for a swarm this command creates")
    run.add_argument("--timeout", type=float, help="seconds to wait for the nodes (default: start, run, drain + 60)")
    run.add_argument("--no-analysis", action="store_true", help="skip python -m analysis")
    stop = commands.add_parser("down", help="remove stacks (default: lamport), e.g. after a killed `up`")
    stop.add_argument("stacks", nargs="*", help=f"stack names (default {DEFAULT_STACK})")
    stop.add_argument("--leave", action="store_true", help="then leave the swarm (docker swarm leave --force)")
    gen = commands.add_parser("stack", help="write the stack file for N nodes (deploy/stackgen.py)")
    gen.add_argument("nodes", type=int, help="number of nodes")
    gen.add_argument("--out", type=Path, help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    if args.command == "up" and not STACK_PATTERN.fullmatch(args.name):
        parser.error(f"--name {args.name!r}: 1-63 letters, digits, '_' or '-'")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = {"up": up, "down": down, "stack": write_stack}[args.command]
    try:
        return command(args)
    except (ValueError, RunFolderError) as error:  # ConfigError is a ValueError
        print(f"swarm: {error}", file=sys.stderr)
        return EXIT_USAGE
    except SwarmError as error:
        print(f"swarm: {error}", file=sys.stderr)
    except ComposeError as error:
        print(f"swarm: {one_line(error)}", file=sys.stderr)
    except (Interrupted, KeyboardInterrupt) as error:
        signum = error.signum if isinstance(error, Interrupted) else signal.SIGINT
        print(f"swarm: interrupted ({signal.Signals(signum).name}); cleaned up", file=sys.stderr)
        return 128 + signum
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
