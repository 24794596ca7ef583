"""Training across machines (docs/distributed.md, "Across machines"), on one machine.

Two hosts made of Linux namespaces, joined by a veth pair:

    host A: hostname hostA, lan0 10.77.0.1        host B: hostname hostB, lan0 10.77.0.2
    mpiexec, rank 0                   <-- veth -->  hydra's proxy (through "ssh"), rank 1
    a/ holds the corpus, config, runs               a/ hidden under an empty directory (b-view/)

MPICH's mpiexec reaches host B as on a cluster, through its ssh launcher; the ssh it runs
(``-launcher-exec``) is a script that runs the command it is given inside host B's
namespaces instead of on another machine. Host B also has a boot id, SysV IPC, PIDs and
/dev/shm of its own, so MPI sees two nodes that share no memory, and the ranks talk over TCP
on the veth pair as they would over a network. Host B cannot see host A's directory: the run
proves that rank 1 reads no file there and that whatever it wrote would land in b-view/.

Needs Linux, root, iproute2's ``ip``, util-linux's ``unshare`` and MPICH's mpiexec with mpi4py
(``pip install 'lstmgen[mpi]'``); skipped otherwise. The namespaces and every process in them
go when the test ends, whatever happened.
"""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from lstmgen.parallel.launch import find_mpiexec
from tests.helpers import ROOT, write_corpus
from tests.test_distributed import (ENV, JOB_TIMEOUT, _mpi_missing, assert_same_numbers, assert_sums_right, lstmgen,
                                    tiny)

ADDRESSES = {"hostA": "10.77.0.1", "hostB": "10.77.0.2"}


class Unavailable(Exception):
    """This machine cannot make the two hosts (the test is skipped, with the reason)."""


def _missing() -> str:
    """Why the two hosts cannot be made here, or ''."""
    if sys.platform != "linux":
        return "needs Linux namespaces"
    if os.geteuid() != 0:
        return "needs root to make network, mount and UTS namespaces"
    for tool, package in (("ip", "iproute2"), ("unshare", "util-linux")):
        if shutil.which(tool) is None:
            return f"needs {tool} ({package})"
    if _mpi_missing() is not None:
        return _mpi_missing()
    info = subprocess.run([find_mpiexec(), "-info"], capture_output=True, text=True, timeout=30)
    if "HYDRA" not in info.stdout:
        return "needs MPICH's mpiexec (hydra) for its ssh launcher"
    return ""


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


class TwoHosts:
    """Hosts A and B (module docstring); ``mpiexec(ARGS)`` runs ``lstmgen ARGS`` on one rank each."""

    def __init__(self, root: Path):
        tag = os.getpid()  # names of this process's own: tests may run side by side
        self.netns = {"hostA": f"lstmgen-{tag}-a", "hostB": f"lstmgen-{tag}-b"}
        self.veth = {"hostA": f"lg{tag}a", "hostB": f"lg{tag}b"}  # at most 15 characters
        self.data = root / "a"  # host A's corpus, config and run directories
        self.b_view = root / "b-view"  # what host B sees at self.data: an empty directory
        self.ssh_log, self.b_log = root / "ssh.log", root / "host-b.log"
        self.data.mkdir()
        self.b_view.mkdir()
        q = {k: shlex.quote(str(v)) for k, v in vars(self).items() if isinstance(v, Path)}
        hosts = root / "hosts"
        hosts.write_text("127.0.0.1 localhost\n" + "".join(f"{ip} {name}\n" for name, ip in ADDRESSES.items()))
        boot_id = root / "b-boot-id"
        boot_id.write_text(f"{uuid.uuid4()}\n")
        self.host_a = _script(root / "host-a", f"""#!/bin/sh
# host A: its hostname and the hosts file naming both hosts; then the command
set -e
mount --bind {shlex.quote(str(hosts))} /etc/hosts
hostname hostA
exec "$@"
""")
        host_b = _script(root / "host-b", f"""#!/bin/sh
# host B, in mount, UTS, IPC and PID namespaces of its own: its hostname, the hosts file, a boot
# id and /dev/shm of its own (so MPI sees another node), host A's directory hidden under an
# empty one; then the command ssh was given, as a remote shell would run it
set -e
mount --bind {shlex.quote(str(hosts))} /etc/hosts
mount --bind {shlex.quote(str(boot_id))} /proc/sys/kernel/random/boot_id
mount -t tmpfs shm /dev/shm
mount --bind {q['b_view']} {q['data']}
hostname hostB
printf '%s:%s\\n' "$(hostname)" "$(ls -A {q['data']})" >> {q['b_log']}
exec sh -c "$1"
""")
        self.ssh = _script(root / "ssh", f"""#!/bin/sh
# ssh as MPICH's mpiexec calls it: ssh [-x ...] HOST COMMAND...; runs COMMAND on host B
echo "$*" >> {q['ssh_log']}
while [ $# -gt 0 ]; do case $1 in -*) shift ;; *) break ;; esac; done
host=$1; shift
if [ "$host" != hostB ]; then echo "ssh: Could not resolve hostname $host" >&2; exit 255; fi
exec ip netns exec {self.netns['hostB']} unshare -m -u -i -p -f --kill-child --mount-proc {shlex.quote(str(host_b))} "$*"
""")

    def on_a(self, *cmd):
        """``cmd`` as run on host A."""
        return ["ip", "netns", "exec", self.netns["hostA"], "unshare", "-m", "-u", str(self.host_a), *map(str, cmd)]

    def start(self):
        """Make the namespaces and the link between them, and check that a command runs on each
        host; raises Unavailable, naming the command that failed."""
        for ns in self.netns.values():
            _ip("netns", "add", ns)
        _ip("link", "add", self.veth["hostA"], "type", "veth", "peer", "name", self.veth["hostB"])
        for name, ns in self.netns.items():
            _ip("link", "set", self.veth[name], "netns", ns)
            _ip("-n", ns, "link", "set", self.veth[name], "name", "lan0")
            _ip("-n", ns, "addr", "add", f"{ADDRESSES[name]}/24", "dev", "lan0")
            _ip("-n", ns, "link", "set", "lan0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        for name, cmd in (("hostA", self.on_a("hostname")), ("hostB", [self.ssh, "-x", "hostB", "hostname"])):
            _run(cmd, expect=name)
        self.ssh_log.unlink()
        self.b_log.unlink()

    def stop(self):
        """End every process in either host and remove the namespaces (the veth pair goes with them)."""
        for ns in self.netns.values():
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)
        subprocess.run(["ip", "link", "delete", self.veth["hostA"]], capture_output=True)  # if never moved

    def mpiexec(self, *args, program=("-m", "lstmgen")):
        """``lstmgen ARGS`` (or another ``program``) on two ranks, rank 0 on host A and rank 1
        on host B: the documented command, with MPICH's ssh launcher pointed at our ssh."""
        cmd = self.on_a(find_mpiexec(), "-launcher", "ssh", "-launcher-exec", self.ssh, "-hosts", "hostA,hostB",
                        "-n", 2, sys.executable, "-m", "mpi4py", *program, *args)
        return subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=JOB_TIMEOUT)


