"""Seeded random draws of the simulation: one generator per day and part, waits, counts."""

from __future__ import annotations

import random


def day_rng(seed: int, part: str, day: int) -> random.Random:
    """The generator of one day's events of one part of the world (work, deployments).

    A string seed is hashed with SHA-512 by :mod:`random`, never with the salted ``hash()``,
    so the same day draws the same events in every process.
    """
    return random.Random(f"{seed}:{part}:{day}")


def poisson(rng: random.Random, mean: float) -> int:
    """How many events a day holds: Poisson, by counting unit exponential gaps."""
    if mean <= 0:
        return 0
    count, total = 0, rng.expovariate(1.0)
    while total < mean:
        count += 1
        total += rng.expovariate(1.0)
    return count


def wait(rng: random.Random, mean_hours: float, minimum: int = 60) -> int:
    """An exponentially distributed wait in whole seconds, never shorter than ``minimum``."""
    return max(minimum, int(rng.expovariate(1.0 / (mean_hours * 3600))))


def between(rng: random.Random, low_hours: float, high_hours: float) -> int:
    """A uniform offset in whole seconds between two hours of a day."""
    return rng.randint(int(low_hours * 3600), int(high_hours * 3600))


def office_hours(rng: random.Random, day: int, shift: int) -> int:
    """A moment of ``day`` between 08:00 and 19:00 local time, ``shift`` seconds from UTC."""
    return day * 86400 + shift + between(rng, 8, 19)
