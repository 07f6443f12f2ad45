#!/usr/bin/env python3
"""ui_bench: what the dashboard (GET /ui/) costs and how fast it is, against the real daemon in
the netns fixture's topology (tests/netns/fixture.py), with Debian's headless chromium driven by
tests/ui/drive.mjs. See bench/README.md.

    sudo bench/ui_bench.py --build BUILD_DIR [--pages 10] [--minutes 10] [--loads 20] \\
        [--pulls 20] [--baseline-s 60] [--json OUT]

Measures:
  page weight      the bytes of /ui/ and every asset it names (uncompressed), and what the
                   browser decoded for one load (the same files; nothing else may load)
  first render     --loads fresh tabs on loopback: the page's own mark `ps-first-render`
                   (the first status drawn) after navigation start; median, min, max
  daemon cost      pathsteerd's CPU (utime + stime from /proc) and RSS for --baseline-s with no
                   page, then with --pages pages open for --minutes: CPU %, RSS at the start,
                   the end and the maximum, and the growth over the window (target <= 5 MB)
  events latency   --pulls cable pulls of wan1 while the pages are open: the time from just
                   before `ip link set down` at the far end to each page having the path-state
                   event (its Date.now() on receipt); p50, p99, max over pulls x pages
                   (target p99 <= 500 ms)
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "netns"))
import fixture  # noqa: E402
import ui_driver  # noqa: E402

URL = f"http://127.0.0.1:{fixture.API_PORT}/ui/"


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{platform.node()} · {platform.release()} · {cpu} · {os.cpu_count()} CPUs"


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick  # utime, stime


def proc_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def page_weight(topo):
    """Bytes of /ui/ and of each asset index.html names (src= and href= that stay on /ui/)."""
    import re
    code, html = topo.http_get("/ui/")
    if code != 200:
        raise RuntimeError(f"GET /ui/ answered {code}")
    sizes = {"/ui/": len(html)}
    for ref in re.findall(rb'(?:src|href)="([^"]+)"', html):
        ref = ref.decode()
        if ref.startswith("data:") or "://" in ref:
            continue
        path = "/ui/" + ref.lstrip("./")
        code, body = topo.http_get(path)
        if code != 200:
            raise RuntimeError(f"GET {path} answered {code}")
        sizes[path] = len(body)
    return sizes


class Sampler:
    def __init__(self, pid):
        self.pid = pid

    def window(self, seconds, what, every=10.0):
        """CPU % and RSS (kB) samples over `seconds`."""
        cpu0, t0 = proc_cpu_s(self.pid), time.monotonic()
        rss = [proc_rss_kb(self.pid)]
        end = t0 + seconds
        while time.monotonic() < end:
            time.sleep(min(every, max(0.0, end - time.monotonic())))
            rss.append(proc_rss_kb(self.pid))
            left = end - time.monotonic()
            print(f"  {what}: {seconds - left:5.0f} s, RSS {rss[-1] / 1024:.1f} MB", flush=True)
        cpu = (proc_cpu_s(self.pid) - cpu0) / (time.monotonic() - t0) * 100
        return {"cpu_pct": cpu, "rss_start_kb": rss[0], "rss_end_kb": rss[-1],
                "rss_max_kb": max(rss), "rss_growth_kb": rss[-1] - rss[0]}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", help="build dir (finds pathsteerd); else $PATHSTEERD")
    ap.add_argument("--pages", type=int, default=10)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--loads", type=int, default=20)
    ap.add_argument("--pulls", type=int, default=20)
    ap.add_argument("--baseline-s", type=float, default=60.0)
    ap.add_argument("--json", help="write the figures here too")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("ui_bench: needs root (network namespaces)")
    gone = ui_driver.missing()
    if gone:
        sys.exit("ui_bench: missing " + ", ".join(gone))
    daemon_bin = fixture.find_binary("PATHSTEERD", "pathsteerd", args.build)

    print(f"machine: {machine()}")
    print(f"inputs:  pages {args.pages}, window {args.minutes:g} min, first-render loads "
          f"{args.loads}, cable pulls {args.pulls}, baseline {args.baseline_s:g} s; "
          f"daemon {daemon_bin}; policy policies/two-wan.yaml")
    topo = fixture.Topology().setup()
    browser = None
    out = {"machine": machine(), "inputs": vars(args)}
    try:
        topo.start_daemon(daemon_bin, fixture.two_wan_policy(topo.tmpdir))
        topo.wait_all_up()
        pid = topo.daemon.proc.pid
        with open(f"/proc/{pid}/comm") as f:
            assert f.read().strip() == "pathsteerd", "nsenter did not exec the daemon"
        browser = ui_driver.Browser(topo.ns["gw"], os.path.join(topo.tmpdir, "browser.log")).start()
        print(f"browser: chromium {browser.version}")

        sizes = page_weight(topo)
        total = sum(sizes.values())
        one = browser.open("weight", URL)
        errors = browser.errors("weight")
        browser.close("weight")
        out["page_weight"] = {"files": sizes, "total_bytes": total,
                              "browser_decoded_bytes": one["decoded_bytes"], "errors": errors}
        print("\npage weight (uncompressed):")
        for path, n in sizes.items():
            print(f"  {path:20s} {n:8d} B")
        print(f"  {'total':20s} {total:8d} B = {total / 1024:.1f} KiB (target <= 250 KB: "
              f"{'MET' if total <= 250 * 1000 else 'MISSED'}); the browser decoded "
              f"{one['decoded_bytes']} B; page errors: {errors or 'none'}")

        renders, dcl = [], []
        for i in range(args.loads):
            t = browser.open(f"load{i}", URL)
            browser.close(f"load{i}")
            renders.append(t["first_render_ms"])
            dcl.append(t["dom_content_loaded_ms"])
        out["first_render_ms"] = {"median": statistics.median(renders), "min": min(renders),
                                  "max": max(renders),
                                  "dom_content_loaded_median": statistics.median(dcl)}
        print(f"\nfirst render on loopback ({args.loads} fresh tabs): median "
              f"{statistics.median(renders):.0f} ms, range {min(renders):.0f}–"
              f"{max(renders):.0f} ms "
              f"(DOMContentLoaded median {statistics.median(dcl):.0f} ms)")

        sampler = Sampler(pid)
        print(f"\ndaemon with no page open, {args.baseline_s:g} s:")
        base = sampler.window(args.baseline_s, "no page")
        names = [f"p{i}" for i in range(args.pages)]
        for n in names:
            browser.open(n, URL, own_context=True)  # ten people, not ten tabs of one browser
        for n in names:
            browser.wait(n, "window.pathsteerDashboard.mode() === 'live'", 10000)
        print(f"\ndaemon with {args.pages} pages open (live), {args.minutes:g} min:")
        load = sampler.window(args.minutes * 60, f"{args.pages} pages", every=30.0)
        out["daemon"] = {"baseline": base, "pages": load}
        for label, r in (("no page", base), (f"{args.pages} pages", load)):
            print(f"  {label:9s}: CPU {r['cpu_pct']:.2f} %, RSS {r['rss_start_kb'] / 1024:.1f} → "
                  f"{r['rss_end_kb'] / 1024:.1f} MB (max {r['rss_max_kb'] / 1024:.1f}), growth "
                  f"{r['rss_growth_kb'] / 1024:+.2f} MB")
        print(f"  RSS growth over the {args.minutes:g} min window: "
              f"{load['rss_growth_kb'] / 1024:+.2f} MB "
              f"(target <= 5 MB: {'MET' if load['rss_growth_kb'] <= 5 * 1024 else 'MISSED'})")

        lat = []
        print(f"\nevents latency, {args.pulls} cable pulls of wan1, {args.pages} pages:")
        for i in range(args.pulls):
            before = {n: len(browser.eval(n, "window.pathsteerDashboard.seen()")) for n in names}
            t0 = time.time() * 1000
            topo.set_carrier("wan1", False)
            for n in names:
                got = browser.wait(n, f"window.pathsteerDashboard.seen().slice({before[n]})"
                                      ".find(e => e.kind === 'path-state' && "
                                      "e.subject === 'wan1' && e.to === 'down')", 5000)["value"]
                lat.append(got["seen_ms"] - t0)
            topo.set_carrier("wan1", True)
            fixture.wait_until(lambda: topo.wan("wan1")["state"] == "up", 10, "wan1 up again")
            print(f"  pull {i + 1}: max over pages {max(lat[-len(names):]):.0f} ms", flush=True)
        out["events_latency_ms"] = {"p50": pct(lat, 50), "p99": pct(lat, 99), "max": max(lat),
                                    "n": len(lat)}
        print(f"  p50 {pct(lat, 50):.0f} ms, p99 {pct(lat, 99):.0f} ms, max {max(lat):.0f} ms over "
              f"{len(lat)} (target p99 <= 500 ms: {'MET' if pct(lat, 99) <= 500 else 'MISSED'})")
        errs = {n: browser.errors(n) for n in names}
        errs = {n: e for n, e in errs.items() if e}
        out["page_errors"] = errs
        print(f"\npage errors during the run: {errs or 'none'}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(out, f, indent=1)
    finally:
        if browser:
            browser.stop()
        topo.teardown()


if __name__ == "__main__":
    main()
