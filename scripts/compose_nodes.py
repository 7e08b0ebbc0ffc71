#!/usr/bin/env python3
"""Write docker-compose.<N>.yml: the cluster with N nodes, for `docker compose -f ... up`.

    python3 scripts/compose_nodes.py 5          # writes docker-compose.5.yml at the repository root
    docker compose -f docker-compose.5.yml up   # init, node1..node5, the summary, the result

Every service `extends` its counterpart in docker-compose.yml (same images, lock-down, volumes,
environment and .env defaults); only names, peers and dependencies are generated, from the one
definition of an N-node cluster (deploy/stackgen.py, which also generates the swarm stack file).
Node k may be pinned with NODE<k>_CLOCK_RATE and given a network delay of its own with
NODE<k>_NET_DELAY_MS and NODE<k>_NET_JITTER_MS (else NET_DELAY_MS, NET_JITTER_MS), as in
docker-compose.yml. MAX_EVENT_NUM must be at least N (draws 1..N-1 send to one peer each, N to
all; README: the rule). Standard library only (deploy.stackgen and node.config are).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: the repository's packages

from deploy.stackgen import MAX_NODES, MIN_NODES, compose_file  # noqa: E402

render = compose_file  # the name tests and older callers use


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("nodes", type=int, help=f"number of nodes ({MIN_NODES} to {MAX_NODES})")
    parser.add_argument("--out", type=Path, help="file to write (default: docker-compose.<N>.yml at the root)")
    args = parser.parse_args(argv)
    if not MIN_NODES <= args.nodes <= MAX_NODES:
        print(f"compose_nodes: {args.nodes} nodes: choose {MIN_NODES} to {MAX_NODES}", file=sys.stderr)
        return 2
    path = args.out or ROOT / f"docker-compose.{args.nodes}.yml"
    path.write_text(compose_file(args.nodes))
    print(f"wrote {path}: docker compose -f {path.name} up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
