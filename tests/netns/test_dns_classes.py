#!/usr/bin/env python3
"""Application classes by domain name (DESIGN §10), with a real resolver.

Debian's dnsmasq runs in the gateway namespace: it answers names of its hosts file itself
(the local road; CNAMEs from its `cname=` lines) and forwards the rest, uncached, to an authoritative test server in the up1
namespace (the forwarded road). A LAN client resolves a name and sends its first packet to the
answer at once, as a browser does; every name answers with an address never seen before, so
each first packet races its own DNS reply. The domain class goes to wan2, everything else to
wan1: the share of first packets arriving on up2 is the share classified by domain.

Also: expiry (TTL + grace without a flow; held while a TCP flow lives), hostile replies
forwarded through the gateway (delivered unchanged, nothing learned, the reason counted), and
`pathsteer domains`. DNS_FIRST_PACKETS sets the packets per case (default 10,000)."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import unittest

import fixture
from fixture import NetnsTestCase, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.join(HERE, "dns_tools.py")
PORT = 7171
AUTH_V4 = "100.64.1.1"
COUNT = int(os.environ.get("DNS_FIRST_PACKETS", "10000"))
DNSMASQ = os.environ.get("DNSMASQ", "/usr/sbin/dnsmasq")

POLICY = """\
version: 1
lan_interfaces: [lan0]
datapath: {{ mode: mark }}
dns: {{ min_ttl_s: {min_ttl}, grace_s: {grace}, max_addrs_per_name: 4096 }}
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
    match:
      - {{ domain: ["rot.k0.example", "rot.k1.example", "*.cdn.example", "*.lan.example",
                    "*.hostile.example"] }}
      - {{ domain: {exact} }}
    strategy: failover
    paths: [wan2, wan1]
  default:
    strategy: failover
    paths: [wan1, wan2]
