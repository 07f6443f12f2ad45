#!/usr/bin/env python3
"""The .deb (debian/, built by scripts/build-deb.sh) installs into a clean Debian 12 root with
its dependencies (apt resolves the Depends that dpkg-shlibdeps computed), `pathsteer validate` passes on the shipped default
policy there, the daemon's shared libraries all resolve, `man` shows pathsteer(8),
pathsteerd(8) and pathsteer-policy(5), the installed unit names binaries
that exist there, and the policy is a conffile: an edited policy survives a reinstall of the
package. (`systemd-analyze verify` of the unit is package.install's, on the build host:
systemd in the root would add a minute to a cold run.)

lintian found no error in it (scripts/build-deb.sh keeps its report beside the .deb).

Usage: test_deb.py <dir with pathsteer_*.deb>. Needs root (debootstrap, chroot) and the Debian mirror this
machine's apt uses. The minbase root is cached as a tarball (PS_DEB_ROOT_CACHE, default
/var/cache/pathsteer-tests): written once atomically, only ever extracted into a fresh
directory, so a run can never see another run's changes. Everything else lives in a temp dir
and the chroot's mounts in a private mount namespace that dies with the test."""

import glob
import hashlib
import os
import shutil
import sys
import tempfile
import time
import unittest

from debian_root import SUITE, debootstrap, host_debian_sources, main_mirror, run

DEB_DIR = None
CACHE_DIR = os.environ.get("PS_DEB_ROOT_CACHE", "/var/cache/pathsteer-tests")
CACHE_MAX_AGE_S = 30 * 86400
SKIP_BANNER = "PACKAGE TEST SKIPPED"


def base_root_tarball(mirror):
    """A cached tarball of `debootstrap --variant=minbase SUITE` from `mirror` (built if
    missing or older than CACHE_MAX_AGE_S)."""
    key = hashlib.sha256(f"{SUITE} minbase {mirror}".encode()).hexdigest()[:12]
    tarball = os.path.join(CACHE_DIR, f"{SUITE}-minbase-{key}.tar")
    if os.path.exists(tarball) and time.time() - os.path.getmtime(tarball) < CACHE_MAX_AGE_S:
        print(f"base root: cached {tarball}", file=sys.stderr)
        return tarball
    os.makedirs(CACHE_DIR, exist_ok=True)
    work = tempfile.mkdtemp(prefix="ps-debootstrap-")
    try:
        t0 = time.monotonic()
        root = os.path.join(work, "root")
        version = debootstrap(root, mirror)
        tmp = f"{tarball}.{os.getpid()}.tmp"
        run(["tar", "-C", root, "--numeric-owner", "-cf", tmp, "."])
        os.replace(tmp, tarball)  # atomic: a reader sees no tarball or a whole one
        print(f"base root: debootstrap {SUITE} ({version}) in {time.monotonic() - t0:.0f} s, "
              f"cached as {tarball}", file=sys.stderr)
        return tarball
    finally:
        shutil.rmtree(work, ignore_errors=True)


