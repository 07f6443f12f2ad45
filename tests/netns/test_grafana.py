#!/usr/bin/env python3
"""The Grafana dashboard (packaging/grafana/pathsteer.json) against the real /metrics.

A real Prometheus (Debian's `prometheus` package, which also ships promtool) scrapes the real
daemon in the gateway namespace every second while real traffic crosses both uplinks. Then
every PromQL expression of the dashboard -- each panel target and each template variable's
label_values() query -- is evaluated with `promtool query instant`, with the template variables
substituted as Grafana would (the values of $instance, $uplink and $class come from their own
queries, so a variable that finds nothing fails too). Each expression must:
  * name only metrics that GET /metrics exposes (a family's _bucket/_sum/_count included),
  * use only label names that /metrics has (plus the scrape's `instance` and `job`) in its
    matchers and in by/without/on/ignoring/group_left/group_right,
  * return at least one series, and every series must carry the labels its legend
    ({{label}}) shows.
A few figures are checked for meaning, too: the state timeline reads 3 (up) for both uplinks,
the class table says video -> wan2 and default -> wan1, and the video stream's packets show
up on wan2 in the per class and uplink panel. The dashboard's structure (schemaVersion,
the datasource and instance variables, every target on ${datasource}, unique ids) is checked
without root."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

from fixture import API_PORT, NetnsTestCase, wait_until

DASHBOARD = os.path.join(os.environ.get("PATHSTEER_SOURCE_DIR") or
                         os.path.dirname(os.path.dirname(os.path.dirname(
                             os.path.abspath(__file__)))),
                         "packaging", "grafana", "pathsteer.json")
PROM_PORT = 9090
VIDEO, OTHER = 5001, 5002  # two-wan.yaml: video (udp 5001) prefers wan2, default wan1

# What Grafana puts in for its built-in interval variables, sized for a test that has scraped
# every second for about ten seconds.
BUILTINS = {"$__rate_interval": "5s", "$__interval": "1s", "$__range": "1m"}

LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
SELECTOR = re.compile(r"\{([^{}]*)\}")
MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"")
METRIC = re.compile(r"\bpathsteer_[A-Za-z0-9_]+")
LEGEND_LABEL = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(.+)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$")


def load_dashboard():
    with open(DASHBOARD) as f:
        return json.load(f)


def all_panels(dash):
    for p in dash["panels"]:
        yield p
        yield from p.get("panels", [])


def targets(dash):
    """(panel title, target) of every query in the dashboard."""
    for p in all_panels(dash):
        for t in p.get("targets", []):
            yield p["title"], t


def variable_query(var):
    q = var.get("query")
    return q["query"] if isinstance(q, dict) else q


def parse_exposition(text):
    """{metric name: set of label names} of a Prometheus text exposition."""
    families = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s", line)
        if not m:
            raise ValueError(f"unparsable sample line: {line!r}")
        labels = set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=\"", m.group(3) or ""))
        families.setdefault(m.group(1), set()).update(labels)
    return families


class PromtoolFailed(RuntimeError):
    pass


class Structure(unittest.TestCase):
    """Needs no root: what Grafana 10+ needs to import the file and keep it working."""

    def test_importable(self):
        dash = load_dashboard()
        self.assertGreaterEqual(dash["schemaVersion"], 36)
        self.assertEqual(dash["uid"], "pathsteer")
        variables = {v["name"]: v for v in dash["templating"]["list"]}
        self.assertEqual(variables["datasource"]["type"], "datasource")
        self.assertEqual(variables["datasource"]["query"], "prometheus")
        self.assertEqual(variables["instance"]["type"], "query")
        ids = [p["id"] for p in all_panels(dash)]
        self.assertEqual(len(ids), len(set(ids)), "panel ids must be unique")
        n = 0
        for title, t in targets(dash):
            n += 1
            self.assertEqual(t["datasource"]["uid"], "${datasource}", title)
            self.assertIn('instance=~"$instance"', t["expr"], title)
        for name in ("instance", "uplink", "class"):
            # A plain label_values() string: Grafana 10+ migrates it into its variable editor
            # (an object form would have to carry the editor's own fields as well).
            self.assertIsInstance(variables[name]["query"], str, name)
            self.assertRegex(variables[name]["query"], LABEL_VALUES, name)
        for name in ("uplink", "class"):
            self.assertIn('instance=~"$instance"', variable_query(variables[name]))
        refs = [(p["id"], t["refId"]) for p in all_panels(dash) for t in p.get("targets", [])]
        self.assertEqual(len(refs), len(set(refs)), "refIds must be unique within a panel")
        self.assertGreaterEqual(n, 20)
        titles = [p["title"] for p in all_panels(dash) if p["type"] != "row"]
        self.assertEqual(len(titles), len(set(titles)), "panel titles must be unique")


class GrafanaAgainstMetrics(NetnsTestCase):

    def setUp(self):
        for tool in ("prometheus", "promtool"):
            if shutil.which(tool) is None:
                self.fail(f"{tool} is missing: scripts/install-deps.sh installs Debian's "
                          f"`prometheus` package")
        super().setUp()
        self.start_daemon()
        self.topo.wait_all_up()
        self.prom = None
        self.addCleanup(self.stop_prometheus)

    # -- Prometheus in the gateway namespace --

    def in_gw(self, *cmd):
        return ["nsenter", f"--net=/run/netns/{self.topo.ns['gw']}", "--", *cmd]

    def start_prometheus(self):
        base = os.path.join(self.topo.tmpdir, "prometheus")
        os.mkdir(base)
        config = os.path.join(base, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global: { scrape_interval: 1s, scrape_timeout: 1s }\n"
                    "scrape_configs:\n"
                    "  - job_name: pathsteer\n"
                    f"    static_configs: [ {{ targets: ['127.0.0.1:{API_PORT}'] }} ]\n")
        self.prom_log = os.path.join(base, "prometheus.log")
        with open(self.prom_log, "wb") as log:
            self.prom = subprocess.Popen(
                self.in_gw("prometheus", f"--config.file={config}",
                           f"--storage.tsdb.path={os.path.join(base, 'data')}",
                           f"--web.listen-address=127.0.0.1:{PROM_PORT}"),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)

    def stop_prometheus(self):
        if self.prom is None or self.prom.poll() is not None:
            return
        self.prom.terminate()
        try:
            self.prom.wait(10)
        except subprocess.TimeoutExpired:
            self.prom.kill()
            self.prom.wait()

    def query(self, expr, at=None):
        """promtool query instant in the gateway (at Unix time `at`, default now); returns the
        result vector (a list)."""
        if self.prom.poll() is not None:
            with open(self.prom_log, errors="replace") as f:
                tail = f.read()[-3000:]
            self.fail(f"prometheus exited with {self.prom.returncode}:\n{tail}")
        proc = subprocess.run(
            self.in_gw("promtool", "query", "instant", "-o", "json",
                       *([f"--time={at:.3f}"] if at else []),
                       f"http://127.0.0.1:{PROM_PORT}", expr),
            capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            raise PromtoolFailed(f"promtool query instant {expr!r} exited {proc.returncode}: "
                                 f"{proc.stderr.strip()} {proc.stdout.strip()}")
        return json.loads(proc.stdout or "[]")

    def samples_scraped(self, n):
        r = self.query('count_over_time(pathsteer_uptime_seconds{job="pathsteer"}[1m])')
        return bool(r) and float(r[0]["value"][1]) >= n

    def last_scrape(self):
        r = self.query('timestamp(pathsteer_uptime_seconds{job="pathsteer"})')
        return float(r[0]["value"][1]) if r else 0.0

    # -- the checks --

    def check_names(self, where, expr, families):
        """Every metric and label name the expression uses exists in /metrics."""
        labels = {"instance", "job"}  # added by the scrape
        names = set()
        for fam, fam_labels in families.items():
            labels |= fam_labels
            names.add(fam)
        for metric in METRIC.findall(expr):
            with self.subTest(where=where, metric=metric):
                self.assertIn(metric, names, f"{where}: {metric} is not in GET /metrics")
        used = set()
        for group in LABEL_LISTS.findall(expr):
            used |= {x.strip() for x in group.split(",") if x.strip()}
        for sel in SELECTOR.findall(expr):
            used |= set(MATCHER.findall(sel))
        for label in used:
            with self.subTest(where=where, label=label):
                self.assertIn(label, labels, f"{where}: label {label!r} is not in GET /metrics")

    def substitute(self, expr, values):
        for name, value in BUILTINS.items():
            expr = expr.replace(name, value)
        for name, vals in values.items():
            # Grafana's regex formatting of a multi-value variable, inside a PromQL string
            # (where a regex backslash is written twice).
            regex = "(" + "|".join(re.escape(v).replace("\\", "\\\\") for v in vals) + ")"
            expr = expr.replace("${" + name + "}", regex).replace("$" + name, regex)
        self.assertNotIn("$", expr, f"a template variable is left in {expr!r}")
        return expr

    def test_every_expression_against_the_real_metrics(self):
        dash = load_dashboard()
        # Traffic on both uplinks before the scrapes start, so that every counter family
        # (the per-uplink ones appear once an uplink carried traffic) is in /metrics.
        for port in (VIDEO, OTHER):
            self.topo.run_stream(port, count=200, rate=1000)

        code, body = self.topo.http_get("/metrics")
        self.assertEqual(code, 200)
        text = body.decode() if isinstance(body, bytes) else body
        check = subprocess.run(["promtool", "check", "metrics"], input=text,
                               capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, f"promtool: {check.stdout} {check.stderr}")
        families = parse_exposition(text)
        for needed in ("pathsteer_target_rtt_seconds", "pathsteer_uplink_packets_total",
                       "pathsteer_class_packets_total"):
            self.assertIn(needed, families, f"{needed} missing from GET /metrics:\n{text}")

        self.start_prometheus()
        # Until Prometheus listens, promtool fails (connection refused): "not yet".
        wait_until(lambda: self.samples_scraped(3), 30, "prometheus to scrape pathsteerd 3 times",
                   ignore=(PromtoolFailed,))
        # Traffic while Prometheus watches, so that the rates are not all zero.
        # Every query is evaluated at the stream's end, so that the rate windows hold it
        # however long the queries take; the scrape after that moment must be stored first.
        video = self.topo.send(VIDEO, count=3000, rate=1000)
        self.topo.result(video)
        at = time.time()
        wait_until(lambda: self.last_scrape() > at, 10, "a scrape after the stream")

        # Template variables first: label_values(SELECTOR, LABEL) as Grafana runs it.
        values = {}
        variables = [v for v in dash["templating"]["list"] if v["type"] == "query"]
        for var in variables:
            q = variable_query(var)
            m = LABEL_VALUES.match(q)
            self.assertIsNotNone(m, f"variable {var['name']}: not label_values(...): {q!r}")
            selector, label = m.group(1), m.group(2)
            where = f"variable ${var['name']}"
            self.check_names(where, q, families)
            result = self.query(f"count by ({label}) ({self.substitute(selector, values)})", at)
            found = sorted(r["metric"].get(label, "") for r in result)
            self.assertTrue(found and all(found), f"{where}: {q} found {found!r}")
            values[var["name"]] = found
        self.assertEqual(values["uplink"], ["wan1", "wan2"])
        self.assertEqual(values["class"], ["default", "video"])

        checked = 0
        results = {}
        for title, t in targets(dash):
            where = f"panel {title!r} target {t['refId']}"
            self.check_names(where, t["expr"], families)
            expr = self.substitute(t["expr"], values)
            result = self.query(expr, at)
            results[(title, t["refId"])] = result
            with self.subTest(where=where):
                self.assertTrue(result, f"{where}: no series for {expr}")
                for label in LEGEND_LABEL.findall(t.get("legendFormat", "")):
                    for r in result:
                        self.assertTrue(r["metric"].get(label),
                                        f"{where}: legend label {label!r} missing in {r}")
            checked += 1
        print(f"checked {checked} panel expressions and {len(variables)} variables",
              file=sys.stderr)

        def by(title, label, ref="A"):
            return {r["metric"].get(label): float(r["value"][1]) for r in results[(title, ref)]}

        self.assertEqual(by("Uplink state", "uplink"), {"wan1": 3.0, "wan2": 3.0})
        table = {r["metric"]["class"]: r["metric"]["uplink"]
                 for r in results[("Class → uplink", "A")]}
        self.assertEqual(table, {"video": "wan2", "default": "wan1"})
        per_class_uplink = {(r["metric"]["class"], r["metric"]["uplink"]): float(r["value"][1])
                            for r in results[("Packets per class and uplink", "A")]}
        self.assertGreater(per_class_uplink.get(("video", "wan2"), 0), 0, per_class_uplink)
        self.assertGreater(by("Traffic per uplink (packets)", "uplink").get("wan2", 0), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
