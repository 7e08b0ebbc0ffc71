"""The named experiment configurations: which environment each run of a set gets."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from node.config import DEFAULTS

# The assignment's configuration: docker-compose.yml's defaults (.env, node.config.DEFAULTS).
BASELINE = {name: DEFAULTS[name] for name in ("MIN_CLOCK_RATE", "MAX_CLOCK_RATE", "MAX_EVENT_NUM")}
NARROW_RATES = {"MIN_CLOCK_RATE": "5", "MAX_CLOCK_RATE": "6"}
FEWER_INTERNAL = {"MAX_EVENT_NUM": "5"}


def _internal_share(env: dict[str, str], nodes: int = 3) -> str:
    """Internal events among draws: MAX_EVENT_NUM - nodes of MAX_EVENT_NUM (README: the rule)."""
    n = int(env["MAX_EVENT_NUM"])
    return f"{(n - nodes) / n:.0%}"


@dataclass(frozen=True)
class Config:
    """One configuration of the cluster, as compose environment overrides."""

    name: str
    description: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def max_event_num(self) -> int:
        return int(self.env.get("MAX_EVENT_NUM", DEFAULTS["MAX_EVENT_NUM"]))


CONFIGS: dict[str, Config] = {
    c.name: c
    for c in (
        Config(
            "baseline",
            f"the assignment: rates {BASELINE['MIN_CLOCK_RATE']}..{BASELINE['MAX_CLOCK_RATE']}, "
            f"MAX_EVENT_NUM={BASELINE['MAX_EVENT_NUM']} ({_internal_share(BASELINE)} of draws internal)",
            BASELINE,
        ),
        Config("narrow-rates", "smaller variation in clock rates: 5..6", {**BASELINE, **NARROW_RATES}),
        Config(
            "fewer-internal",
            "smaller probability of internal events: MAX_EVENT_NUM=5 (40% internal)",
            {**BASELINE, **FEWER_INTERNAL},
        ),
        Config(
            "narrow-and-fewer", "both: rates 5..6 and MAX_EVENT_NUM=5", {**BASELINE, **NARROW_RATES, **FEWER_INTERNAL}
        ),
        Config(
            "extreme",
            f"one slow machine: node1 at 1 tick/s, node2 and node3 at 6, MAX_EVENT_NUM={BASELINE['MAX_EVENT_NUM']}",
            {**BASELINE, "NODE1_CLOCK_RATE": "1", "NODE2_CLOCK_RATE": "6", "NODE3_CLOCK_RATE": "6"},
        ),
    )
}


def run_seed(base_seed: int, config: str, index: int) -> int:
    """The seed of run `index` of `config` in a set started with `base_seed` (63 bits)."""
    digest = hashlib.sha256(f"{base_seed}/{config}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
