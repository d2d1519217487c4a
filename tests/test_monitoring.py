"""k8s/monitoring: alert rules (promtool), the Grafana dashboard, and both against a real Prometheus.

Metric names are checked against what the exporter really exposes: the families each collector declares
(describe(); a counter's samples gain `_total`), and the live test checks those against a real exporter's /metrics.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml
from support import REPO
from support.metrics import by_label, samples, scrape
from support.promserver import api, prometheus, query
from support.wait import eventually

from cachemgr.core.params import BY_NAME
from cachemgr.stats.registry import COLLECTORS, Scrape

MONITORING = REPO / "k8s" / "monitoring"
ALERTS = MONITORING / "alerts.yml"
ALERT_TESTS = MONITORING / "alerts_test.yml"
DASHBOARD = MONITORING / "dashboard.json"
README = (REPO / "README.md").read_text()
# Series Prometheus makes itself, not the exporter.
PROMETHEUS_NAMES = {"up"}
FUNCTION_LIKE = ("by", "without", "on", "ignoring", "group_left", "group_right")
KEYWORDS = {*FUNCTION_LIKE, "and", "or", "unless", "bool", "offset"}


def served(families: list) -> set[str]:
    """The sample names of metric families: a counter's gain `_total`."""
    return {f.name + "_total" if f.type == "counter" else f.name for f in families}


def exposed_by_collector() -> dict[str, set[str]]:
    """Collector name -> the sample names it declares."""
    return {name: served(collector.describe()) for name, collector in COLLECTORS.items()}


def exposed() -> set[str]:
    """Every sample name the exporter may serve: its collectors' and the scrape's own."""
    return set().union(*exposed_by_collector().values(), served(Scrape({}).describe()))


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (enough PromQL for ours: no nested label braces)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\$\w+", " ", e)  # matchers, ranges, Grafana variables
    e = re.sub(rf"\b({'|'.join(FUNCTION_LIKE)})\s*\([^)]*\)", " ", e)
    # An identifier followed by "(" is a function.
    return {m[1] for m in re.finditer(r"\b([a-zA-Z_:][\w:]*)\b(?!\s*\()", e)} - KEYWORDS


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120)


