"""Tagged TCP echo servers behind each uplink, for the tests that watch an established TCP
connection keep (or lose) its uplink (test_sticky, test_flood): every line sent is answered
with "<uplink> <line>" by the server of the uplink the connection went out of. Python 3
standard library only."""

import socket
import subprocess
import sys

import fixture
from fixture import DST_V4

PORT = 7070

# A TCP echo server for one uplink namespace: every line is answered with "<tag> <line>".
SERVER = r"""
import socket, sys, threading
tag = sys.argv[1]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", int(sys.argv[2]))); srv.listen(128)
print("ready", flush=True)
def serve(c):
    f = c.makefile("rwb", buffering=0)
    for line in f:
        f.write(tag.encode() + b" " + line)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

POLICY = """\
version: 1
lan_interfaces: [lan0]
datapath: {{ {datapath} }}
wans:
  wan1:
    interface: wan1
    gateway: auto
    probes: [ {{ method: icmp, target: 203.0.113.10 }} ]
    health: {{ interval_ms: 100, timeout_ms: 300, down_after: 3, up_after: 3 }}
  wan2:
    interface: wan2
    gateway: auto
    probes: [ {{ method: icmp, target: 203.0.113.10 }} ]
    health: {{ interval_ms: 100, timeout_ms: 300, down_after: 3, up_after: 3 }}
classes:
  app:
    match: [ {{ proto: tcp, dport: {port} }} ]
    strategy: failover
    paths: [{paths}]
  default:
    strategy: failover
    paths: [wan1, wan2]
"""



class TaggedServers:
    """A mixin for NetnsTestCase: servers on every uplink, connections from the LAN host, and
    the policy with class `app` (TCP to PORT) on the given paths."""

    def start_servers(self):
        for n, uplink in enumerate(fixture.UPLINKS, start=1):
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.topo.ns[f"up{n}"], sys.executable, "-c", SERVER,
                 uplink, str(PORT)],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            self.addCleanup(proc.wait)
            self.addCleanup(proc.kill)
            self.assertEqual(proc.stdout.readline().strip(), "ready")

    def connect(self):
        """A TCP connection from the LAN host to DST_V4:PORT (socket made in the LAN ns)."""
        def make():
            s = socket.create_connection((DST_V4, PORT), timeout=5)
            s.settimeout(5)
            return s
        s = fixture.in_netns(self.topo.ns["lan"], make)
        self.addCleanup(s.close)
        return s, s.makefile("rwb", buffering=0)

    @staticmethod
    def ask(conn, text):
        """Sends one line; returns the tag of the uplink whose server answered (None: the
        connection broke)."""
        _, f = conn
        try:
            f.write(text.encode() + b"\n")
            reply = f.readline().decode().split()
        except OSError:
            return None
        return reply[0] if reply else None

    def write_policy(self, path, paths, datapath="mode: mark"):
        with open(path, "w") as f:
            f.write(POLICY.format(port=PORT, paths=", ".join(paths), datapath=datapath))
