"""Averaging per-item values into a task metric.

``plain_mean`` is the ordinary mean. ``first_item_twice_mean`` reproduces the running-average
helper of the original CLUE code: the first time it sees a metric it stores the value and then
appends it again, so the first scored item is counted twice, i.e. the mean over
``[x0, x0, x1, ..., x(n-1)]`` with ``n + 1`` in the denominator. The published numbers contain
this quirk (all MedNLI accuracies are k/1420 for 1419 scored items); the kit reports it as a
separately labelled aggregate beside the plain mean.

Both return ``None`` for an empty list: a metric with no items is missing, never zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

PLAIN = "plain"
FIRST_ITEM_TWICE = "first-item-twice"


def _checked(values: Sequence[float]) -> list[float]:
    out = []
    for index, value in enumerate(values):
        value = float(value)
        if math.isnan(value):
            raise ValueError(f"aggregate: item {index} is NaN")
        out.append(value)
    return out


def plain_mean(values: Sequence[float]) -> float | None:
    values = _checked(values)
    if not values:
        return None
    return math.fsum(values) / len(values)


def first_item_twice_mean(values: Sequence[float]) -> float | None:
    """Mean over ``[x0, x0, x1, ..., x(n-1)]`` (the original helper's quirk)."""
    values = _checked(values)
    if not values:
        return None
    return math.fsum([values[0], *values]) / (len(values) + 1)


def aggregate(values: Sequence[float], averaging: str) -> float | None:
    """Average with the named rule: ``"plain"`` or ``"first-item-twice"``."""
    if averaging == PLAIN:
        return plain_mean(values)
    if averaging == FIRST_ITEM_TWICE:
        return first_item_twice_mean(values)
    raise ValueError(f"unknown averaging {averaging!r}: expected {PLAIN!r} or {FIRST_ITEM_TWICE!r}")


def percent(value: float | None) -> float | None:
    """A [0, 1] value as percent; ``None`` (missing) stays ``None``."""
    return None if value is None else 100.0 * value
