#!/usr/bin/env python3
"""clang-tidy (the checked-in .clang-tidy, warnings as errors) over pathsteer's product sources.

Product sources: the .cpp files of common/ model/ bpf/ (not bpf/kern/) netlink/ probes/
controller/ api/ fleet/ daemon/ cli/ import/, not *_test.cpp; each one as the build compiles it
($BUILD_DIR/compile_commands.json, so the build must have run: bpf/ needs its generated
skeleton header). Diagnostics in our headers are reported through HeaderFilterRegex.

clang-tidy 14 spends 2-75 s CPU on one of our translation units, 11-14 CPU-minutes on all
(measured: about 15% parsing, 30% the AST-matcher checks, which walk every header, the
system's included, whatever HeaderFilterRegex says, and 55% clang-analyzer-*), so a TU is
checked only when what clang-tidy would see of it changed: its cache key is a hash of
the TU's preprocessed text (with comments, so NOLINT counts; it holds every header the TU
includes, ours and the system's), its compile command, every .clang-tidy that applies,
the clang-tidy binary and version, and this script. A key is stored only when the TU came
out clean, so a cached TU is one whose identical input was already found clean, and a TU
with warnings is checked (and reported) on every run. Paths of the checkout and the build
dir are replaced by placeholders before hashing, so every clone on one machine (CI's fresh
one too) shares the cache. Precompiled headers would save part of the 15% only.

Cache: $PATHSTEER_TIDY_CACHE, else ${XDG_CACHE_HOME:-/var/cache}/pathsteer/tidy, else (not
writable) $BUILD_DIR/tidy-cache. PATHSTEER_TIDY_CACHE=off checks every TU. Entries unused
for 30 days are removed. TIDY_JOBS (default: nproc) TUs are checked at once.

`scripts/tidy.py common/log.cpp ...` checks only those product TUs.

Exit status: 0 when every TU is clean; 1 on any warning (or clang-tidy failure). Without
clang-tidy it skips with a banner, but under CI=true it fails: CI never skips a test.
"""

import concurrent.futures
import hashlib
import json
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time

TOP = pathlib.Path(__file__).resolve().parent.parent
BUILD = pathlib.Path(os.environ.get("BUILD_DIR", TOP / "build")).resolve()
PRODUCT = re.compile(r"^(common|model|netlink|probes|controller|api|fleet|daemon|cli|import)/.*\.cpp$|^bpf/[^/]+\.cpp$")
# fleet/etcd_client.cpp (the transport; its parsers are in fleet/etcd_json.cpp, checked) runs its HTTP exchanges as C++20 coroutines (asio's awaitable); clang
# 14 (clang-tidy here) does not define __cpp_impl_coroutine, so libstdc++ 12's <coroutine> is
# empty for it and asio turns co_await off: the TU does not parse. GCC 12 builds it with
# -Werror. Not checked until the transport is written without coroutines (or clang >= 17).
NOT_PRODUCT = re.compile(r"_test\.cpp$|^fleet/etcd_client\.cpp$")
CACHE_DAYS = 30


def say(*args):
    print("tidy:", *args, flush=True)


def banner(lines):
    width = max(len(s) for s in lines) + 4
    print("#" * width, file=sys.stderr)
    for s in lines:
        print("# " + s.ljust(width - 4) + " #", file=sys.stderr)
    print("#" * width, file=sys.stderr, flush=True)


def missing_tool(what):
    if os.environ.get("CI") == "true":
        banner([f"{what} is not installed: under CI=true the tidy stage FAILS",
                "(scripts/install-deps.sh installs it)."])
        sys.exit(1)
    banner([f"{what} is not installed: the clang-tidy stage is SKIPPED.",
            "Run scripts/install-deps.sh to install it."])
    sys.exit(0)


def find_tools():
    tidy = shutil.which(os.environ.get("CLANG_TIDY", "clang-tidy"))
    if not tidy:
        missing_tool("clang-tidy")
    version = subprocess.run([tidy, "--version"], check=True, capture_output=True, text=True).stdout
    major = re.search(r"version (\d+)", version)
    # The preprocessor of the same LLVM release, so the text hashed is the text clang-tidy parses.
    cxx = (major and shutil.which(f"clang++-{major.group(1)}")) or shutil.which("clang++")
    if not cxx:
        missing_tool("clang++ (clang)")
    # What clang-tidy is: its version, its binary, and (the parser and the analyzer live
    # there) which libclang-cpp and libLLVM it loads, by name, size and time.
    with open(os.path.realpath(tidy), "rb") as f:
        identity = [version, hashlib.sha256(f.read()).hexdigest()]
    ldd = subprocess.run(["ldd", tidy], capture_output=True, text=True).stdout
    for lib in sorted(set(re.findall(r"=> (\S*lib(?:clang|LLVM)\S*)", ldd))):
        st = os.stat(lib)
        identity.append(f"{os.path.realpath(lib)} {st.st_size} {st.st_mtime_ns}")
    return tidy, cxx, "\n".join(identity) + "\n"


