#!/usr/bin/env python3
"""Policy errors name file:line:col and the offending key, in `pathsteer validate` and in
pathsteerd alike (a prefix file's bad line: that file's line:col); valid policies pass."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import fixture
from fixture import NetnsTestCase

# interval_ms misspelled; the test finds its line itself, so the text may change freely.
BAD_KEY = "intervl_ms"
BAD_POLICY = fixture.FALLBACK_TWO_WAN.replace(
    "health: { interval_ms: 100, timeout_ms: 300, down_after: 3, up_after: 3 }",
    f"health:\n      {BAD_KEY}: 100\n      timeout_ms: 300\n      down_after: 3\n"
    f"      up_after: 3", 1)
assert BAD_KEY in BAD_POLICY
GOOD_POLICY = BAD_POLICY.replace(BAD_KEY, "interval_ms")


def error_lines(text, path):
    """[(line, col, message)] of the `path:line:col: message` lines in text."""
    pattern = re.compile(rf"^{re.escape(path)}:(\d+):(\d+): (.+)$", re.M)
    return [(int(m[1]), int(m[2]), m[3]) for m in pattern.finditer(text)]


def write_policies(tmpdir):
    paths = {}
    for name, text in (("bad.yaml", BAD_POLICY), ("good.yaml", GOOD_POLICY)):
        paths[name] = os.path.join(tmpdir, name)
        with open(paths[name], "w") as f:
            f.write(text)
    bad_line = next(i for i, line in enumerate(BAD_POLICY.splitlines(), 1) if BAD_KEY in line)
    return paths["bad.yaml"], paths["good.yaml"], bad_line


class ValidateCli(unittest.TestCase):
    """Needs no root: `pathsteer validate` touches no kernel state."""

    def setUp(self):
        try:
            self.cli = fixture.find_binary("PATHSTEER", "pathsteer")
        except FileNotFoundError as e:
            raise self.failureException(f"pathsteer is missing: {e}") from None
        self.tmpdir = tempfile.mkdtemp(prefix="pst-validate-")
        self.addCleanup(shutil.rmtree, self.tmpdir, True)
        self.bad, self.good, self.bad_line = write_policies(self.tmpdir)

    def validate(self, path):
        return subprocess.run([self.cli, "validate", path], capture_output=True, text=True,
                              timeout=30)

    def test_misspelled_key_names_line_and_key(self):
        res = self.validate(self.bad)
        self.assertEqual(res.returncode, 1, res)
        errors = error_lines(res.stderr, self.bad)
        self.assertTrue(errors, f"no '{self.bad}:line:col: message' line in:\n{res.stderr}")
        hits = [e for e in errors if e[0] == self.bad_line and BAD_KEY in e[2]]
        self.assertTrue(hits, f"want line {self.bad_line} naming {BAD_KEY}: {errors}")
        key_col = BAD_POLICY.splitlines()[self.bad_line - 1].index(BAD_KEY) + 1
        self.assertEqual(hits[0][1], key_col, "the column should point at the key (from 1)")

    def test_valid_policies_pass(self):
        for path in (self.good, fixture.two_wan_policy(self.tmpdir)):
            with self.subTest(policy=path):
                res = self.validate(path)
                self.assertEqual(res.returncode, 0, res)
                self.assertEqual(error_lines(res.stdout + res.stderr, path), [])


    def test_prefix_file_errors_name_the_file(self):
        """A bad line of a dst_file is FILE:line:col in the prefix file (relative to the
        policy's directory); a missing one is an error at the policy's key."""
        self.assertEqual(GOOD_POLICY.count("  default:\n"), 1, "the default class changed shape")
        text = GOOD_POLICY.replace("  default:\n", "  cn:\n    match: [ { dst_file: cn.txt } ]\n"
                                   "    paths: [wan2, wan1]\n  default:\n")
        with open(os.path.join(self.tmpdir, "cn.yaml"), "w") as f:
            f.write(text)
        with open(os.path.join(self.tmpdir, "cn.txt"), "w") as f:
            f.write("# a country list\n1.0.1.0/24\n\n  x\n2001:250::/35\n")
        res = subprocess.run([self.cli, "validate", "cn.yaml"], capture_output=True, text=True,
                             timeout=30, cwd=self.tmpdir)
        self.assertEqual(res.returncode, 1, res)
        self.assertEqual(res.stderr,
                         "cn.txt:4:3: invalid prefix: 'x' is not an IPv4 or IPv6 address\n")

        with open(os.path.join(self.tmpdir, "cn.txt"), "w") as f:
            f.write("# a country list\n1.0.1.0/24\n\n2001:250::/35\n")
        path = os.path.join(self.tmpdir, "cn.yaml")
        res = self.validate(path)
        self.assertEqual(res.returncode, 0, res)
        self.assertEqual(res.stdout, f"{path}: valid (2 wans, 3 classes)\n")

        os.unlink(os.path.join(self.tmpdir, "cn.txt"))
        res = self.validate(path)
        self.assertEqual(res.returncode, 1, res)
        errors = error_lines(res.stderr, path)
        key = "    match: [ { dst_file: cn.txt } ]"
        line, col = text.splitlines().index(key) + 1, key.index("dst_file") + 1
        self.assertEqual(errors, [(line, col, "cannot read the prefix file 'cn.txt' ("
                                   f"{self.tmpdir}/cn.txt) of classes.cn.match[0].dst_file: No "
                                   "such file or directory")], res.stderr)


class DaemonRejects(NetnsTestCase):
    """pathsteerd on the same file exits non-zero with the same message, before touching the
    kernel. Runs in the fixture's GW namespace so a daemon that wrongly starts harms nothing."""

    needs = ("PATHSTEERD", "PATHSTEER")

    def test_daemon_refuses_invalid_policy(self):
        bad, _, _ = write_policies(self.topo.tmpdir)
        want = error_lines(subprocess.run([self.bin["PATHSTEER"], "validate", bad],
                                          capture_output=True, text=True, timeout=30).stderr,
                           bad)
        self.assertTrue(want, "pathsteer validate reported no error lines")

        command = fixture.Daemon(self.topo, self.bin["PATHSTEERD"], bad).command()
        try:
            res = subprocess.run(command, capture_output=True, text=True, timeout=15)
        except subprocess.TimeoutExpired:
            self.fail("pathsteerd kept running with an invalid policy")
        self.assertNotEqual(res.returncode, 0, res)
        got = error_lines(res.stderr, bad)
        for line in want:
            self.assertIn(line, got, f"pathsteerd's stderr:\n{res.stderr}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
