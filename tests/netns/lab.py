#!/usr/bin/env python3
"""pathsteer lab: watch pathsteerd steer and fail over, on your own machine, in a minute.

Builds a LAN host, a gateway and two uplinks in network namespaces (nothing outside them is
touched), starts pathsteerd in the gateway with policies/two-wan.yaml, sends traffic for each
class, pulls wan1's cable, plugs it back, and cleans everything up (also on Ctrl-C).

    sudo tests/netns/lab.py --build-dir build        # or set PATHSTEERD / PATHSTEER

Exits 0 when everything behaved as the policy says, 1 otherwise.
"""

import argparse
import os
import sys
import time
import unittest

import fixture
from fixture import UPLINKS, wait_until

# What policies/two-wan.yaml says; the lab checks the daemon against it.
CLASSES = [("video", 5001, "wan2"), ("default", 5002, "wan1")]
STEPS = 9


class Lab:
    def __init__(self, daemon_bin, policy):
        self.daemon_bin, self.policy = daemon_bin, policy
        self.topo = fixture.Topology()
        self.step_no = 0
        self.problems = []

    # -- output --

    def step(self, title):
        self.step_no += 1
        print(f"\n[{self.step_no}/{STEPS}] {title}", flush=True)

    @staticmethod
    def say(text=""):
        for line in text.splitlines() or [""]:
            print(f"      {line}", flush=True)

    def expect(self, ok, what):
        if not ok:
            self.problems.append(what)
            self.say(f"!! UNEXPECTED: {what}")

    @staticmethod
    def table(rows, header):
        rows = [header] + [[str(c) for c in r] for r in rows]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
                         for r in rows)

    def show_classes(self, status):
        rows = [[c["name"], c["strategy"], c["uplink"] or "(none)", c.get("reason", "")]
                for c in status["classes"]]
        self.say(self.table(rows, ["class", "strategy", "uplink", "why"]))

    def show_wans(self, status):
        def num(v, unit, decimals=1):
            return "-" if v is None else f"{v:.{decimals}f}{unit}"

        rows = [[w["name"], w["interface"], w["state"], "yes" if w["carrier"] else "NO",
                 num(w.get("rtt_ms"), " ms", 2), num(w.get("loss_pct"), " %"),
                 w.get("gateway4") or "-", w.get("reason", "")] for w in status["wans"]]
        self.say(self.table(rows, ["wan", "iface", "state", "carrier", "rtt", "loss",
                                   "gateway", "why"]))

    def policy_classes_text(self):
        with open(self.policy) as f:
            lines = f.read().splitlines()
        start = next((i for i, l in enumerate(lines) if l.startswith("classes:")), None)
        if start is None:
            return "(no classes: section found)"
        end = next((i for i in range(start + 1, len(lines))
                    if lines[i] and not lines[i][0].isspace() and not lines[i].startswith("#")),
                   len(lines))
        return "\n".join(lines[start:end]).rstrip()

    @staticmethod
    def where(result):
        used = [u for u in UPLINKS if result.count(u)]
        return " + ".join(used) if used else "nowhere"

    def wait_status(self, predicate, timeout, what):
        """The first /v1/status for which predicate(status) holds."""
        def check():
            status = self.topo.status()
            return status if predicate(status) else None

        return wait_until(check, timeout, what)

    # -- the story --

    def run(self):
        t = self.topo
        print("pathsteer lab: two uplinks, one policy, one pulled cable")

        self.step("Building the lab in network namespaces " + t.run_id + "-*")
        t.setup()
        self.say("LAN host 192.168.77.2 --lan0-- [gateway: pathsteerd] --wan1-- uplink 1 --\\")
        self.say("                                                      --wan2-- uplink 2 ---> "
                 f"{fixture.DST_V4}")
        self.say("Both uplinks own the destination: the receiving uplink shows the path taken.")

        shown = os.path.relpath(self.policy, fixture.SOURCE_DIR)
        shown = self.policy if shown.startswith("..") else shown
        self.step(f"Starting pathsteerd with {shown}")
        started = time.monotonic()
        self.token_path, self.token = t.write_token()
        t.start_daemon(self.daemon_bin, self.policy, ["--token-file", self.token_path])
        status = t.wait_all_up()
        self.say(f"both uplinks up and synced after {time.monotonic() - started:.1f} s "
                 f"(policy generation {status['policy_generation']})")

        self.step("The policy's classes, and what the daemon chose for each")
        self.say(self.policy_classes_text())
        self.say()
        self.show_classes(status)

        self.step("Uplink status (GET /v1/status)")
        self.show_wans(status)

        self.step("Sending 1000 IPv4 packets per class")
        for name, port, want in CLASSES:
            r = t.run_stream(port, count=1000, rate=1000)
            self.say(f"{name:<8} (udp/{port}) → arrived via {self.where(r)} "
                     f"({len(r.received)}/{r.stream.count} packets)")
            self.expect(r.count(want) == r.stream.count, f"{name} should arrive via {want}: "
                        f"{r.describe()}")

        self.step("Asking the data plane why (POST /v1/explain, as `pathsteer explain` does)")
        for name, port, want in CLASSES:
            code, ex, raw = t.http("POST", "/v1/explain", {
                "src": fixture.LAN_V4, "dst": fixture.DST_V4, "proto": "udp", "dport": port})
            self.expect(code == 200, f"explain answered {code}: {raw[:200]!r}")
            if code != 200:
                continue
            self.say(f"udp/{port}: class {ex['class']}, uplink {ex['uplink']}, table {ex['table']}")
            for reason in ex["reasons"]:
                self.say(f"    - {reason}")
            self.expect(ex["uplink"] == want, f"explain should say {want} for {name}: {ex}")

        self.step("An intent: class video over wan1 for 4 s (POST /v1/intents)")
        code, it, raw = t.http("POST", "/v1/intents", {
            "class": "video", "paths": ["wan1"], "ttl_s": 4, "comment": "lab"}, token=self.token)
        self.expect(code == 201, f"intent answered {code}: {raw[:200]!r}")
        r = t.run_stream(5001, count=500, rate=1000)
        self.say(f"video    (udp/5001) → arrived via {self.where(r)} while intent "
                 f"{it.get('id') if it else '?'} holds")
        self.expect(r.count("wan1") == r.stream.count, f"video should use wan1: {r.describe()}")
        status = self.wait_status(lambda s: t.klass("video", s)["uplink"] == "wan2", 8,
                                  "the intent to expire")
        self.say("the intent expired; video is back on " + t.klass("video", status)["uplink"])

        self.step("Pulling wan1's cable during a 1000 pkt/s stream of class default")
        stream = t.send(5002, count=3000, rate=1000)
        wait_until(lambda: len(t.received(stream)["wan1"]) >= 500, 10, "the stream on wan1")
        t.set_carrier("wan1", False)
        self.say("cable pulled (wan1's far end set down)")
        r = t.result(stream)
        self.say(f"default  (udp/5002) → wan1 for {r.count('wan1')} packets, then wan2 for "
                 f"{r.count('wan2')}; interruption {r.interruption_ms:.0f} ms "
                 f"({len(r.lost)} packets lost)")
        self.expect(r.count("wan2") > 0 and r.interruption_ms <= 100,
                    f"default should move to wan2 within 100 ms: {r.describe()}")
        status = self.wait_status(lambda s: t.wan("wan1", s)["state"] == "down", 5,
                                  "wan1 down")
        self.show_wans(status)
        self.say()
        self.show_classes(status)

        self.step("Plugging wan1's cable back in")
        plugged = t.set_carrier("wan1", True)
        status = self.wait_status(lambda s: t.wan("wan1", s)["state"] == "up" and
                                  t.klass("default", s)["uplink"] == "wan1", 15,
                                  "wan1 up and default back on it")
        self.say(f"wan1 up again after {time.monotonic() - plugged:.1f} s")
        self.show_classes(status)
        r = t.run_stream(5002, count=1000, rate=1000)
        self.say(f"default  (udp/5002) → arrived via {self.where(r)} "
                 f"({len(r.received)}/{r.stream.count} packets)")
        self.expect(r.count("wan1") == r.stream.count, f"default should be back on wan1: "
                    f"{r.describe()}")

    def cleanup(self):
        print("\nCleaning up: stopping pathsteerd, deleting the namespaces ...", flush=True)
        rc = self.topo.stop_daemon()
        self.topo.teardown()
        self.expect(rc in (None, 0), f"pathsteerd exited with {rc} on SIGTERM")
        self.expect(not self.topo.leftovers(), f"left behind: {self.topo.leftovers()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", help="CMake build dir holding pathsteerd "
                        "(default: $PATHSTEERD / $PATHSTEER_BUILD_DIR)")
    parser.add_argument("--policy", default=fixture.policy_path(), help="policy file "
                        "(default: policies/two-wan.yaml; the lab's checks assume it)")
    args = parser.parse_args()
    try:
        fixture.require_root()
    except unittest.SkipTest as e:
        print(f"lab: {e}; run it with sudo", file=sys.stderr)
        return 1
    try:
        daemon_bin = fixture.find_binary("PATHSTEERD", "pathsteerd", args.build_dir)
    except FileNotFoundError as e:
        print(f"lab: {e}", file=sys.stderr)
        return 1
    if not os.path.exists(args.policy):
        print(f"lab: {args.policy} does not exist", file=sys.stderr)
        return 1

    lab = Lab(daemon_bin, args.policy)
    try:
        lab.run()
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        lab.problems.append("interrupted")
    except Exception as e:
        print(f"\nlab failed: {e}", file=sys.stderr)
        if lab.topo.daemon:
            print(lab.topo.diagnostics(), file=sys.stderr)
        lab.problems.append(str(e))
    finally:
        lab.cleanup()
    if lab.problems:
        print(f"\n{len(lab.problems)} thing(s) did not go as the policy says:", file=sys.stderr)
        for p in lab.problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    print("done: everything went as the policy says.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