def cache_dir():
    explicit = os.environ.get("PATHSTEER_TIDY_CACHE")
    if explicit == "off":
        return None
    candidates = [explicit] if explicit else []
    xdg = os.environ.get("XDG_CACHE_HOME") or "/var/cache"
    candidates.append(os.path.join(xdg, "pathsteer", "tidy"))
    candidates.append(str(BUILD / "tidy-cache"))
    for c in candidates:
        try:
            os.makedirs(c, exist_ok=True)
            if os.access(c, os.W_OK):
                return pathlib.Path(c)
        except OSError:
            pass
    return None


def prune(cache):
    cutoff = time.time() - CACHE_DAYS * 86400
    for p in [*cache.glob("*.ok"), *cache.glob(".*")]:  # and what a killed run left
        try:
            if p.stat().st_mtime < cutoff:
                p.unlink()
        except OSError:
            pass


def product_units():
    """{relative path: [compile command args]} of every product TU in compile_commands.json."""
    db = BUILD / "compile_commands.json"
    if not db.exists():
        say(f"{db} is missing: run the build first (scripts/build.sh)")
        sys.exit(1)
    units = {}
    for e in json.loads(db.read_text()):
        path = pathlib.Path(e["directory"], e["file"]).resolve()
        try:
            rel = path.relative_to(TOP).as_posix()
        except ValueError:
            continue
        if not PRODUCT.match(rel) or NOT_PRODUCT.search(rel):
            continue
        args = e.get("arguments") or shlex.split(e["command"])
        units.setdefault(rel, []).append((e["directory"], args))
    # A product source the build does not compile would go unchecked without a word.
    git = subprocess.run(["git", "-C", str(TOP), "ls-files", "*.cpp"], capture_output=True,
                         text=True)
    tracked = {f for f in git.stdout.split() if PRODUCT.match(f) and not NOT_PRODUCT.search(f)}
    if tracked - units.keys():
        say(f"not in {db}, so not checked: {' '.join(sorted(tracked - units.keys()))}")
        sys.exit(1)
    return units


def normalize(text):
    # The build dir first: it may lie inside the checkout.
    return text.replace(str(BUILD), "@BUILD@").replace(str(TOP), "@TOP@")


def preprocess_args(cxx, args):
    """The compile command turned into `clang++ -E -C` to stdout."""
    out, skip = [cxx], False
    for a in args[1:]:
        if skip:
            skip = False
        elif a in ("-o", "-MF", "-MT", "-MQ"):
            skip = True
        elif a in ("-c", "-MD", "-MMD") or a.startswith("-o"):
            pass
        else:
            out.append(a)
    # clang-tidy defines __clang_analyzer__ (headers may test it).
    return out + ["-D__clang_analyzer__", "-E", "-C", "-w", "-Wno-unknown-warning-option",
                  "-o", "-"]


def tidy_configs(rel):
    """The text of every .clang-tidy from the TU's folder up to the checkout's top."""
    d, texts = (TOP / rel).parent, []
    while True:
        f = d / ".clang-tidy"
        if f.exists():
            texts.append(f"{f.relative_to(TOP)}\n{f.read_text()}")
        if d == TOP:
            return "\n".join(texts)
        d = d.parent


def preprocess(directory, args, cxx):
    """(preprocessed text, the files it was read from), or None when the preprocessor fails."""
    r = subprocess.run(preprocess_args(cxx, args), cwd=directory, capture_output=True)
    if r.returncode != 0:
        return None  # clang-tidy reports the error
    text = r.stdout.decode("utf-8", "surrogateescape")
    files = set(re.findall(r'^# \d+ "([^"<]+)"', text, re.M))
    return text, {os.path.normpath(os.path.join(directory, f)) for f in files}


def unit_key(rel, commands, cxx, salt):
    """(the TU's cache key, every file its text was read from, the text's size); key None when
    the preprocessor fails."""
    h = hashlib.sha256(salt.encode())
    h.update(tidy_configs(rel).encode())
    read, size = set(), 0
    for directory, args in commands:
        h.update(normalize(shlex.join(args)).encode())
        pre = preprocess(directory, args, cxx)
        if pre is None:
            return None, read, size
        h.update(normalize(pre[0]).encode("utf-8", "surrogateescape"))
        read |= pre[1]
        size += len(pre[0])
    return h.hexdigest(), read, size


