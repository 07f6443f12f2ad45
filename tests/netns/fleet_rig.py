"""A fleet rig (DESIGN section 13): a 3-member etcd cluster on loopback in its own namespace,
and N gateway labs (fixture.Topology, each with the real daemon) that reach it over a veth each.

    etcd ns (pst-<pid>-<hex4>-etcd)                 GW ns of lab i
    members m0..m2: peers 127.0.0.1:<p>,             fl0 10.250.<i>.2/24
    clients 0.0.0.0:<c0..c2>   fe<i> 10.250.<i>.1/24 ─┘

Every gateway's policy is policies/two-wan.yaml's with a `fleet:` block naming its three
endpoints (10.250.<i>.1:<c0..c2>), node gw<i> and groups [branch]. Everything is removed by
teardown() (also at exit): the members, the namespace, the veths (with the labs).
"""

import atexit
import base64
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time

import fixture

ETCD = "/usr/bin/etcd"
ETCDCTL = "/usr/bin/etcdctl"
PREFIX = "/pathsteer/v1"


def free_ports(n):
    """n TCP ports free at the moment of asking, above the ephemeral range's usual start."""
    base = random.randrange(20000, 30000)
    return [base + i for i in range(n)]


class EtcdCluster:
    def __init__(self, run_id, tmpdir, members=3):
        self.ns = f"{run_id}-etcd"
        self.tmpdir = tmpdir
        ports = free_ports(2 * members)
        self.names = [f"m{k}" for k in range(members)]
        self.client_ports = ports[:members]
        self.peer_ports = ports[members:]
        self.procs = {}
        self.initial = ",".join(f"{n}=http://127.0.0.1:{p}"
                                for n, p in zip(self.names, self.peer_ports))

    def setup(self):
        fixture.run(["ip", "netns", "add", self.ns])
        fixture.run(["ip", "-n", self.ns, "link", "set", "lo", "up"])
        for k in range(len(self.names)):
            self.start(k)
        return self

    def start(self, k):
        if k in self.procs:
            return
        name = self.names[k]
        data = os.path.join(self.tmpdir, name)
        state = "existing" if os.path.isdir(data) else "new"
        log = open(os.path.join(self.tmpdir, f"{name}.log"), "ab")
        cmd = ["nsenter", f"--net=/run/netns/{self.ns}", "--", ETCD, "--name", name,
               "--data-dir", data,
               "--listen-client-urls", f"http://0.0.0.0:{self.client_ports[k]}",
               "--advertise-client-urls", f"http://127.0.0.1:{self.client_ports[k]}",
               "--listen-peer-urls", f"http://127.0.0.1:{self.peer_ports[k]}",
               "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_ports[k]}",
               "--initial-cluster", self.initial, "--initial-cluster-state", state,
               "--initial-cluster-token", self.ns, "--log-level", "warn"]
        self.procs[k] = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def stop(self, k, sig=signal.SIGTERM):
        p = self.procs.pop(k, None)
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def teardown(self):
        for k in list(self.procs):
            self.stop(k, signal.SIGKILL)
        fixture._delete_netns(self.ns)

    def endpoints(self, host="127.0.0.1", members=None):
        members = range(len(self.names)) if members is None else members
        return [f"http://{host}:{self.client_ports[k]}" for k in members]

    def ctl(self, *args, check=True, members=None, timeout=15):
        cmd = ["nsenter", f"--net=/run/netns/{self.ns}", "--", ETCDCTL,
               "--endpoints", ",".join(self.endpoints(members=members)),
               "--command-timeout=5s", *args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, "ETCDCTL_API": "3"})
        if check and r.returncode != 0:
            raise RuntimeError(f"etcdctl {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def put(self, key, value):
        """Puts through etcdctl (stdin, so any text goes); returns the revision."""
        cmd = ["nsenter", f"--net=/run/netns/{self.ns}", "--", ETCDCTL,
               "--endpoints", ",".join(self.endpoints()), "--command-timeout=5s",
               "-w", "json", "put", key]
        r = subprocess.run(cmd, input=value, capture_output=True, text=True, timeout=15,
                           env={**os.environ, "ETCDCTL_API": "3"})
        if r.returncode != 0:
            raise RuntimeError(f"etcdctl put {key}: {r.stderr.strip()}")
        return int(json.loads(r.stdout)["header"]["revision"])

    def get_json(self, key, prefix=False):
        args = ["get", key, "-w", "json"] + (["--prefix"] if prefix else [])
        out = json.loads(self.ctl(*args))
        return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", "")).decode()
                for kv in out.get("kvs", [])}

    def status(self):
        """[{endpoint, leader: bool}] of the running members."""
        out = []
        for k in sorted(self.procs):
            r = self.ctl("endpoint", "status", "-w", "json", members=[k], check=False)
            try:
                s = json.loads(r)[0]["Status"]
            except (ValueError, IndexError, KeyError):
                continue
            out.append({"member": k, "leader": s["header"]["member_id"] == s.get("leader")})
        return out

    def leader(self):
        for s in self.status():
            if s["leader"]:
                return s["member"]
        return None

    def wait_ready(self, timeout=30):
        fixture.wait_until(lambda: self.leader() is not None, timeout, "an etcd leader")


