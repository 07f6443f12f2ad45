#!/usr/bin/env python3
"""Mark mode keeps an established TCP connection on its uplink while its class's preference
changes: a SIGHUP reload that reorders the class's paths moves new connections to the other
uplink, and the old one keeps working over the uplink it started on (the far end on the other
uplink has no such connection and would reset it)."""

import os
import signal
import socket
import subprocess
import sys
import time
import unittest

import fixture
from fixture import DST_V4, NetnsTestCase, wait_until

PORT = 7070

# A TCP echo server for one uplink namespace: every line is answered with "<tag> <line>".
SERVER = r"""
import socket, sys, threading
tag = sys.argv[1]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", int(sys.argv[2]))); srv.listen(16)
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
datapath: {{ mode: mark }}
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


class Sticky(NetnsTestCase):

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
        """Sends one line; returns the tag of the uplink whose server answered."""
        _, f = conn
        f.write(text.encode() + b"\n")
        reply = f.readline().decode().split()
        return reply[0] if reply else None

    def write_policy(self, path, paths):
        with open(path, "w") as f:
            f.write(POLICY.format(port=PORT, paths=", ".join(paths)))

    def test_connection_keeps_its_uplink_across_a_preference_change(self):
        self.start_servers()
        policy = os.path.join(self.topo.tmpdir, "sticky.yaml")
        self.write_policy(policy, ["wan1", "wan2"])
        self.start_daemon(policy)
        self.topo.wait_all_up()
        self.assertEqual(self.topo.klass("app")["uplink"], "wan1")

        old = self.connect()
        self.assertEqual(self.ask(old, "hello"), "wan1")

        self.write_policy(policy, ["wan2", "wan1"])
        self.topo.daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: self.topo.klass("app")["uplink"] == "wan2", 10,
                   "class app to prefer wan2 after the reload")

        new = self.connect()
        self.assertEqual(self.ask(new, "new"), "wan2", "new connections follow the preference")
        for i in range(20):
            self.assertEqual(self.ask(old, f"still {i}"), "wan1",
                             "the established connection must stay on wan1")
            time.sleep(0.02)
        self.assertEqual(self.ask(new, "again"), "wan2")
        counters = self.topo.status()["datapath"]["counters"]
        self.assertGreater(counters["flow_reclassified"], 0, counters)
        self.assertGreater(counters["flow_hit"], 0, counters)


if __name__ == "__main__":
    unittest.main(verbosity=2)
