"""Activation memory planning: tensors whose lifetimes do not overlap share a device buffer.

A tensor lives from the step that writes it to the last step that reads it (graph outputs: to the end). Two greedy
strategies assign tensors to slots and the smaller total wins; the lower bound is the largest set of tensors alive
at once (`peak_live_bytes`), which the engine reports beside the plan."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Interval:
    name: str
    size: int  # bytes
    start: int  # first step that writes it
    end: int  # last step that reads it


def plan(intervals: list[Interval]) -> tuple[dict[str, int], list[int]]:
    """Assign each tensor to a slot; return (tensor → slot index, slot sizes in bytes): the smaller total of two
    greedy strategies (in step order; largest tensor first)."""
    plans = [plan_in_step_order(intervals), plan_largest_first(intervals)]
    return min(plans, key=lambda p: sum(p[1]))


def plan_largest_first(intervals: list[Interval]) -> tuple[dict[str, int], list[int]]:
    """Largest tensor first, into the first slot whose tensors are all dead while it lives (the slot's size is
    its first, largest tensor's). Big tensors claim slots early; small ones fill the gaps between them."""
    slots: list[int] = []
    members: list[list[Interval]] = []
    assignment: dict[str, int] = {}
    for iv in sorted(intervals, key=lambda i: (-i.size, i.start)):
        slot = next((s for s, held in enumerate(members)
                     if all(iv.end < h.start or h.end < iv.start for h in held)), None)
        if slot is None:
            slot = len(slots)
            slots.append(iv.size)
            members.append([])
        members[slot].append(iv)
        assignment[iv.name] = slot
    return assignment, slots


def plan_in_step_order(intervals: list[Interval]) -> tuple[dict[str, int], list[int]]:
    """In step order: the smallest free slot that fits, else the largest free slot grown to fit, else a new one."""
    slots: list[int] = []
    assignment: dict[str, int] = {}
    busy_until: list[int] = []
    for iv in sorted(intervals, key=lambda i: (i.start, -i.size)):
        free = [s for s in range(len(slots)) if busy_until[s] < iv.start]
        fitting = [s for s in free if slots[s] >= iv.size]
        if fitting:
            slot = min(fitting, key=lambda s: slots[s])
        elif free:
            slot = max(free, key=lambda s: slots[s])
            slots[slot] = iv.size
        else:
            slot = len(slots)
            slots.append(iv.size)
            busy_until.append(-1)
        busy_until[slot] = iv.end
        assignment[iv.name] = slot
    return assignment, slots


def peak_live_bytes(intervals: list[Interval]) -> int:
    """The largest total size of tensors alive at the same step: the lower bound for any plan."""
    steps = sorted({i.start for i in intervals} | {i.end for i in intervals})
    return max((sum(i.size for i in intervals if i.start <= s <= i.end) for s in steps), default=0)
