"""How many CPUs this process may use: its affinity mask and its cgroup CPU
quota, the two limits that ``os.cpu_count()`` ignores (``taskset``, cgroup
cpusets, container CPU limits).

The default ``worker_threads`` of servers and agents is based on it; see
``default_worker_threads`` in ``_ops.pxi``.
"""

import math
import os
from typing import Optional

__all__ = ["usable_cpus", "cpu_quota"]


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except (OSError, ValueError):
        return None


def _v2_quota(text):
    """CPUs allowed by a cgroup v2 ``cpu.max`` ("max 100000" or "150000 100000")."""
    parts = (text or "").split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        quota, period = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _v1_quota(quota_text, period_text):
    """CPUs allowed by cgroup v1 ``cpu.cfs_quota_us`` (-1: none) and
    ``cpu.cfs_period_us``."""
    try:
        quota, period = int((quota_text or "").strip()), int((period_text or "").strip())
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _ancestors(base, path):
    """base/path, then each parent directory up to base itself: a limit set
    on any ancestor cgroup applies too."""
    parts = [p for p in path.split("/") if p and p not in (".", "..")]
    for i in range(len(parts), -1, -1):
        yield os.path.join(base, *parts[:i])


def _mounts(root):
    """(mount point, fstype, super options) of the cgroup file systems."""
    text = _read(os.path.join(root, "proc/self/mountinfo")) or ""
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        mount_root, point = fields[3], fields[4]
        yield point, mount_root, tail[0], tail[2].split(",")


def cpu_quota(root: str = "/") -> Optional[float]:
    """CPUs granted by the tightest cgroup CPU quota on this process (v2
    ``cpu.max`` or v1 ``cpu.cfs_quota_us``, on its cgroup or an ancestor),
    as a float; None when no quota is set or none can be read.

    ``root`` lets tests point it at a fake ``/proc`` and ``/sys`` tree."""
    found = []
    cgroups = _read(os.path.join(root, "proc/self/cgroup")) or ""
    v2_path, v1_path = None, None
    for line in cgroups.splitlines():
        hier, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hier == "0" and controllers == "":
            v2_path = path
        elif "cpu" in controllers.split(","):
            v1_path = path
    for point, mount_root, fstype, opts in _mounts(root):
        if fstype == "cgroup2" and v2_path is not None:
            rel = _relative(v2_path, mount_root)
            for d in _ancestors(os.path.join(root, point.lstrip("/")), rel):
                q = _v2_quota(_read(os.path.join(d, "cpu.max")))
                if q is not None:
                    found.append(q)
        elif fstype == "cgroup" and "cpu" in opts and v1_path is not None:
            rel = _relative(v1_path, mount_root)
            for d in _ancestors(os.path.join(root, point.lstrip("/")), rel):
                q = _v1_quota(_read(os.path.join(d, "cpu.cfs_quota_us")),
                              _read(os.path.join(d, "cpu.cfs_period_us")))
                if q is not None:
                    found.append(q)
    return min(found) if found else None


def _relative(path, mount_root):
    """The cgroup path as seen below a mount of mount_root (a container sees
    its own cgroup mounted as the root)."""
    if mount_root not in ("/", "") and (path == mount_root or path.startswith(mount_root + "/")):
        return path[len(mount_root):]
    return path


def usable_cpus(root: str = "/") -> int:
    """How many CPUs this process may run on: the CPUs in its affinity mask,
    further limited by a cgroup CPU quota (rounded up: a quota of 1.5 CPUs
    gives 2).  At least 1."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = cpu_quota(root)
    if quota is not None:
        n = min(n, math.ceil(quota))
    return max(1, n)
