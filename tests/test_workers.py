"""Default worker threads: one for classes that run Python on every piece of
data, else one per CPU the process may use (affinity mask and cgroup CPU
quota, never os.cpu_count() alone)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

import hpsocket
from hpsocket import _cpus

from support import ROOT, python_env

# Prints the defaults a fresh process sees, as JSON.
PROBE = textwrap.dedent("""
    import json, os, hpsocket

    class Handles(hpsocket.TcpServer):
        def on_receive(self, conn_id, data):
            pass

    class HandlesSend(hpsocket.TcpAgent):
        def on_send(self, conn_id, data):
            pass

    class ConnectionsOnly(hpsocket.TcpServer):
        def on_accept(self, conn_id, fd):
            pass

    print(json.dumps({
        "affinity": len(os.sched_getaffinity(0)),
        "usable": hpsocket.usable_cpus(),
        "quota": hpsocket.cpu_quota(),
        "server": hpsocket.TcpServer().worker_threads,
        "agent": hpsocket.TcpAgent().worker_threads,
        "pack_server": hpsocket.TcpPackServer().worker_threads,
        "connections_only": ConnectionsOnly().worker_threads,
        "handles_receive": Handles().worker_threads,
        "handles_send": HandlesSend().worker_threads,
        "pull_handles_receive": type("P", (hpsocket.TcpPullServer,),
                                     {"on_receive": lambda s, c, n: None})().worker_threads,
    }))