def changed_since(files, t):
    """Whether any of the files was written at or after t (or is gone)."""
    for f in files:
        try:
            if os.stat(f).st_mtime >= t - 1:  # 1 s: file systems with coarse timestamps
                return True
        except OSError:
            return True
    return False


def run(cmd):
    """(exit code, output, CPU seconds) of cmd."""
    with tempfile.TemporaryFile() as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(p.pid, 0)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    return os.waitstatus_to_exitcode(status), text, usage.ru_utime + usage.ru_stime


def main():
    tidy, cxx, version = find_tools()
    units = product_units()
    if sys.argv[1:]:  # only these (paths from the checkout's top)
        units = {rel: cmds for rel, cmds in units.items() if rel in sys.argv[1:]}
    if not units:
        say("no product sources in compile_commands.json")
        return 1
    cache = cache_dir()
    if cache:
        prune(cache)
    jobs = int(os.environ.get("TIDY_JOBS") or os.cpu_count() or 1)
    tidy_args = ["-p", str(BUILD), "--quiet"]
    salt = version + pathlib.Path(__file__).read_text() + shlex.join(tidy_args[2:])
    say(f"{len(units)} product TUs, {jobs} at a time; cache {cache or 'off'}")

    times_file = cache / "cpu-seconds.json" if cache else None
    try:
        cpu_seconds = json.loads(times_file.read_text())
    except (AttributeError, OSError, ValueError):
        cpu_seconds = {}

    t0 = time.monotonic()

    def keyed(rel):
        t = time.time()
        key, read, size = unit_key(rel, units[rel], cxx, salt) if cache else (None, set(), 0)
        return rel, t, key, read, size

    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        keys = list(pool.map(keyed, sorted(units)))
    todo = []
    for rel, t, key, read, size in keys:
        if key and (cache / f"{key}.ok").exists():
            os.utime(cache / f"{key}.ok")  # in use: not pruned
        else:
            todo.append((rel, t, key, read, size))
    cached = len(units) - len(todo)
    say(
        f"{cached} unchanged since found clean (keys in {time.monotonic() - t0:.1f} s),"
        f" {len(todo)} to check"
    )
    # The slowest first, so that the short ones fill in at the end: by the CPU time they
    # took last time, and those never timed before the others, largest preprocessed first.
    todo.sort(key=lambda u: (u[0] in cpu_seconds, -cpu_seconds.get(u[0], u[4])))

    def check(unit):
        rel, t, key, read, _ = unit
        started = time.time()
        code, out, cpu = run([tidy, *tidy_args, str(TOP / rel)])
        out = out.strip()
        if code == 0 and not re.search(r": (warning|error):", out):
            # Stored only if nothing it was made of was written meanwhile: else the key
            # may not be the text clang-tidy read.
            if key and not changed_since(read, t):
                tmp = cache / f".{key}.{os.getpid()}.{threading.get_ident()}"
                tmp.write_text(f"{rel}\n")
                os.replace(tmp, cache / f"{key}.ok")
        return rel, code, out, cpu, time.time() - started

    failed, total_cpu = [], 0.0
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        done = concurrent.futures.as_completed([pool.submit(check, unit) for unit in todo])
        for n, future in enumerate(done, 1):
            rel, code, out, cpu, secs = future.result()
            total_cpu += cpu
            cpu_seconds[rel] = round(cpu, 1)
            # CPU seconds as well as wall: on a loaded machine the wall time says little.
            if code == 0 and not re.search(r": (warning|error):", out):
                say(f"[{n}/{len(todo)}] {rel} clean ({secs:.1f} s, {cpu:.1f} s CPU)")
            else:
                say(f"[{n}/{len(todo)}] {rel} FAILED ({secs:.1f} s, {cpu:.1f} s CPU, exit {code})")
                print(out, flush=True)
                failed.append(rel)

    if times_file:
        tmp = cache / f".cpu-seconds.{os.getpid()}"
        tmp.write_text(json.dumps(cpu_seconds, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, times_file)
    say(
        f"{len(units)} TUs in {time.monotonic() - t0:.1f} s: {cached} unchanged since found clean,"
        f" {len(todo)} checked ({total_cpu:.0f} s CPU)"
    )
    if failed:
        say(f"{len(failed)} TU(s) with warnings (warnings are errors): {' '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
