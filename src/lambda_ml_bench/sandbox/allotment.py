"""CPU and memory per execution environment, as Lambda allots them, in control groups (v1 or v2).

Lambda gives a function CPU in proportion to its memory: one vCPU at 1,769 MB, at most six; memory is
a hard limit. Each environment's sandbox runs in a group of its own below the service's group:
CPU quota = memory / 1,769 MB of one CPU per period (capped at the host's cores), memory limit = the
function's memory size, no swap. The kernel's own out-of-memory kill is counted by the group, and
the group's peak usage is the REPORT line's Max Memory Used.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from lambda_ml_bench.files import MiB
from lambda_ml_bench.lambda_facts import PROCESSES, vcpus

# The quota's period. Lambda does not say its own. A burst's first and last partial periods run unthrottled, so the
# shorter the period the closer a short burst follows the share: with 100 ms a 0.15 s burst at 256 MB was seen at 5.5x
# its 1,769 MB time instead of 6.9x. 40 ms bounds that slack to 40% of 100 ms's; 20 ms was tried and made the kernel's
# out-of-memory path at 512 MB (its reclaim throttled too) outlast a 6 s timeout. The smallest share (128 MB: 0.072 of
# a CPU) is still a 2.9 ms quota, above the kernel's 1 ms minimum.
PERIOD_US = 40_000
CGROUP_ROOT = Path("/sys/fs/cgroup")
SERVICE_PREFIX = "lambda-ml-bench-"  # a service's groups: lambda-ml-bench-<what>-<its pid>
_OWNER = re.compile(r"-(\d+)$")  # a service's groups and folders end with its pid


class AllotmentError(RuntimeError):
    """A control group could not be made or written."""


@dataclass(frozen=True)
class Grant:
    """What one environment gets, and how that compares with Lambda's share."""

    memory_mb: int
    vcpus: float  # what the environment gets
    lambda_vcpus: float  # what Lambda would give

    @property
    def capped(self) -> bool:
        return self.vcpus < self.lambda_vcpus - 1e-9

    def describe(self) -> str:
        text = f"{self.vcpus:.2f} vCPU, {self.memory_mb} MB"
        return text + (f" (Lambda gives {self.lambda_vcpus:.2f} vCPU; this host has {os.cpu_count()} cores)"
                       if self.capped else "")


def _own_group(controller: str | None) -> str:
    """This process's group path in a v1 hierarchy (`controller`) or in v2 (None)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if (controller is None and controllers == "") or (controller and controller in controllers.split(",")):
            return path
    raise AllotmentError(f"this process is in no {controller or 'cgroup v2'} group")


def _bases() -> tuple[int, dict[str, Path]]:
    """This process's group in each hierarchy: v1 (`cpu` and `memory` mounted apart; `cpuacct`, the CPU time used,
    where it is a hierarchy of its own; `pids`, Lambda's 1,024 processes and threads, where it is mounted) or v2."""
    v1 = {c: CGROUP_ROOT / c for c in ("cpu", "memory", "cpuacct", "pids")
          if (CGROUP_ROOT / c / "cgroup.procs").exists()}
    if "cpu" in v1 and "memory" in v1:
        if "cpuacct" in v1 and v1["cpuacct"].resolve() == v1["cpu"].resolve():
            del v1["cpuacct"]
        return 1, {c: p / _own_group(c).lstrip("/") for c, p in v1.items()}
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return 2, {"unified": CGROUP_ROOT / _own_group(None).lstrip("/")}
    raise AllotmentError("no cgroup v1 cpu and memory hierarchies and no cgroup v2 tree under /sys/fs/cgroup")


