#!/usr/bin/env python3
"""A netlink event socket overrun (ENOBUFS) triggers a full dump and resync, never a silent
drift (DESIGN.md section 4): with a tiny receive buffer (--netlink-rcvbuf 4096), a burst of
20,000 main-table route changes hides the hand-made deletion of one of our rules among lost
notifications; the daemon must notice the overrun, put the rule back and end "synced"."""

import os
import sys
import time
import unittest

from fixture import NetnsTestCase, run, wait_until

RCVBUF = 4096
ROUTES = 10_000
AFTER_BURST_BUDGET_S = 3.0


def burst_lines(op):
    return [f"route {op} 10.{1 + i // 256}.{i % 256}.0/24 dev wan2" for i in range(ROUTES)]


class Overrun(NetnsTestCase):

    def test_burst_with_a_hidden_deletion(self):
        self.start_daemon(extra_args=("--netlink-rcvbuf", str(RCVBUF)))
        status = self.topo.wait_all_up()
        wan1 = self.topo.wan("wan1", status)
        mark = int(str(wan1["mark"]), 0)

        def lookup_rules():
            return [r for r in self.topo.kernel_rules()[4]
                    if r.get("table") == str(wan1["table"]) and "fwmark" in r
                    and int(r["fwmark"], 16) == mark and str(r.get("protocol")) == "201"]

        (rule,) = lookup_rules()
        prio = rule["priority"]

        # Adds, our rule's deletion in the middle, deletes: one `ip` process, 20,001 changes.
        lines = burst_lines("add") + [f"rule del pref {prio}"] + burst_lines("del")
        batch = os.path.join(self.topo.tmpdir, "burst.batch")
        with open(batch, "w") as f:
            f.write("\n".join(lines) + "\n")
        t0 = time.monotonic()
        run(["ip", "-n", self.topo.ns["gw"], "-4", "-batch", batch], timeout=60)
        ended = time.monotonic()
        print(f"\nburst of {len(lines)} changes took {(ended - t0) * 1000:.0f} ms",
              file=sys.stderr)

        def back_and_synced():
            st = self.topo.status()
            return lookup_rules() == [rule] and st.get("sync_state") == "synced" and st

        st = wait_until(back_and_synced, AFTER_BURST_BUDGET_S,
                        f"rule {prio} back and status sync_state 'synced' after the burst")
        print(f"rule {prio} back and synced {(time.monotonic() - ended) * 1000:.0f} ms after "
              f"the burst ended", file=sys.stderr)
        self.assertTrue(st["synced"], st)
        self.assertEqual(st["errors"], [], st)
        leftover = [r for r in self.topo.kernel_routes("main")[4] if r["dst"].startswith("10.")]
        self.assertEqual(leftover, [], "the burst's routes were not all deleted")

        with open(self.topo.daemon.log_path, errors="replace") as f:
            log = f.read()
        overruns = [line for line in log.splitlines() if "overrun" in line.lower()]
        self.assertTrue(overruns, "the daemon log does not mention the overrun")
        print(f"log: {len(overruns)} overrun line(s), first: {overruns[0].strip()}",
              file=sys.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
