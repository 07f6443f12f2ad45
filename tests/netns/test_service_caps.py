#!/usr/bin/env python3
"""The systemd unit's capability set (packaging/pathsteerd.service.in) is enough and minimal:
pathsteerd run with exactly CapabilityBoundingSet= (and no_new_privs, as NoNewPrivileges=yes)
starts, steers, reloads and stops cleanly; without any one of those capabilities it fails
(at start, or its probes cannot work). systemd itself is not needed: setpriv applies the same
bounding set to a root process."""

import os
import re
import signal
import sys
import time
import unittest

from fixture import DaemonExited, NetnsTestCase, SOURCE_DIR, two_wan_policy, wait_until

UNIT = os.path.join(SOURCE_DIR, "packaging", "pathsteerd.service.in")


def unit_setting(key):
    with open(UNIT) as f:
        for line in f:
            m = re.match(rf"^{key}=(.*)$", line.strip())
            if m:
                return m.group(1).split()
    raise KeyError(key)


def setpriv(caps):
    names = ",".join("+" + c.lower().removeprefix("cap_") for c in caps)
    return ["setpriv", "--bounding-set", f"-all,{names}", "--inh-caps", "-all",
            "--no-new-privs", "--"]


class ServiceCaps(NetnsTestCase):

    def start_with(self, caps):
        return self.topo.start_daemon(setpriv(caps) + [self.bin["PATHSTEERD"]],
                                      two_wan_policy(self.topo.tmpdir), timeout=10)

    def test_the_units_set_is_enough(self):
        caps = unit_setting("CapabilityBoundingSet")
        self.assertEqual(unit_setting("NoNewPrivileges"), ["yes"])
        self.start_with(caps)
        pid = self.topo.daemon.proc.pid
        with open(f"/proc/{pid}/status") as f:
            status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
        print(f"\nrunning with CapEff {status['CapEff']}, NoNewPrivs {status['NoNewPrivs']} "
              f"({' '.join(caps)})", file=sys.stderr)
        self.assertEqual(status["NoNewPrivs"], "1")
        self.topo.wait_all_up()
        result = self.topo.run_stream(5001, count=300, rate=1000)  # video -> wan2
        self.assertEqual(result.count("wan2"), 300, result.describe())
        gen = self.topo.status()["policy_generation"]
        os.kill(pid, signal.SIGHUP)
        wait_until(lambda: self.topo.status()["policy_generation"] == gen + 1, 5, "a reload")
        self.assertEqual(self.topo.status()["errors"], [])

    def test_each_capability_is_needed(self):
        caps = unit_setting("CapabilityBoundingSet")
        for missing in caps:
            with self.subTest(missing=missing):
                t0 = time.monotonic()
                fewer = [c for c in caps if c != missing]
                try:
                    self.start_with(fewer)
                except (DaemonExited, TimeoutError) as e:
                    self.topo.stop_daemon()
                    self.topo.daemon = None  # its exit code is the point, not a failure
                    why = str(e).strip().splitlines()[-1][:160]
                    print(f"\nwithout {missing}: no start ({why})", file=sys.stderr)
                    continue
                # It started: then its probes must be failing.
                wan = wait_until(lambda: next((w for w in self.topo.status()["wans"]
                                               if w["state"] == "down"), None),
                                 5, f"an uplink down without {missing}")
                print(f"\nwithout {missing}: started, uplink {wan['name']} down "
                      f"({wan['reason']}) after {time.monotonic() - t0:.1f} s",
                      file=sys.stderr)
                self.topo.stop_daemon()


if __name__ == "__main__":
    unittest.main(verbosity=2)