class Hierarchy:
    """Where the service's groups live: v1 (`cpu` and `memory` mounted apart) or v2 (one tree)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.version, bases = _bases()
        self.parents = {c: base / name for c, base in bases.items()}
        for parent in self.parents.values():
            parent.mkdir(exist_ok=True)
        if self.version == 2:
            wanted = {"cpu", "memory"}
            available = set((self.parents["unified"].parent / "cgroup.controllers").read_text().split())
            if not wanted <= available:
                raise AllotmentError(f"cgroup v2 controllers {sorted(wanted - available)} are not delegated here")
            if "pids" in available:
                wanted.add("pids")
            (self.parents["unified"] / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in sorted(wanted)))
            self.limits_processes = "pids" in wanted
        else:
            self.limits_processes = "pids" in self.parents

    def new(self, memory_mb: int, name: str) -> Allotment:
        """The groups of one environment, named `name` (env-<id>, unique)."""
        return Allotment(self, name, memory_mb)

    def remove(self) -> None:
        """The service's own groups (each environment removes its own first)."""
        for parent in self.parents.values():
            for child in parent.iterdir():
                if child.is_dir():
                    _rmdir(child)
            _rmdir(parent)


def _rmdir(group: Path) -> None:
    try:
        group.rmdir()
    except FileNotFoundError:
        pass
    except OSError:  # still has processes: they are being killed; the kernel frees it when empty
        pass


