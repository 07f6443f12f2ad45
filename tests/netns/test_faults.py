#!/usr/bin/env python3
"""Faults the daemon survives (issue 8), one test each: a LAN interface that appears after
start (the classifier follows it); bpffs not mounted at start (the daemon mounts it; run in a
private mount namespace so the host's bpffs is never touched); the state directory read-only,
impossible to create or writable by others (a clear error, steering and failover go on).
Elsewhere: the flapping uplink is test_flap.py; netlink overrun, an uplink re-created with a
new ifindex and a policy file deleted or truncated under a running daemon are
test_overrun.py, test_link_lifecycle.py and test_reload.py."""

import os
import subprocess
import sys
import time
import unittest

import fixture
from fixture import (GW_LAN_V4, GW_LAN_V6, LAN_V4, LAN_V6, NetnsTestCase, two_wan_policy,
                     wait_until)
from infra_util import classifier_prog, in_private_mounts

RULE_BASE, PROTOCOL = 10000, "201"


class Faults(NetnsTestCase):

    def steered(self, count=300):
        """video (UDP 5001) must take wan2 and everything else wan1: only true while the
        classifier marks packets and the rules send the marks to the uplinks' tables."""
        video = self.topo.run_stream(5001, count=count, rate=1000)
        self.assertEqual(video.count("wan2"), count, video.describe())
        other = self.topo.run_stream(5002, count=count, rate=1000)
        self.assertEqual(other.count("wan1"), count, other.describe())

    def log(self):
        with open(self.topo.daemon.log_path, errors="replace") as f:
            return f.read()

    # -- a LAN interface that appears after start --

    def test_lan_interface_appears_after_start(self):
        self.topo.ip("gw", "link", "del", "lan0")  # the veth pair goes, the LAN side too
        self.start_daemon()
        self.topo.wait_all_up()
        self.assertIsNone(classifier_prog(self.topo, "lan0"))

        fixture.run(["ip", "link", "add", "lan0", "netns", self.topo.ns["gw"], "type", "veth",
                     "peer", "name", "lan0", "netns", self.topo.ns["lan"]])
        self.topo.ip("gw", "addr", "add", f"{GW_LAN_V4}/24", "dev", "lan0")
        self.topo.ip("gw", "addr", "add", f"{GW_LAN_V6}/64", "dev", "lan0", "nodad")
        self.topo.ip("lan", "addr", "add", f"{LAN_V4}/24", "dev", "lan0")
        self.topo.ip("lan", "addr", "add", f"{LAN_V6}/64", "dev", "lan0", "nodad")
        t0 = time.monotonic()
        self.topo.ip("gw", "link", "set", "lan0", "up")
        self.topo.ip("lan", "link", "set", "lan0", "up")
        prog = wait_until(lambda: classifier_prog(self.topo, "lan0"), 2,
                          "the classifier on the new lan0")
        print(f"\nclassifier (prog {prog}) on the new lan0 "
              f"{(time.monotonic() - t0) * 1000:.0f} ms after it came up", file=sys.stderr)
        self.topo.ip("lan", "route", "add", "default", "via", GW_LAN_V4)
        self.topo.ip("lan", "-6", "route", "add", "default", "via", GW_LAN_V6)
        self.topo.wait_neighbours({"lan": [GW_LAN_V4, GW_LAN_V6], "gw": [LAN_V4, LAN_V6]})
        self.steered()
        self.assertIn("classifier attached to lan0", self.log())

    # -- bpffs not mounted at start --

    def test_bpffs_not_mounted_at_start(self):
        unmount_bpffs = ("while grep -q ' /sys/fs/bpf ' /proc/self/mountinfo; do "
                         "umount /sys/fs/bpf; done")
        self.topo.start_daemon(in_private_mounts(unmount_bpffs) + [self.bin["PATHSTEERD"]],
                               two_wan_policy(self.topo.tmpdir))
        self.topo.wait_all_up()
        pid = self.topo.daemon.proc.pid
        self.assertIn("mounted bpffs on /sys/fs/bpf", self.log())
        with open(f"/proc/{pid}/mountinfo") as f:
            bpf_mounts = [line for line in f if " /sys/fs/bpf " in line]
        self.assertEqual(len(bpf_mounts), 1, bpf_mounts)
        self.assertIn(" - bpf ", bpf_mounts[0])
        pins = subprocess.run(["nsenter", "-t", str(pid), "-m", "ls", self.topo.pin_dir],
                              capture_output=True, text=True, check=True).stdout.split()
        print(f"\ndaemon's own bpffs: {bpf_mounts[0].split()[9:]}; pins {pins}",
              file=sys.stderr)
        self.assertTrue(any(p.startswith("ps_cfg_v") for p in pins), pins)  # the config map
        # The pins live in the daemon's bpffs, not in the host's (which is still mounted).
        self.assertFalse(os.path.exists(self.topo.pin_dir))
        with open("/proc/self/mountinfo") as f:
            self.assertTrue(any(" /sys/fs/bpf " in line and " - bpf " in line for line in f))
        self.steered()

    # -- the state directory unwritable --

    def test_state_dir_read_only(self):
        state = self.topo.state_dir
        read_only = f'mount --bind "{state}" "{state}"; mount -o remount,bind,ro "{state}"'
        self.topo.start_daemon(in_private_mounts(read_only) + [self.bin["PATHSTEERD"]],
                               two_wan_policy(self.topo.tmpdir))
        self.check_steering_without_state("Read-only file system")

    def test_state_dir_cannot_be_created(self):
        blocker = os.path.join(self.topo.tmpdir, "not-a-dir")
        open(blocker, "w").close()
        self.start_daemon(extra_args=["--state-dir", os.path.join(blocker, "state")])
        self.check_steering_without_state("Not a directory")

    def test_state_dir_writable_by_others_is_refused(self):
        # Intents or uplink numbers planted by another user must not be believed.
        os.chmod(self.topo.state_dir, 0o777)
        with open(os.path.join(self.topo.state_dir, "uplink-ids.json"), "w") as f:
            f.write('{"version":1,"uplinks":{"wan1":9,"wan2":8}}')
        self.start_daemon()
        self.check_steering_without_state("writable by group or others (mode 0777)")

    def check_steering_without_state(self, why):
        self.topo.wait_all_up()
        errors = self.topo.status()["errors"]
        print(f"\nstatus errors: {errors}", file=sys.stderr)
        self.assertTrue(any(why in e and ("state" in e or "persist" in e) for e in errors),
                        errors)
        self.assertIn(why, self.log())
        self.steered()
        # Failover still works (its health file cannot be written either).
        self.topo.blackhole("wan2", True)
        wait_until(lambda: self.topo.klass("video")["uplink"] == "wan1", 5,
                   "video failed over to wan1")
        video = self.topo.run_stream(5001, count=200, rate=1000)
        self.assertEqual(video.count("wan1"), 200, video.describe())


if __name__ == "__main__":
    unittest.main(verbosity=2)
