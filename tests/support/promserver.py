"""A real Prometheus (Debian's) on 127.0.0.1 scraping given targets every second, for tests."""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from cachemgr.local.xrootd.process import free_port
from support.wait import eventually


def api(url: str, path: str, **params: str) -> dict:
    """GET url/api/v1/path?params: Prometheus's JSON answer, a refused query's (400, with its error) too."""
    try:
        search = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{url}/api/v1/{path}{search}", timeout=10) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read())


def query(url: str, promql: str) -> list[dict]:
    return api(url, "query", query=promql)["data"]["result"]


@contextlib.contextmanager
def prometheus(
    targets: dict[str, str] | None = None,
    rule_files: list[Path] = (),
    wait_for: str = "up",
    scrape: Path | None = None,
    timeout: float = 60,
):
    """targets: node label -> host:port of an exporter, scraped every second; or scrape: a rendered scrape file
    (k8s/fleet/prometheus-scrape.yml), whose scrape_configs are merged in as the README tells admins to. Yields
    the server's URL once `wait_for` has data (within timeout)."""
    with tempfile.TemporaryDirectory(prefix="cachemgr-prometheus-") as tmp:
        if scrape is not None:
            jobs = yaml.safe_load(scrape.read_text())["scrape_configs"]
        else:
            groups = [{"targets": [target], "labels": {"node": node}} for node, target in (targets or {}).items()]
            jobs = [{"job_name": "cachemgr", "static_configs": groups}]
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": jobs,
        }
        (Path(tmp) / "prometheus.yml").write_text(yaml.safe_dump(config))
        port = free_port()
        proc = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={tmp}/prometheus.yml",
                f"--storage.tsdb.path={tmp}/data",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"

        def has_data() -> bool:
            with contextlib.suppress(OSError, ValueError, KeyError):
                if query(url, wait_for):
                    return True
            assert proc.poll() is None, "prometheus exited"
            return False

        try:
            eventually(has_data, timeout, message=f"prometheus has no data for {wait_for}")
            yield url
        finally:
            proc.terminate()
            proc.wait(30)