class Allotment:
    """One environment's group: CPU quota and memory limit; processes join it by their pid."""

    def __init__(self, hierarchy: Hierarchy, name: str, memory_mb: int) -> None:
        self.hierarchy = hierarchy
        cores = os.cpu_count() or 1
        self.grant = Grant(memory_mb, min(vcpus(memory_mb), cores), vcpus(memory_mb))
        self.groups = {c: p / name for c, p in hierarchy.parents.items()}
        self._fds: dict[str, int] = {}  # memory files read on every invocation, opened once
        quota = max(1000, round(self.grant.vcpus * PERIOD_US))
        limit = memory_mb * MiB
        try:
            for group in self.groups.values():
                group.mkdir()
            if hierarchy.version == 1:
                cpu, memory = self.groups["cpu"], self.groups["memory"]
                (cpu / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (cpu / "cpu.cfs_quota_us").write_text(str(quota))
                (memory / "memory.limit_in_bytes").write_text(str(limit))
                if (memory / "memory.memsw.limit_in_bytes").exists():  # Lambda has no swap
                    (memory / "memory.memsw.limit_in_bytes").write_text(str(limit))
                if hierarchy.limits_processes:
                    (self.groups["pids"] / "pids.max").write_text(str(PROCESSES))
            else:
                group = self.groups["unified"]
                (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
                (group / "memory.max").write_text(str(limit))
                (group / "memory.swap.max").write_text("0")
                if hierarchy.limits_processes:
                    (group / "pids.max").write_text(str(PROCESSES))
        except OSError as err:
            self.remove()
            raise AllotmentError(f"cannot set up {self.groups}: {err}") from err

    def procs_files(self) -> list[str]:
        """The files a process writes its pid into to join this group (one per hierarchy)."""
        return [str(g / "cgroup.procs") for g in self.groups.values()]

    def join(self) -> None:
        """In the runtime's process before it executes: into the environment's groups (limited from its first
        instruction, and found by the next service if this one is killed outright)."""
        for procs in self.procs_files():
            with open(procs, "w") as fh:
                fh.write(str(os.getpid()))

    def _memory_file(self, v1: str, v2: str) -> Path:
        return self.groups["memory"] / v1 if self.hierarchy.version == 1 else self.groups["unified"] / v2

    def _read(self, v1: str, v2: str) -> str:
        """A memory file's current text: opened once, re-read from offset 0 (the kernel renders it anew), so an
        invocation costs two reads instead of two opens."""
        fd = self._fds.get(v1)
        if fd is None:
            fd = self._fds[v1] = os.open(self._memory_file(v1, v2), os.O_RDONLY | os.O_CLOEXEC)
        return os.pread(fd, 65536, 0).decode()

    def oom_kills(self) -> int:
        """How often the kernel has killed a process of this group for want of memory."""
        try:
            fields = dict(line.split() for line in self._read("memory.oom_control", "memory.events").splitlines())
        except (OSError, ValueError):  # the group is being removed
            return 0
        return int(fields.get("oom_kill", 0))

    def cpu_ns(self) -> tuple[int, int]:
        """(CPU time the group's processes have used, time its quota held them back), in ns."""
        try:
            if self.hierarchy.version == 1:
                used = int((self.groups.get("cpuacct", self.groups["cpu"]) / "cpuacct.usage").read_text())
                stat = dict(line.split() for line in (self.groups["cpu"] / "cpu.stat").read_text().splitlines())
                return used, int(stat.get("throttled_time", 0))
            stat = dict(line.split() for line in (self.groups["unified"] / "cpu.stat").read_text().splitlines())
            return int(stat["usage_usec"]) * 1000, int(stat.get("throttled_usec", 0)) * 1000
        except (OSError, ValueError, KeyError):
            return 0, 0

    def peak_bytes(self) -> int:
        """The group's highest memory use so far."""
        try:
            return int(self._read("memory.max_usage_in_bytes", "memory.peak"))
        except (OSError, ValueError):
            return 0

    def remove(self) -> None:
        """Kill whatever is left in the groups, then remove them."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        end_groups(list(self.groups.values()))


def end_groups(groups: list[Path]) -> None:
    """Kill every process in these groups, then remove them (the kernel frees a group once it is empty)."""
    for _ in range(100):
        left = False
        for group in groups:
            try:
                pids = (group / "cgroup.procs").read_text().split()
            except OSError:
                continue
            for pid in pids:
                left = True
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
            _rmdir(group)
        if not left and not any(g.exists() for g in groups):
            return
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def gone(name: str) -> bool:
    """Whether `name` (a group or folder of a service, `...-<its pid>`) belongs to a service that no longer runs."""
    owner = _OWNER.search(name)
    return owner is not None and not _alive(int(owner[1]))


def reclaim_leftovers(prefix: str = SERVICE_PREFIX) -> int:
    """The groups of services that are gone (killed, say, with `kill -9`): a service's groups are named
    `<prefix>...-<its pid>`, and where that pid no longer runs, every process left in them is
    killed and the groups removed. Returns how many environments were ended."""
    try:
        _, roots = _bases()
    except AllotmentError:
        return 0
    ended: set[str] = set()
    for root in roots.values():
        for service in root.glob(f"{prefix}*"):
            if not service.is_dir() or not gone(service.name):
                continue
            children = [child for child in service.iterdir() if child.is_dir()]
            end_groups(children)
            ended.update(f"{service.name}/{c.name}" for c in children if c.name.startswith("env-"))
            _rmdir(service)
    return len(ended)


# --- contention: did the host give an environment its share? -------------------------------------------------------
CONTENDED = re.compile(r"lambda-ml-bench: host contended: got ([\d.]+) of its ([\d.]+) vCPU share")


def run_delays(pids: list[int]) -> dict[int, int]:
    """Per thread of these processes, the time it has spent runnable but waiting for a CPU (ns, /proc schedstat)."""
    out = {}
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as fh:
                    out[int(tid)] = int(fh.read().split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return out


def longest_wait_ns(before: dict[int, int], after: dict[int, int]) -> int:
    """The longest a single thread waited for a CPU between two run_delays() snapshots."""
    return max((after[t] - before.get(t, 0) for t in after), default=0)


def share_given(wall_ns: int, used_ns: int, waited_ns: int, throttled_ns: int, share: float) -> float | None:
    """The fraction of its CPU share an environment got over a span when the host could not give it all of it: one of
    its threads waited for a CPU (beyond the waits its own quota imposes) for over a tenth of the span. None when it
    never waited so: a sleeping handler on a busy host is not slowed, and a quota's throttling is Lambda's own."""
    if wall_ns <= 0 or share <= 0 or (waited_ns - throttled_ns) < 0.1 * wall_ns:
        return None
    return min(1.0, used_ns / wall_ns / share)


def contention_line(given: float, share: float) -> str:
    """The log line the local Lambda adds to an invocation the host could not give its share (parsed by CONTENDED)."""
    return f"lambda-ml-bench: host contended: got {given * share:.2f} of its {share:.2f} vCPU share\n"


def open_hierarchy(name: str) -> tuple[Hierarchy | None, str]:
    """The service's hierarchy, or None with the reason when groups cannot be written here."""
    try:
        return Hierarchy(name), ""
    except (AllotmentError, OSError) as err:
        return None, str(err)
