"""The named experiment configurations: which environment each run of a set gets."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Config:
    """One configuration of the cluster, as compose environment overrides."""

    name: str
    description: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def max_event_num(self) -> int:
        return int(self.env.get("MAX_EVENT_NUM", "10"))


CONFIGS: dict[str, Config] = {
    c.name: c
    for c in (
        Config(
            "baseline",
            "the assignment: rates 1..6, MAX_EVENT_NUM=10 (70% of draws internal)",
            {"MIN_CLOCK_RATE": "1", "MAX_CLOCK_RATE": "6", "MAX_EVENT_NUM": "10"},
        ),
        Config(
            "narrow-rates",
            "smaller variation in clock rates: 5..6",
            {"MIN_CLOCK_RATE": "5", "MAX_CLOCK_RATE": "6", "MAX_EVENT_NUM": "10"},
        ),
        Config(
            "fewer-internal",
            "smaller probability of internal events: MAX_EVENT_NUM=5 (40% internal)",
            {"MIN_CLOCK_RATE": "1", "MAX_CLOCK_RATE": "6", "MAX_EVENT_NUM": "5"},
        ),
        Config(
            "narrow-and-fewer",
            "both: rates 5..6 and MAX_EVENT_NUM=5",
            {"MIN_CLOCK_RATE": "5", "MAX_CLOCK_RATE": "6", "MAX_EVENT_NUM": "5"},
        ),
        Config(
            "extreme",
            "one slow machine: node1 at 1 tick/s, node2 and node3 at 6, MAX_EVENT_NUM=10",
            {
                "MIN_CLOCK_RATE": "1",
                "MAX_CLOCK_RATE": "6",
                "MAX_EVENT_NUM": "10",
                "NODE1_CLOCK_RATE": "1",
                "NODE2_CLOCK_RATE": "6",
                "NODE3_CLOCK_RATE": "6",
            },
        ),
    )
}


def run_seed(base_seed: int, config: str, index: int) -> int:
    """The seed of run `index` of `config` in a set started with `base_seed` (63 bits)."""
    digest = hashlib.sha256(f"{base_seed}/{config}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
