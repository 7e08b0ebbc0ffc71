"""A mean-field prediction of message flow, queue growth and jumps from the rates alone. Pure.

Node i ticks r_i times a second. A tick that finds no message draws; a draw sends to any given
peer with probability 2/MAX_EVENT_NUM (that peer's own number, or "all"). So node i *draws*
D_i = max(0, r_i - a_i) times a second, where a_i, the rate messages arrive at i, is the sum of
the other nodes' draws times 2/MAX_EVENT_NUM. Solved by damped fixed-point iteration:

- a_i < r_i: the queue stays short; a share a_i/r_i of ticks are receives;
- a_i > r_i: every tick is a receive and the backlog grows by a_i - r_i messages a second.

A node that keeps up adopts the largest clock it hears of, which grows at the fastest node's
tick rate, so its clock grows at about r_max units a second: mean jump per tick ~ r_max / r_i.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Prediction:
    rate: float
    arrivals: float  # messages per second arriving at this node
    draws: float  # ticks per second that draw (send or internal)
    receive_share: float  # share of ticks that take a message
    queue_growth: float  # messages per second the backlog grows (0 when it keeps up)
    mean_jump: float | None  # expected clock units per tick when keeping up; None when backlogged


def predict(rates: Sequence[float], max_event_num: int, iterations: int = 500) -> list[Prediction]:
    if len(rates) < 2:
        raise ValueError("need at least two nodes")
    if max_event_num < len(rates):
        raise ValueError("MAX_EVENT_NUM must be at least the number of nodes")
    p = 2 / max_event_num  # probability that a draw sends to one given peer
    draws = list(map(float, rates))
    for _ in range(iterations):
        total = sum(draws)
        arrivals = [p * (total - d) for d in draws]
        target = [max(0.0, r - a) for r, a in zip(rates, arrivals, strict=True)]
        draws = [0.5 * d + 0.5 * t for d, t in zip(draws, target, strict=True)]
    total = sum(draws)
    arrivals = [p * (total - d) for d in draws]
    fastest = max(rates)
    result = []
    for rate, arrival, draw in zip(rates, arrivals, draws, strict=True):
        backlogged = arrival > rate
        result.append(
            Prediction(
                rate=float(rate),
                arrivals=arrival,
                draws=draw,
                receive_share=min(1.0, arrival / rate),
                queue_growth=max(0.0, arrival - rate),
                mean_jump=None if backlogged else fastest / rate,
            )
        )
    return result
