"""Clean Debian 12 roots for the package and systemd stages: this machine's Debian mirrors,
debootstrap with the version checked, and a `run` that raises with the command's output."""

import glob
import os
import re
import subprocess
import unittest

SUITE = "bookworm"


def run(cmd, timeout=600, check=True, **kw):
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and res.returncode != 0:
        raise RuntimeError(f"command failed ({res.returncode}): {' '.join(cmd)}\n"
                           f"{res.stdout[-3000:]}{res.stderr[-3000:]}")
    return res


def host_debian_sources():
    """[(uri, suite, components)] of the Debian entries of this machine's apt sources
    (one-line and deb822 formats), for the suites of SUITE."""
    entries = []
    files = glob.glob("/etc/apt/sources.list") + glob.glob("/etc/apt/sources.list.d/*")
    for path in files:
        with open(path) as f:
            text = f.read()
        if path.endswith(".sources"):
            for stanza in re.split(r"\n\s*\n", text):
                fields = {}
                for line in stanza.splitlines():
                    if ":" in line and not line.lstrip().startswith("#"):
                        k, v = line.split(":", 1)
                        fields[k.strip().lower()] = v.split()
                if "deb" not in fields.get("types", []):
                    continue
                for uri in fields.get("uris", []):
                    for suite in fields.get("suites", []):
                        entries.append((uri, suite, fields.get("components", ["main"])))
        else:
            for line in text.splitlines():
                parts = line.split("#", 1)[0].split()
                if len(parts) >= 3 and parts[0] == "deb":
                    parts = [p for p in parts[1:] if not p.startswith("[")]
                    entries.append((parts[0], parts[1], parts[2:] or ["main"]))
    return [(u, s, ["main"]) for u, s, _ in entries
            if s.split("-")[0] == SUITE and re.search(r"/debian(-security)?/?$", u)]


def main_mirror(sources):
    for uri, suite, _ in sources:
        if suite == SUITE:
            return uri
    raise unittest.SkipTest(f"no Debian {SUITE} mirror in this machine's apt sources")


def debootstrap(target, mirror, include=()):
    """`debootstrap --variant=minbase SUITE target mirror` (plus `include`); returns the
    Debian version it made, which must be 12."""
    cmd = ["debootstrap", "--variant=minbase"]
    if include:
        cmd.append(f"--include={','.join(include)}")
    run(cmd + [SUITE, target, mirror], timeout=900)
    with open(os.path.join(target, "etc/debian_version")) as f:
        version = f.read().strip()
    if not version.startswith("12"):
        raise RuntimeError(f"debootstrap made Debian {version}, not 12")
    return version

