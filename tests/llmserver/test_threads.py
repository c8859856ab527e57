"""LLM_THREADS' default: the physical cores this process may run on (its CPU affinity, its
cgroup's CPU quota, one thread per core however many hyperthreads it has)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmserver.settings import usable_cores


def machine(root: Path, siblings: dict[int, str], cpu_max: str | None = None,
            cfs: tuple[int, int] | None = None) -> Path:
    """A stand-in /sys: each CPU's hyperthread siblings, and a cgroup v2 or v1 CPU quota."""
    for cpu, listed in siblings.items():
        topology = root / f"devices/system/cpu/cpu{cpu}/topology"
        topology.mkdir(parents=True)
        (topology / "thread_siblings_list").write_text(f"{listed}\n")
    cgroup = root / "fs/cgroup"
    cgroup.mkdir(parents=True)
    if cpu_max is not None:
        (cgroup / "cpu.max").write_text(f"{cpu_max}\n")
    if cfs is not None:
        (cgroup / "cpu").mkdir()
        (cgroup / "cpu/cpu.cfs_quota_us").write_text(f"{cfs[0]}\n")
        (cgroup / "cpu/cpu.cfs_period_us").write_text(f"{cfs[1]}\n")
    return root


@pytest.fixture
def allowed(monkeypatch: pytest.MonkeyPatch):
    def allow(cpus: set[int]) -> None:
        monkeypatch.setattr("os.sched_getaffinity", lambda pid: cpus)
    return allow


def test_one_thread_per_physical_core(tmp_path: Path, allowed) -> None:
    allowed({0, 1, 2, 3})
    root = machine(tmp_path, {0: "0,2", 1: "1,3", 2: "0,2", 3: "1,3"})
    assert usable_cores(root) == 2


def test_only_the_cpus_this_process_may_run_on(tmp_path: Path, allowed) -> None:
    allowed({4, 5})  # e.g. docker run --cpuset-cpus 4-5 on an 8-CPU machine
    root = machine(tmp_path, {cpu: str(cpu) for cpu in range(8)})
    assert usable_cores(root) == 2


def test_no_more_than_the_cgroup_quota(tmp_path: Path, allowed) -> None:
    allowed(set(range(8)))  # docker run --cpus 2.5 on an 8-core machine
    assert usable_cores(machine(tmp_path / "v2", {c: str(c) for c in range(8)},
                                cpu_max="250000 100000")) == 2
    assert usable_cores(machine(tmp_path / "v1", {c: str(c) for c in range(8)},
                                cfs=(250000, 100000))) == 2


def test_no_quota_and_quotas_below_one_cpu(tmp_path: Path, allowed) -> None:
    allowed({0, 1, 2})
    assert usable_cores(machine(tmp_path / "max", {c: str(c) for c in range(3)},
                                cpu_max="max 100000")) == 3
    assert usable_cores(machine(tmp_path / "unlimited", {c: str(c) for c in range(3)},
                                cfs=(-1, 100000))) == 3
    assert usable_cores(machine(tmp_path / "half", {c: str(c) for c in range(3)},
                                cpu_max="50000 100000")) == 1


def test_without_topology_each_cpu_counts(tmp_path: Path, allowed) -> None:
    allowed({0, 1})
    assert usable_cores(tmp_path) == 2
