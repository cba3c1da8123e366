"""Lanes: how many children probe one submission side by side, which probes each takes, and how a lane takes its
probes through children one after another (a child that dies or overruns costs the probe it was on; the next
child takes the rest; a child that settles nothing is not replaced).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import time
from pathlib import Path
from typing import Callable

from grader import rubric
from grader.data import datasets
from grader.engine import confine, wire
from grader.engine.sandbox_run import Limits, SandboxRun, failed
from grader.engine.seed_gate import SeedGate
from grader.engine.supervision import Child, out_of_budget


def idle_lanes(most: int = 2) -> int:
    """How many children one submission may use side by side now: up to ``most``, one per core that other
    runnable processes leave free (at least one). A lone ``grade`` on an idle 2-core machine gets 2; a batch,
    a busy machine or a single core gets 1. "Now" is the kernel's count of runnable tasks, sampled a few times
    over 30 ms (the load averages lag by a minute: a student's previous run would still count)."""
    cores = os.cpu_count() or 1
    samples = []
    for _ in range(3):
        try:
            running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            running = 1 + round(os.getloadavg()[0]) if hasattr(os, "getloadavg") else cores + 1
        samples.append(running - 1)  # this process is one of them
        time.sleep(0.01)
    busy = sorted(samples)[1]
    return max(1, min(most, cores - busy))


def split_probes(probes: list[str], lanes: int) -> list[list[str]]:
    """``probes`` in at most ``lanes`` groups of about equal cost (:attr:`rubric.Probe.seconds`), longest first
    to the least loaded group; each group keeps the rubric's order."""
    groups: list[list[str]] = [[] for _ in range(max(1, min(lanes, len(probes))))]
    load = [0.0] * len(groups)
    for name in sorted(probes, key=lambda p: -rubric.ALL_PROBES[p].seconds):
        k = load.index(min(load))
        groups[k].append(name)
        load[k] += rubric.ALL_PROBES[name].seconds
    return [[p for p in probes if p in group] for group in groups if group]


@dataclasses.dataclass(frozen=True)
class Lane:
    """What every child of one submission shares; :meth:`run` takes one group of probes through children."""

    tmp: Path
    layers: confine.Layers
    read: list[str]
    protected: list[str]
    limits: Limits
    data: datasets.DataSpec
    budget: wire.Budget
    cache: Path | None
    progress: Callable[[str, str], None] | None
    seeds: dict[str, int]
    user: int | None
    gate: SeedGate
    ends_at: float                                                      # time.monotonic() when the time budget runs out
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)  # module → why its file was not read

    def run(self, lane: int, probes: list[str]) -> SandboxRun:
        """Children one after another until every probe of ``probes`` has its observations: a child that dies
        or overruns costs the probe it was on, and the next child takes the rest."""
        try:
            return self._run(lane, probes)
        finally:
            self.gate.public_done(lane)  # a lane that never asked for seeds, or gave up: it runs no more probes

    def _run(self, lane: int, probes: list[str]) -> SandboxRun:
        out = SandboxRun({}, {}, [], self.layers)
        broken: dict[str, str] = dict(self.skipped)
        remaining, attempt = list(probes), 0
        while remaining:
            if time.monotonic() >= self.ends_at:
                for p in remaining:
                    out.observations[p] = failed(f"not checked: {out_of_budget(self.limits)}")
                break
            before = (len(out.observations), len(broken))
            home = self.tmp / f"home{lane}-{attempt}"
            home.mkdir(mode=0o700)
            if self.user is not None:
                os.chown(home, self.user, self.user)
            policy = confine.make_policy(self.layers, self.read, [str(home)], self.protected,
                                         self.limits.home_bytes, self.limits.home_files)
            child = Child(self.tmp, home, f"{lane}-{attempt}", policy, self.limits, self.data, self.budget,
                          self.cache, self.seeds, self.user, self.gate, lane, out.notes, self.ends_at)
            child.run(remaining, broken, out.observations, self.progress)
            out.add_findings(child.shortcuts, child.notes)
            remaining = [p for p in remaining if p not in out.observations]
            attempt += 1
            if remaining and (len(out.observations), len(broken)) == before:  # no progress: do not retry forever
                for p in remaining:
                    out.observations[p] = failed(f"the grading process stopped before checking {p}")
                break
        return out



def run_lanes(lane: Lane, groups: list[list[str]]) -> list[SandboxRun]:
    """Each group of probes through its own lane (:meth:`Lane.run`), the lanes side by side; in the groups' order."""
    if len(groups) == 1:
        return [lane.run(0, groups[0])]
    with concurrent.futures.ThreadPoolExecutor(len(groups), thread_name_prefix="lane") as pool:
        return list(pool.map(lane.run, range(len(groups)), groups))