def alert_rules() -> list[dict]:
    return [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"] if "alert" in r]


def dashboard_panels() -> list[dict]:
    def walk(panels: list[dict]):
        for p in panels:
            yield p
            yield from walk(p.get("panels", []))

    return list(walk(json.loads(DASHBOARD.read_text())["panels"]))


def dashboard_exprs() -> list[str]:
    exprs = [t["expr"] for p in dashboard_panels() for t in p.get("targets", [])]
    variables = json.loads(DASHBOARD.read_text())["templating"]["list"]
    return exprs + [
        re.fullmatch(r"label_values\((.+), *\w+\)", v["query"]["query"])[1] for v in variables if v["type"] == "query"
    ]


# --- alert rules ---


def test_alert_rules_pass_promtool_check():
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rule_unit_tests_pass():
    result = promtool("test", "rules", str(ALERT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_are_complete():
    rules = alert_rules()
    assert {
        "CacheExporterDown",
        "XrootdDown",
        "CacheSupervisordDown",
        "CacheCollectorFailing",
        "CacheSelftestFailing",
        "CacheDiskFull",
        "CacheInodesFull",
        "HostCertExpiring",
        "ProxyExpiring",
        "CrlStale",
        "CredentialUnreadable",
        "CrlUnparsable",
        "CacheTaskFailing",
        "CacheScanErrors",
        "CacheScanStale",
        "CacheFdsRunningOut",
        "CacheFdsNearLimit",
        "CacheMemoryGrowing",
        "CacheMemoryNearLimit",
        "CacheThreadsGrowing",
    } <= {r["alert"] for r in rules}
    names = exposed() | PROMETHEUS_NAMES
    for rule in rules:
        assert rule.get("for"), rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        summary, description = rule["annotations"]["summary"], rule["annotations"]["description"]
        assert "$labels.node" in summary and "$labels.instance" in description, rule["alert"]
        assert metric_names(rule["expr"]) <= names, (rule["alert"], metric_names(rule["expr"]) - names)
    by_name = {r["alert"]: r for r in rules}
    for name, param in (("CacheDiskFull", "cache.disk_high"), ("CacheInodesFull", "cache.inode_high")):
        assert f"> {BY_NAME[param].default}" in by_name[name]["expr"]  # the static threshold is the default
    assert "cache.disk_high" in by_name["CacheDiskFull"]["annotations"]["description"]
    assert "cache.inode_high" in by_name["CacheInodesFull"]["annotations"]["description"]


def test_every_alert_has_its_runbook_in_the_readme():
    """The runbook annotation is what on-call reads; the README's table must say the same, row by row."""
    rows = {
        m[1]: m[2] for m in re.finditer(r"^\| `(\w+)` \| (?:warning|critical) \| [^|]+ \| ([^|]+) \|$", README, re.M)
    }
    for rule in alert_rules():
        runbook = rule["annotations"].get("runbook", "")
        assert len(runbook) > 40, f"{rule['alert']}: no runbook annotation"
        assert rows.get(rule["alert"]) == runbook, f"{rule['alert']}: README's runbook row differs"
    assert set(rows) == {r["alert"] for r in alert_rules()}


def test_every_alert_has_a_firing_and_a_quiet_unit_test():
    """promtool only checks what the tests ask: make sure each alert is asked both ways, and that each firing
    test also holds series of a node the alert leaves alone."""
    tests = yaml.safe_load(ALERT_TESTS.read_text())["tests"]
    for rule in alert_rules():
        cases = [(t, c) for t in tests for c in t.get("alert_rule_test", []) if c["alertname"] == rule["alert"]]
        assert any(not c["exp_alerts"] for _, c in cases), f"{rule['alert']}: no test where it does not fire"
        firing = [(t, c) for t, c in cases if c["exp_alerts"]]
        assert firing, f"{rule['alert']}: no test where it fires"
        for test, case in firing:
            fired = {a["exp_labels"]["node"] for a in case["exp_alerts"]}
            nodes = {re.search(r'node="([^"]+)"', s["series"])[1] for s in test["input_series"]}
            assert nodes - fired, f"{rule['alert']}: every node in {test['name']!r} fires"


# --- dashboard ---


def test_status_reads_only_metric_names_the_exporter_serves():
    used = set(re.findall(r'"((?:cachemgr|xrootd)_[a-z_]+)"', (REPO / "cachemgr" / "stats" / "status.py").read_text()))
    assert used and used <= exposed(), used - exposed()  # a misspelt name would just leave a table empty


def test_dashboard_covers_every_collector_with_real_metric_names():
    board = json.loads(DASHBOARD.read_text())
    assert board["schemaVersion"] >= 36
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["node"]["query"]["query"].endswith(", node)")
    panels = [p for p in dashboard_panels() if p["type"] != "row"]
    assert len({p["id"] for p in dashboard_panels()}) == len(dashboard_panels())
    names = exposed() | PROMETHEUS_NAMES
    used: set[str] = set()
    for panel in panels:
        assert panel["targets"] and panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            found = metric_names(target["expr"])
            assert found and found <= names, (panel["title"], target["expr"], found - names)
            assert 'node=~"$node"' in target["expr"], (panel["title"], target["expr"])
            used |= found
    for collector, metrics in exposed_by_collector().items():
        assert metrics & used, f"no panel for the {collector} collector"


def test_metric_name_reader():
    assert metric_names('sum by (node, path) (rate(a_b_total{x="y{"}[5m])) / on(node) group_left c or vector(0)') == {
        "a_b_total",
        "c",
    }
    assert metric_names('1 - x{node=~"$node"} / y offset 1h > 0.95') == {"x", "y"}


# --- a real Prometheus scraping a real exporter ---


@pytest.mark.usefixtures("xrootd_installed")
def test_real_prometheus_scrapes_exporter_and_loads_rules_and_dashboard(demo):
    target = demo.env["METRICS"].removeprefix("http://").removesuffix("/metrics")
    with prometheus({"local": target}, rule_files=[ALERTS], wait_for="cachemgr_filesystem_size_bytes") as url:
        assert [r["value"][1] for r in query(url, 'up{job="cachemgr", node="local"}')] == ["1"]

        # What Prometheus stored is what the exporter serves (disk sizes do not move).
        own = samples(scrape(demo.env["METRICS"]))
        sizes = {k: v for k, v in own.items() if k[0] == "cachemgr_filesystem_size_bytes"}
        assert sizes
        stored = query(url, 'cachemgr_filesystem_size_bytes{node="local"}')
        assert len(stored) == len(sizes)
        for series in stored:
            labels = tuple(sorted((k, v) for k, v in series["metric"].items() if k in ("path", "role")))
            assert float(series["value"][1]) == sizes["cachemgr_filesystem_size_bytes", labels]

        # The names the collectors declare include every name this live exporter serves, and every collector works.
        assert {name for name, _ in own} <= exposed()
        success = by_label(own, "cachemgr_scrape_collector_success", "collector")
        assert success == dict.fromkeys(COLLECTORS, 1)

        # Every dashboard query parses and runs against real data.
        for expr in dashboard_exprs():
            promql = expr.replace("$node", "local").replace("$__rate_interval", "1m")
            answer = api(url, "query", query=promql)  # a query Prometheus refuses: 400, and its error
            assert answer["status"] == "success", (expr, answer.get("error"))

        # Every alert rule is loaded and evaluates without error (rules run every second here).
        def evaluated() -> list[dict]:
            rules = [r for g in api(url, "rules")["data"]["groups"] for r in g["rules"]]
            assert rules and all(r["health"] != "unknown" for r in rules), [(r["name"], r["health"]) for r in rules]
            return rules

        rules = eventually(evaluated, 30, ignore=(AssertionError,))
        assert {r["name"] for r in rules} == {r["alert"] for r in alert_rules()}
        assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]
