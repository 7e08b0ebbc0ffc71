"""The model machine's behaviour on one tick, without I/O or time. Pure and deterministic.

A `NodeModel` owns the logical clock, the network queue and a `random.Random` that it never
seeds itself. The node core (node.core) drives it, in real time and in the simulator alike:
the network puts messages in with `deliver`, the clock of the machine calls `tick`.
"""

from __future__ import annotations

import hashlib
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from node.clock import BUGS, NO_BUG, LamportClock


@dataclass(slots=True)
class Message:
    """A clock value that arrived from `sender` and waits in the queue since `enqueued_at`."""

    sender: str
    value: int
    enqueued_at: float  # system time (virtual time in the simulator)


# Outcomes are plain slotted dataclasses, not frozen ones: one is built per tick, and frozen
# construction costs 60% more (measured 0.29 against 0.18 us). Nothing mutates them.
@dataclass(slots=True)
class Receive:
    message: Message
    clock: int  # after the event
    queue: int  # length after taking the message


@dataclass(slots=True)
class Send:
    to: tuple[str, ...]
    clock: int  # after the event
    value: int  # the value sent: the clock after the event (Lamport), unless a bug is planted


@dataclass(slots=True)
class Internal:
    clock: int


TickOutcome = Receive | Send | Internal


def node_seed(run_seed: int, node_id: str) -> int:
    """Each node's own seed, derived from the run's seed so that one number reproduces a run."""
    digest = hashlib.sha256(f"{run_seed}/{node_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1  # 63 bits: fits every JSON reader's integers


def draw_rate(rng: random.Random, min_rate: int, max_rate: int) -> int:
    """The machine's ticks per second, drawn uniformly from [min_rate, max_rate]."""
    return rng.randint(min_rate, max_rate)


def targets_for_draw(draw: int, peers: Sequence[str]) -> tuple[str, ...]:
    """Which peers a draw sends to; () means an internal event.

    With P peers (sorted by id): draw k in 1..P sends to the k-th peer, draw P+1 sends to all
    of them, anything larger is internal. With three nodes that is the assignment's rule:
    1 -> one peer, 2 -> the other peer, 3 -> both, 4..MAX_EVENT_NUM -> internal.
    """
    if 1 <= draw <= len(peers):
        return (peers[draw - 1],)
    if draw == len(peers) + 1:
        return tuple(peers)
    return ()


class NodeModel:
    """One machine: logical clock + FIFO network queue + the tick rule."""

    def __init__(
        self,
        peers: Sequence[str],
        max_event_num: int,
        rng: random.Random,
        clock: int = 0,
        clock_bug: str = NO_BUG,
    ) -> None:
        if not peers:
            raise ValueError("a node needs at least one peer")
        if max_event_num < len(peers) + 1:
            raise ValueError(f"max_event_num must be >= {len(peers) + 1} for {len(peers)} peers")
        self.peers = tuple(peers)
        self.max_event_num = max_event_num
        self.rng = rng
        self.clock: LamportClock = BUGS[clock_bug](clock)
        self.queue: deque[Message] = deque()
        # targets_for_draw for the draws that send (1..P+1); every larger draw is internal.
        self._sends = {draw: targets_for_draw(draw, self.peers) for draw in range(1, len(self.peers) + 2)}
        self._random = rng.random

    def deliver(self, message: Message) -> int:
        """The network hands over a message; it waits for a tick. Returns the queue length."""
        self.queue.append(message)
        return len(self.queue)

    def tick(self) -> TickOutcome:
        """One clock cycle: take one queued message if there is one, else draw an event."""
        queue = self.queue
        if queue:
            message = queue[0]
            clock = self.clock.receive(message.value)  # may overflow: then the message stays queued
            queue.popleft()
            return Receive(message, clock, len(queue))
        # random() * n is uniform over 1..n to within 2**-53, and three times faster than randint.
        targets = self._sends.get(int(self._random() * self.max_event_num) + 1)
        if targets:
            value = self.clock.send()
            return Send(targets, self.clock.value, value)
        return Internal(self.clock.local_event())

    def queued_by_sender(self) -> dict[str, int]:
        """How many queued messages came from each peer (every peer listed, zeros included)."""
        counts = dict.fromkeys(self.peers, 0)
        for message in self.queue:
            counts[message.sender] = counts.get(message.sender, 0) + 1
        return counts