"""


def exact_names(n):
    return [f"e{i}.k7.hosts.example" for i in range(n)] + [f"e{i}.k8.hosts.example" for i in range(n)]


class DnsClasses(NetnsTestCase):
    needs = ("PATHSTEERD", "PATHSTEER")

    def popen(self, role, *args):
        proc = subprocess.Popen(["ip", "netns", "exec", self.topo.ns[role], *args],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (proc.poll() is None and proc.kill(), proc.wait()))
        return proc

    def start_rig(self, count, min_ttl=60, grace=300):
        if not os.access(DNSMASQ, os.X_OK):
            self.fail(f"{DNSMASQ} is missing (Debian package dnsmasq-base)")
        tmp = self.topo.tmpdir
        # Far ends: every address of the test blocks is local, one receiver per side.
        for n in (1, 2):
            role = f"up{n}"
            self.topo.ip(role, "route", "add", "local", "10.0.0.0/8", "dev", "lo")
            self.topo.ip(role, "-6", "route", "add", "local", "2001:db8:ffff::/48", "dev", "lo")
        self.recv = {}
        for n, uplink in ((1, "wan1"), (2, "wan2")):
            proc = self.popen(f"up{n}", sys.executable, TOOLS, "recv", str(PORT))
            self.assertEqual(proc.stdout.readline().strip(), "ready")
            self.recv[uplink] = proc
        auth = self.popen("up1", sys.executable, TOOLS, "auth", AUTH_V4)
        self.assertEqual(auth.stdout.readline().strip(), "ready")
        # The hosts file: the local road (case 5 IPv4, case 6 IPv6 for *.lan.example;
        # cases 7 and 8 for the exact names).
        import dns_tools
        hosts = os.path.join(tmp, "hosts")
        with open(hosts, "w") as f:
            for i in range(count):
                f.write(f"{dns_tools.v4(5, i)} h{i}.k5.lan.example\n")
                f.write(f"{dns_tools.v6(6, i)} h{i}.k6.lan.example\n")
                f.write(f"{dns_tools.v4(7, i)} e{i}.k7.hosts.example\n")
                f.write(f"{dns_tools.v6(8, i)} e{i}.k8.hosts.example\n")
                f.write(f"{dns_tools.v4(11, i)} t{i}.k11.lan.example\n")
                f.write(f"{dns_tools.v6(12, i)} t{i}.k12.lan.example\n")
        # Local CNAMEs (cases 11 and 12): a name of no domain, answered by dnsmasq itself with
        # a CNAME to a hosts-file name under *.lan.example, then that name's address.
        conf = os.path.join(tmp, "dnsmasq.conf")
        with open(conf, "w") as f:
            for i in range(count):
                f.write(f"cname=a{i}.k11.alias.other,t{i}.k11.lan.example\n")
                f.write(f"cname=a{i}.k12.alias.other,t{i}.k12.lan.example\n")
        os.chmod(conf, 0o644)
        os.chmod(tmp, 0o755)
        os.chmod(hosts, 0o644)
        dnsmasq = self.popen("gw", DNSMASQ, "--keep-in-foreground", f"--conf-file={conf}",
                             "--no-resolv", "--no-hosts", f"--addn-hosts={hosts}",
                             f"--server={AUTH_V4}", "--cache-size=0", "--no-negcache",
                             f"--listen-address={fixture.GW_LAN_V4}", "--bind-interfaces",
                             "--user=root", "--group=root", f"--pid-file={tmp}/dnsmasq.pid",
                             "--log-facility=-")
        wait_until(lambda: self.resolves("h0.k5.lan.example"), 10, "dnsmasq answering")
        self.assertIsNone(dnsmasq.poll(), dnsmasq.stderr.read() if dnsmasq.poll() else "")
        policy = os.path.join(tmp, "dns.yaml")
        with open(policy, "w") as f:
            f.write(POLICY.format(min_ttl=min_ttl, grace=grace,
                                  exact=json.dumps(exact_names(count))))
        self.start_daemon(policy)
        self.topo.wait_all_up()
        wait_until(lambda: self.topo.klass("app")["uplink"] == "wan2", 10, "app on wan2")

    def resolves(self, name):
        r = subprocess.run(["ip", "netns", "exec", self.topo.ns["lan"], sys.executable, TOOLS,
                            "raw", fixture.GW_LAN_V4, name], capture_output=True, text=True,
                           timeout=10)
        return r.returncode == 0 and len(r.stdout.strip()) > 24

    def run_client(self, cases):
        spec = os.path.join(self.topo.tmpdir, "client.json")
        with open(spec, "w") as f:
            json.dump({"resolver": fixture.GW_LAN_V4, "port": PORT, "cases": cases}, f)
        r = subprocess.run(["ip", "netns", "exec", self.topo.ns["lan"], sys.executable, TOOLS,
                            "client", spec], capture_output=True, text=True, timeout=1800)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def received(self):
        out = {}
        for uplink, proc in self.recv.items():
            proc.stdin.close()
            out[uplink] = json.loads(proc.stdout.readline())
        return out

    def metric(self, name, labels=""):
        code, body = self.topo.http_get("/metrics")
        self.assertEqual(code, 200)
        m = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", body.decode(), re.M)
        return float(m.group(1)) if m else None

    def domains(self):
        code, body = self.topo.http_get("/v1/domains")
        self.assertEqual(code, 200, body)
        return json.loads(body)["domains"]

    def test_first_packets_follow_their_domain(self):
        n = COUNT
        self.start_rig(n)
        cases = [
            {"tag": "fwd-A-exact", "qtype": 1, "names": ["rot.k0.example"] * n},
            {"tag": "fwd-AAAA-exact", "qtype": 28, "names": ["rot.k1.example"] * n},
            {"tag": "fwd-A-star", "qtype": 1, "names": [f"n{i}.k2.cdn.example" for i in range(n)]},
            {"tag": "fwd-AAAA-star", "qtype": 28,
             "names": [f"n{i}.k3.cdn.example" for i in range(n)]},
            {"tag": "fwd-A-cname", "qtype": 1,
             "names": [f"c{i}.k4.alias.other" for i in range(n)]},
            {"tag": "fwd-AAAA-cname", "qtype": 28,
             "names": [f"c{i}.k9.alias.other" for i in range(n)]},
            {"tag": "local-A-star", "qtype": 1, "names": [f"h{i}.k5.lan.example" for i in range(n)]},
            {"tag": "local-AAAA-star", "qtype": 28,
             "names": [f"h{i}.k6.lan.example" for i in range(n)]},
            {"tag": "local-A-exact", "qtype": 1,
             "names": [f"e{i}.k7.hosts.example" for i in range(n)]},
            {"tag": "local-AAAA-exact", "qtype": 28,
             "names": [f"e{i}.k8.hosts.example" for i in range(n)]},
            {"tag": "local-A-cname", "qtype": 1,
             "names": [f"a{i}.k11.alias.other" for i in range(n)]},
            {"tag": "local-AAAA-cname", "qtype": 28,
             "names": [f"a{i}.k12.alias.other" for i in range(n)]},
            # Control: a name of no domain goes the default way (wan1), so the others are
            # not steered by accident.
            {"tag": "control", "qtype": 1, "names": [f"o{i}.k10.other" for i in range(n // 10)]},
        ]
        sent = self.run_client(cases)
        got = self.received()  # each receiver drains its queue before it reports
        print(f"\nfirst packets to the domain's uplink (wan2), {n} per case:", file=sys.stderr)
        for case in cases:
            tag = case["tag"]
            s = sent[tag]["sent"]
            self.assertEqual(sent[tag]["unresolved"], 0, f"{tag}: {sent[tag]}")
            on2 = got["wan2"].get(tag, 0)
            on1 = got["wan1"].get(tag, 0)
            pct = 100.0 * on2 / s if s else 0.0
            print(f"  {tag:18s} sent {s:6d}  wan2 {on2:6d}  wan1 {on1:6d}  -> {pct:7.3f} %",
                  file=sys.stderr)
            with self.subTest(case=tag):
                if tag == "control":
                    self.assertEqual(on1, s)
                    self.assertEqual(on2, 0)
                else:
                    self.assertEqual(s, len(case["names"]))
                    self.assertGreaterEqual(pct, 99.9)
        self.assertGreater(self.metric("pathsteer_dns_addresses_total", '{event="learned"}'), 0)
        # The CLI lists what was learned, by class.
        r = subprocess.run(["ip", "netns", "exec", self.topo.ns["gw"], self.bin["PATHSTEER"],
                            "domains", "--class", "app", "--api", f"http://127.0.0.1:{fixture.API_PORT}"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("*.cdn.example", r.stdout)
        self.assertIn("app", r.stdout)

    def test_expiry_and_a_live_tcp_flow(self):
        self.start_rig(4, min_ttl=0, grace=2)
        import dns_tools
        # The auth server's TTL is 30 s; min_ttl 0 + grace 2: 32 s. Use hosts-file names
        # instead: dnsmasq answers them with TTL 0 (local-ttl default).
        self.assertTrue(self.resolves("h1.k5.lan.example"))
        self.assertTrue(self.resolves("h2.k5.lan.example"))
        learned = {d["address"] for d in self.domains()}
        self.assertEqual(learned, {dns_tools.v4(5, 1), dns_tools.v4(5, 2)})
        # A TCP connection to h2's address (a listener on wan2's far end) that lives on.
        srv = self.popen("up2", sys.executable, "-c",
                         "import socket,sys;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,"
                         "socket.SO_REUSEADDR,1);s.bind(('0.0.0.0',7272));s.listen();"
                         "print('ready',flush=True);c,_=s.accept();"
                         "[c.send(b) for b in iter(lambda: c.recv(100), b'')]")
        self.assertEqual(srv.stdout.readline().strip(), "ready")
        conn = fixture.in_netns(self.topo.ns["lan"], lambda: socket.create_connection(
            (dns_tools.v4(5, 2), 7272), timeout=5))
        self.addCleanup(conn.close)
        t0 = time.monotonic()
        wait_until(lambda: dns_tools.v4(5, 1) not in {d["address"] for d in self.domains()},
                   15, "h1's address expires (TTL 0 + grace 2 s, no flow)")
        self.assertGreaterEqual(time.monotonic() - t0, 1.0)
        # h2 expired at the same moment, but its flow is in the flow table: it is held (the
        # housekeeping pushes its expiry out by 2 s at a time) and still steers.
        def held():
            left = {d["address"]: d for d in self.domains()}
            d = left.get(dns_tools.v4(5, 2))
            return d is not None and d["expires_in_s"] <= 2.0

        wait_until(held, 10, "h2's address held by its TCP flow after TTL + grace")
        conn.sendall(b"still here")
        self.assertEqual(conn.recv(100), b"still here")
        self.assertIn(dns_tools.v4(5, 2), {d["address"] for d in self.domains()})
        self.assertGreater(self.metric("pathsteer_dns_addresses_total", '{event="evicted"}'), 0)

    def send_one(self, addr, tag):
        """One UDP datagram from the LAN host to addr:PORT (a new flow)."""
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        s = fixture.in_netns(self.topo.ns["lan"], lambda: socket.socket(fam, socket.SOCK_DGRAM))
        with s:
            s.sendto(f"{tag} 0".encode(), (addr, PORT))

    def test_restart_keeps_and_reload_drops_learned_addresses(self):
        self.start_rig(4)
        import dns_tools
        self.assertTrue(self.resolves("h1.k5.lan.example"))
        addr = dns_tools.v4(5, 1)
        self.assertIn(addr, {d["address"] for d in self.domains()})
        # A restart (SIGTERM, start again on the same pins): still learned, still steering.
        self.assertEqual(self.topo.stop_daemon(), 0)
        self.start_daemon(os.path.join(self.topo.tmpdir, "dns.yaml"))
        self.assertIn(addr, {d["address"] for d in self.domains()})
        self.send_one(addr, "after-restart")
        # A reload that drops the domain: its addresses go.
        policy = os.path.join(self.topo.tmpdir, "dns.yaml")
        with open(policy) as f:
            text = f.read()
        with open(policy, "w") as f:
            f.write(text.replace('"*.lan.example",', ""))
        self.topo.daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: addr not in {d["address"] for d in self.domains()}, 10,
                   "the dropped domain's address to go after the reload")
        self.send_one(addr, "after-reload")
        got = self.received()
        self.assertEqual(got["wan2"].get("after-restart"), 1, got)
        self.assertEqual(got["wan1"].get("after-reload"), 1, got)

    def test_hostile_replies_through_the_gateway(self):
        self.start_rig(1)
        for kind, reason in (("loop", "loop"), ("truncated", "short"), ("many", "count"),
                             ("longname", "name"), ("class", "class"), ("type", None)):
            with self.subTest(kind=kind):
                import dns_tools
                before = self.metric("pathsteer_dns_parse_failures_total",
                                     f'{{reason="{reason}"}}') if reason else \
                    self.metric("pathsteer_dns_skipped_records_total")
                name = f"{kind}.hostile.example"
                # Straight to the server in up1: the reply is forwarded by the gateway.
                r = subprocess.run(["ip", "netns", "exec", self.topo.ns["lan"], sys.executable,
                                    TOOLS, "raw", AUTH_V4, name], capture_output=True,
                                   text=True, timeout=10)
                self.assertEqual(r.returncode, 0, f"the reply was not delivered: {r.stderr}")
                want = dns_tools.hostile(kind, 0x4242, name)
                self.assertEqual(bytes.fromhex(r.stdout.strip()), want, "delivered unchanged")
                self.assertEqual(self.domains(), [])
                after = self.metric("pathsteer_dns_parse_failures_total",
                                    f'{{reason="{reason}"}}') if reason else \
                    self.metric("pathsteer_dns_skipped_records_total")
                self.assertEqual(after, before + 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