""")


def probe(preexec_fn=None):
    out = subprocess.run([sys.executable, "-c", PROBE], env=python_env(), cwd=ROOT, timeout=60,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=preexec_fn)
    assert out.returncode == 0, out.stderr.decode()
    return json.loads(out.stdout)


def test_python_data_handlers_get_one_worker():
    got = probe()
    assert got["handles_receive"] == 1
    assert got["handles_send"] == 1
    assert got["pull_handles_receive"] == 1


def test_native_only_classes_get_one_worker_per_usable_cpu():
    got = probe()
    assert got["usable"] == len(os.sched_getaffinity(0))
    for key in ("server", "agent", "pack_server", "connections_only"):
        assert got[key] == got["usable"], key


def test_default_follows_the_affinity_mask():
    cpus = sorted(os.sched_getaffinity(0))
    got = probe(lambda: os.sched_setaffinity(0, {cpus[-1]}))
    assert got["affinity"] == 1 and got["usable"] == 1
    assert got["server"] == got["agent"] == got["connections_only"] == 1
    if len(cpus) < 2:
        pytest.skip("one usable CPU: no wider mask to compare with")
    got = probe(lambda: os.sched_setaffinity(0, set(cpus[:2])))
    assert got["usable"] == 2
    assert got["server"] == got["agent"] == got["connections_only"] == 2
    assert got["handles_receive"] == 1


def test_explicit_worker_threads_win():
    srv = hpsocket.TcpServer(worker_threads=3)
    assert srv.worker_threads == 3

    class Handles(hpsocket.TcpServer):
        def on_receive(self, conn_id, data):
            pass

    srv = Handles(worker_threads=4)
    assert srv.worker_threads == 4


# -- cgroup CPU quotas, on fake /proc and /sys trees -------------------------

def fake_tree(tmp_path, cgroup, mountinfo, files):
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/self/cgroup").write_text(cgroup)
    (tmp_path / "proc/self/mountinfo").write_text(mountinfo)
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(tmp_path)


V2_MOUNT = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
V1_MOUNTS = ("31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
             "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
             "33 31 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n")


def test_cgroup_v2_quota(tmp_path):
    root = fake_tree(tmp_path, "0::/app.slice/svc\n", V2_MOUNT, {
        "sys/fs/cgroup/cpu.max": "max 100000\n",
        "sys/fs/cgroup/app.slice/cpu.max": "300000 100000\n",
        "sys/fs/cgroup/app.slice/svc/cpu.max": "150000 100000\n",
    })
    assert _cpus.cpu_quota(root) == 1.5
    assert _cpus.usable_cpus(root) == min(2, len(os.sched_getaffinity(0)))


def test_cgroup_v2_tightest_ancestor_wins(tmp_path):
    root = fake_tree(tmp_path, "0::/a/b\n", V2_MOUNT, {
        "sys/fs/cgroup/a/cpu.max": "50000 100000\n",
        "sys/fs/cgroup/a/b/cpu.max": "max 100000\n",
    })
    assert _cpus.cpu_quota(root) == 0.5
    assert _cpus.usable_cpus(root) == 1


def test_cgroup_v2_no_quota(tmp_path):
    root = fake_tree(tmp_path, "0::/\n", V2_MOUNT, {"sys/fs/cgroup/cpu.max": "max 100000\n"})
    assert _cpus.cpu_quota(root) is None
    assert _cpus.usable_cpus(root) == len(os.sched_getaffinity(0))


def test_cgroup_v2_container_sees_its_cgroup_as_root(tmp_path):
    # Inside a cgroup namespace the mount's root is the container's cgroup.
    mount = "30 23 0:26 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
    root = fake_tree(tmp_path, "0::/docker/abc\n", mount, {
        "sys/fs/cgroup/cpu.max": "100000 100000\n",
    })
    assert _cpus.cpu_quota(root) == 1.0


def test_cgroup_v1_quota(tmp_path):
    root = fake_tree(tmp_path, "4:memory:/x\n3:cpu,cpuacct:/x\n0::/\n", V1_MOUNTS, {
        "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
        "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
        "sys/fs/cgroup/cpu,cpuacct/x/cpu.cfs_quota_us": "250000\n",
        "sys/fs/cgroup/cpu,cpuacct/x/cpu.cfs_period_us": "100000\n",
    })
    assert _cpus.cpu_quota(root) == 2.5
    assert _cpus.usable_cpus(root) == min(3, len(os.sched_getaffinity(0)))


@pytest.mark.parametrize("files", [
    {},                                                      # nothing readable
    {"sys/fs/cgroup/cpu.max": "garbage\n"},
    {"sys/fs/cgroup/cpu.max": "0 100000\n"},
    {"sys/fs/cgroup/cpu.max": "100000 0\n"},
    {"sys/fs/cgroup/cpu.max": "-5 100000\n"},
])
def test_unreadable_or_odd_quota_is_no_quota(tmp_path, files):
    root = fake_tree(tmp_path, "0::/\n", V2_MOUNT, files)
    assert _cpus.cpu_quota(root) is None
    assert _cpus.usable_cpus(root) == len(os.sched_getaffinity(0))


def test_no_proc_at_all(tmp_path):
    assert _cpus.cpu_quota(str(tmp_path)) is None
    assert _cpus.usable_cpus(str(tmp_path)) >= 1


# -- a real cgroup with a CPU quota ------------------------------------------

def _real_cpu_cgroup_dir():
    """A writable cgroup directory with the CPU controller, and its kind."""
    try:
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split(" - ") for line in f if " - " in line]
    except OSError:
        return None, None
    for left, right in mounts:
        point, fstype, opts = left.split()[4], right.split()[0], right.split()[2].split(",")
        if fstype == "cgroup" and "cpu" in opts:
            return point, "v1"
        if fstype == "cgroup2":
            try:
                with open(os.path.join(point, "cgroup.subtree_control")) as f:
                    if "cpu" in f.read().split():
                        return point, "v2"
            except OSError:
                pass
    return None, None


@pytest.fixture
def quota_cgroup():
    base, kind = _real_cpu_cgroup_dir()
    if base is None:
        pytest.skip("no cgroup file system with the CPU controller")
    path = os.path.join(base, "hpsocket-test-%d" % os.getpid())
    try:
        os.mkdir(path)
    except OSError as exc:
        pytest.skip("cannot create a cgroup here: %s" % exc)

    def set_quota(cpus):
        if kind == "v1":
            with open(os.path.join(path, "cpu.cfs_period_us"), "w") as f:
                f.write("100000")
            with open(os.path.join(path, "cpu.cfs_quota_us"), "w") as f:
                f.write(str(int(cpus * 100000)))
        else:
            with open(os.path.join(path, "cpu.max"), "w") as f:
                f.write("%d 100000" % int(cpus * 100000))

    def enter():
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))

    try:
        yield set_quota, enter
    finally:
        os.rmdir(path)


def test_default_follows_a_real_cgroup_quota(quota_cgroup):
    set_quota, enter = quota_cgroup
    try:
        set_quota(0.5)
    except OSError as exc:
        pytest.skip("cannot set a CPU quota: %s" % exc)
    got = probe(enter)
    assert got["quota"] == 0.5
    assert got["usable"] == 1
    assert got["server"] == got["agent"] == 1
    if len(os.sched_getaffinity(0)) >= 2:
        set_quota(1.5)
        got = probe(enter)
        assert got["quota"] == 1.5
        assert got["usable"] == 2 and got["server"] == 2