class FleetRig:
    """The cluster and `labs` gateway labs, each running pathsteerd as node gw<i>."""

    def __init__(self, labs=3, confirm_s=10):
        self.labs = [fixture.Topology() for _ in range(labs)]
        self.confirm_s = confirm_s
        self.tmpdir = None
        self.etcd = None
        self._down = False

    def setup(self, pathsteerd):
        atexit.register(self.teardown)
        first = self.labs[0]
        for lab in self.labs:
            lab.setup()
        self.tmpdir = tempfile.mkdtemp(prefix=f"{first.run_id}-fleet-")
        self.etcd = EtcdCluster(first.run_id, self.tmpdir).setup()
        for i, lab in enumerate(self.labs):
            gw, far = "fl0", f"fe{i}"
            fixture.run(["ip", "link", "add", gw, "netns", lab.ns["gw"], "type", "veth",
                         "peer", "name", far, "netns", self.etcd.ns])
            lab.ip("gw", "addr", "add", f"10.250.{i}.2/24", "dev", gw)
            lab.ip("gw", "link", "set", gw, "up")
            fixture.run(["ip", "-n", self.etcd.ns, "addr", "add", f"10.250.{i}.1/24", "dev", far])
            fixture.run(["ip", "-n", self.etcd.ns, "link", "set", far, "up"])
        self.etcd.wait_ready()
        self.pathsteerd = pathsteerd
        for i, lab in enumerate(self.labs):
            lab.policy_path = os.path.join(lab.tmpdir, "policy.yaml")
            with open(lab.policy_path, "w") as f:
                f.write(self.local_policy(i))
            lab.token_path, lab.token = lab.write_token()
            self.start_node(i)
        for lab in self.labs:
            lab.wait_all_up()
        return self

    def start_node(self, i):
        lab = self.labs[i]
        return lab.start_daemon(self.pathsteerd, lab.policy_path,
                                extra_args=["--token-file", lab.token_path])

    def local_policy(self, i):
        with open(fixture.two_wan_policy(self.labs[i].tmpdir)) as f:
            base = f.read()
        eps = ", ".join(f'"{e}"' for e in self.etcd.endpoints(host=f"10.250.{i}.1"))
        return (base + f"fleet:\n  endpoints: [{eps}]\n  node: gw{i}\n  groups: [branch]\n"
                f"  confirm_s: {self.confirm_s}\n")

    def teardown(self):
        if self._down:
            return
        self._down = True
        for lab in self.labs:
            lab.teardown()
        if self.etcd:
            self.etcd.teardown()
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def video(self, lab):
        return lab.klass("video")["uplink"]

    def diagnostics(self):
        out = []
        for i, lab in enumerate(self.labs):
            out.append(f"--- gw{i} ---\n{lab.daemon.log_tail(40) if lab.daemon else ''}")
        for name in self.etcd.names:
            try:
                with open(os.path.join(self.tmpdir, f"{name}.log"), errors="replace") as f:
                    out.append(f"--- etcd {name} ---\n" + "".join(f.readlines()[-15:]))
            except OSError:
                pass
        return "\n".join(out)


def two_wan_with(video_paths, default_paths=("wan1", "wan2"), wan1_interface="wan1"):
    """policies/two-wan.yaml's shape with the video class's paths given (a fleet policy: no
    fleet block)."""
    return f"""version: 1
lan_interfaces: [lan0]
datapath: {{ mode: mark }}
wans:
  wan1:
    interface: {wan1_interface}
    gateway: auto
    probes: [ {{ method: icmp, target: 203.0.113.10 }} ]
    health: {{ interval_ms: 100, timeout_ms: 300, down_after: 3, up_after: 3 }}
  wan2:
    interface: wan2
    gateway: auto
    probes: [ {{ method: icmp, target: 203.0.113.10 }} ]
    health: {{ interval_ms: 100, timeout_ms: 300, down_after: 3, up_after: 3 }}
classes:
  video:
    match: [ {{ proto: udp, dport: 5001 }} ]
    strategy: failover
    paths: [{", ".join(video_paths)}]
  default:
    strategy: failover
    paths: [{", ".join(default_paths)}]
"""


def only_wan1(interface="wan1"):
    """A policy whose only uplink is wan1 on `interface`."""
    return f"""version: 1
lan_interfaces: [lan0]
wans:
  wan1:
    interface: {interface}
    gateway: auto
    probes: [ {{ method: icmp, target: 203.0.113.10 }} ]
    health: {{ interval_ms: 100, timeout_ms: 300, down_after: 3, up_after: 3 }}
classes:
  video:
    match: [ {{ proto: udp, dport: 5001 }} ]
    strategy: failover
    paths: [wan1]
  default:
    strategy: failover
    paths: [wan1]
"""


def now():
    return time.monotonic()
