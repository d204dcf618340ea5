"""What the benchmarks share: timing contenders fairly on a noisy machine."""

from __future__ import annotations


def interleaved(contenders: dict, repeats: int) -> dict[str, list[float]]:
    """Call every contender once per repeat, the order rotated each repeat so that a
    drift in machine load favours none; each one's results in a list."""
    results: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(contenders[name]())
    return results
