#!/usr/bin/env python3
"""`cmake --install` lays out pathsteer as DESIGN and issue 8 say (binaries in bin/sbin, the
systemd unit, the commented default policy, docs), `systemd-analyze verify` accepts the unit
without a single warning, the unit carries the settings the service contract needs, and the
shipped policy validates with the installed `pathsteer`.

Usage: test_install.py <build dir>   (ctest passes it; needs no root)."""

import configparser
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

BUILD_DIR = None


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


class Install(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ps-install-")
        cls.prefix = os.path.join(cls.tmp, "usr")
        res = run(["cmake", "--install", BUILD_DIR, "--prefix", cls.prefix])
        if res.returncode != 0:
            raise RuntimeError(f"cmake --install failed:\n{res.stdout}{res.stderr}")
        cls.unit = os.path.join(cls.prefix, "lib/systemd/system/pathsteerd.service")
        cls.policy = os.path.join(cls.prefix, "etc/pathsteer/policy.yaml")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_layout(self):
        for rel in ("sbin/pathsteerd", "bin/pathsteer"):
            path = os.path.join(self.prefix, rel)
            self.assertTrue(os.access(path, os.X_OK), f"{path} is not an executable")
        for rel in ("lib/systemd/system/pathsteerd.service", "etc/pathsteer/policy.yaml",
                    "share/doc/pathsteer/README.md", "share/doc/pathsteer/ARCHITECTURE.md",
                    "share/doc/pathsteer/OPERATIONS.md",
                    "share/doc/pathsteer/example.yaml",
                    "share/man/man8/pathsteerd.8", "share/man/man8/pathsteer.8",
                    "share/man/man5/pathsteer-policy.5",
                    "share/pathsteer/grafana/pathsteer.json",
                    "share/bash-completion/completions/pathsteer"):
            self.assertTrue(os.path.isfile(os.path.join(self.prefix, rel)), rel)

    def test_systemd_analyze_verify_accepts_the_unit(self):
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd-analyze is not installed")
        res = run(["systemd-analyze", "verify", self.unit])
        out = (res.stdout + res.stderr).strip()
        print(f"\nsystemd-analyze verify: rc {res.returncode}, output {out!r}", file=sys.stderr)
        self.assertEqual(res.returncode, 0, out)
        # verify reports unknown keys and unparsable values as warnings with exit code 0.
        self.assertEqual(out, "", "systemd-analyze verify warned")

    def test_unit_settings(self):
        unit = configparser.ConfigParser(strict=False, interpolation=None)
        unit.optionxform = str
        unit.read(self.unit)
        svc = unit["Service"]
        sbin = os.path.join(self.prefix, "sbin/pathsteerd")
        self.assertEqual(svc["Type"], "notify")
        self.assertTrue(svc["ExecStart"].startswith(f"{sbin} --policy {self.policy} "),
                        svc["ExecStart"])
        self.assertIn("--pin-dir /sys/fs/bpf/pathsteer", svc["ExecStart"])
        self.assertIn("--state-dir /var/lib/pathsteer", svc["ExecStart"])
        self.assertEqual(svc["ExecReload"], "/bin/kill -HUP $MAINPID")
        self.assertEqual(svc["Restart"], "on-failure")
        self.assertTrue(svc["WatchdogSec"])
        self.assertEqual(svc["NoNewPrivileges"], "yes")
        self.assertEqual(svc["ProtectSystem"], "strict")
        # The policy's directory too: PUT /v1/policy writes policy.yaml.tmp there and
        # renames it over the policy (tests/systemd checks it under a real systemd). The pin
        # directory with "-": it does not exist until ExecStartPre makes it, and systemd sets
        # up the namespace for that "+" command too.
        etc = os.path.dirname(self.policy)
        self.assertEqual(set(svc["ReadWritePaths"].split()),
                         {"/var/lib/pathsteer", "-/sys/fs/bpf/pathsteer", etc})
        self.assertIn(f"--token-file {etc}/api.token", svc["ExecStart"])
        self.assertEqual(set(svc["RestrictAddressFamilies"].split()),
                         {"AF_NETLINK", "AF_INET", "AF_INET6", "AF_UNIX"})
        self.assertEqual(svc["SystemCallFilter"], "@system-service bpf")
        for key in ("PrivateDevices", "ProtectKernelTunables", "ProtectKernelModules",
                    "ProtectControlGroups", "NoNewPrivileges"):
            self.assertEqual(svc[key], "yes", key)
        self.assertTrue(svc["MemoryMax"] and svc["TasksMax"])
        caps = {"CAP_NET_ADMIN", "CAP_BPF", "CAP_PERFMON", "CAP_NET_RAW"}
        self.assertEqual(set(svc["CapabilityBoundingSet"].split()), caps)
        self.assertEqual(set(svc["AmbientCapabilities"].split()), caps)
        self.assertEqual(unit["Install"]["WantedBy"], "multi-user.target")

    def test_shipped_policy_validates(self):
        res = run([os.path.join(self.prefix, "bin/pathsteer"), "validate", self.policy])
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        with open(self.policy) as f:
            comments = sum(1 for line in f if line.lstrip().startswith("#"))
        self.assertGreater(comments, 10, "the default policy should explain itself")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    BUILD_DIR = sys.argv.pop(1)
    unittest.main(verbosity=2)