class Deb(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            msg = "the package test needs root (debootstrap, chroot)"
            if os.environ.get("CI") == "true":
                raise RuntimeError(f"{msg}, and CI=true: refusing to skip")
            print(f"\n{'#' * 72}\n# {SKIP_BANNER}: {msg}\n{'#' * 72}", file=sys.stderr)
            raise unittest.SkipTest(msg)
        for tool in ("debootstrap", "unshare", "chroot"):
            if not shutil.which(tool):
                raise RuntimeError(f"{tool} is missing (scripts/install-deps.sh installs it)")

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ps-deb-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def built_deb(self):
        debs = glob.glob(os.path.join(DEB_DIR, "pathsteer_*.deb"))
        self.assertEqual(len(debs), 1, f"want one pathsteer_*.deb in {DEB_DIR} "
                         f"(scripts/build-deb.sh makes it): {debs}")
        return debs[0]

    def test_lintian_reports_no_error(self):
        self.built_deb()
        with open(os.path.join(DEB_DIR, "lintian.txt")) as f:
            report = f.read()
        print(f"\nlintian:\n{report}", file=sys.stderr)
        self.assertEqual([line for line in report.splitlines() if line.startswith("E: ")], [])

    def chroot(self, root, script):
        """Runs `script` (sh -e) chrooted into root with /proc mounted, in a private mount
        namespace (the mount goes away with the process)."""
        return run(["unshare", "--mount", "--propagation", "private", "--", "sh", "-ec",
                    f'mount -t proc proc "$1/proc"; exec chroot "$1" /bin/sh -ec "$2"',
                    "sh", root, script])

    def test_installs_validates_and_keeps_an_edited_policy(self):
        t0 = time.monotonic()
        deb = self.built_deb()
        sources = host_debian_sources()
        tarball = base_root_tarball(main_mirror(sources))
        root = os.path.join(self.tmp, "root")
        os.mkdir(root)
        run(["tar", "-C", root, "--numeric-owner", "-xf", tarball])
        with open(os.path.join(root, "etc/apt/sources.list"), "w") as f:
            for uri, suite, comps in sources:
                f.write(f"deb {uri} {suite} {' '.join(comps)}\n")
        shutil.copy("/etc/resolv.conf", os.path.join(root, "etc/resolv.conf"))
        shutil.copy(deb, os.path.join(root, "tmp/pathsteer.deb"))
        print(f"clean root ready after {time.monotonic() - t0:.0f} s", file=sys.stderr)

        res = self.chroot(root, """
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq
            # man-db beside it: `man pathsteer` must work once the package is in (issue 15)
            apt-get install -y -qq --no-install-recommends /tmp/pathsteer.deb man-db >/tmp/apt.log
            echo "--- installed"; dpkg-query -W -f '${Version} ${Status}\\n' pathsteer
            echo "--- conffiles"; dpkg-query -W -f '${Conffiles}\\n' pathsteer
            echo "--- validate"; pathsteer validate /etc/pathsteer/policy.yaml
            echo "--- daemon links"; pathsteerd --help >/dev/null && echo runs
            echo "--- man"
            for page in "8 pathsteer" "8 pathsteerd" "5 pathsteer-policy"; do
              MANWIDTH=100 man -P cat $page 2>&1 | sed -n '/^NAME/{n;p;q}'
            done
            echo "--- unit commands"
            for c in $(sed -n 's/^Exec[A-Za-z]*=[-+!@]*\\([^ ]*\\).*/\\1/p' \
                         /usr/lib/systemd/system/pathsteerd.service); do
              if test -x "$c"; then echo "found $c"; else echo "missing $c"; fi
            done
            echo "--- end"
        """)
        out = res.stdout
        print(out, file=sys.stderr)
        sections, current = {}, None
        for line in out.splitlines():
            if line.startswith("--- "):
                current = line[4:]
                sections[current] = []
            elif current:
                sections[current].append(line)
        section = lambda name: "\n".join(sections[name]).strip()
        self.assertRegex(section("installed"), r"^\S+ install ok installed$")
        self.assertIn("/etc/pathsteer/policy.yaml", section("conffiles"))
        self.assertRegex(section("validate"), r"policy\.yaml: valid \(2 wans, 2 classes\)")
        self.assertEqual(section("daemon links"), "runs")
        names = [line.split()[0] for line in section("man").splitlines()]
        self.assertEqual(names, ["pathsteer", "pathsteerd", "pathsteer-policy"],
                         f"man pages after install: {section('man')}")
        self.assertEqual(sorted(section("unit commands").splitlines()),
                         ["found /bin/kill", "found /bin/mkdir", "found /bin/sh",
                          "found /usr/sbin/pathsteerd"])

        # An operator's edit survives reinstalling (and so upgrading to) the package.
        res = self.chroot(root, """
            sed -i 's/interface: eth1/interface: enp1s0/' /etc/pathsteer/policy.yaml
            echo "# edited by the operator" >> /etc/pathsteer/policy.yaml
            dpkg -i /tmp/pathsteer.deb >/tmp/dpkg.log 2>&1
            pathsteer validate /etc/pathsteer/policy.yaml
            grep -c 'edited by the operator\\|interface: enp1s0' /etc/pathsteer/policy.yaml
        """)
        lines = res.stdout.strip().splitlines()
        self.assertEqual(lines[-1], "2", f"the edited policy was overwritten: {res.stdout}")
        print(f"package test: {time.monotonic() - t0:.0f} s in all", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    DEB_DIR = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