def _run(cmd, expect=None):
    done = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, timeout=30)
    if done.returncode != 0 or (expect is not None and done.stdout.strip() != expect):
        raise Unavailable(f"{' '.join(map(str, cmd))}: {(done.stderr or done.stdout).strip()[-300:]}")


def _ip(*args):
    _run(["ip", *args])


@pytest.fixture
def two_hosts(tmp_path):
    reason = _missing()
    if reason:
        pytest.skip(reason)
    hosts = TwoHosts(tmp_path)
    try:
        try:
            hosts.start()
        except Unavailable as e:
            pytest.skip(f"cannot make two hosts from namespaces here: {e}")
        yield hosts
    finally:
        hosts.stop()


@pytest.mark.slow  # two network namespaces and an MPI job across them
def test_two_hosts_train_as_one_process_and_only_host_a_holds_files(two_hosts, tmp_path):
    """P = 2 across two hosts gives one process's numbers; only rank 0's host has the corpus,
    config and run directory; the run resumes across the hosts and then on one process."""
    data = two_hosts.data
    config = Path(shutil.copy(ROOT / "configs" / "tiny.yaml", data / "c.yaml"))
    args = tiny(write_corpus(data / "corpus.txt"), 20, config=config)
    one = lstmgen("train", *args, "--out", tmp_path / "one")
    assert one.returncode == 0, one.stderr[-2000:]
    two = two_hosts.mpiexec("train", *args, "--out", data / "run")
    assert two.returncode == 0, two.stderr[-2000:]
    assert not re.search(r"UCX\s+ERROR", two.stderr), two.stderr[-2000:]
    assert "gradients summed by MPI's all-reduce" in two.stdout
    assert_same_numbers(tmp_path / "one", data / "run")

    # mpiexec went to host B through ssh once; host B saw an empty directory and left it empty
    calls = two_hosts.ssh_log.read_text().splitlines()
    assert len(calls) == 1 and "hostB" in calls[0].split() and "hydra_pmi_proxy" in calls[0], calls
    assert two_hosts.b_log.read_text().split() == ["hostB:"]
    assert (data / "run" / "checkpoints").is_dir() and (data / "run" / "metrics.jsonl").is_file()
    assert list(two_hosts.b_view.iterdir()) == []

    # resume: rank 0 reads the checkpoint and sends it to host B; then one process goes on
    for steps, procs in ((30, 2), (40, 1)):
        rest = lstmgen("train", "--resume", "--set", f"train.max_steps={steps}", "--out", tmp_path / "one")
        assert rest.returncode == 0, rest.stderr[-2000:]
        resume = ("train", "--resume", "--set", f"train.max_steps={steps}", "--out", data / "run")
        rest = two_hosts.mpiexec(*resume) if procs == 2 else lstmgen(*resume)
        assert rest.returncode == 0, rest.stderr[-2000:]
        assert_same_numbers(tmp_path / "one", data / "run")
    assert len(two_hosts.ssh_log.read_text().splitlines()) == 2
    assert list(two_hosts.b_view.iterdir()) == []

    # ranks on two machines share no memory: the gradients' sum is MPI's all-reduce
    sums = two_hosts.mpiexec(data / "sums.json", program=(ROOT / "tests" / "mpi_sums.py",))
    assert sums.returncode == 0, sums.stderr[-2000:]
    found = json.loads((data / "sums.json").read_text())
    assert [found[k]["summer"] for k in ("default", "all-reduce")] == ["AllreduceSum", "AllreduceSum"]
    assert_sums_right(found)
