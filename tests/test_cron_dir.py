"""The site's cron/: parsed, combined with each node's values and own schedules, site tasks run by the real
scheduler, and every bad line refused at `cron/FILE:LINE` with nothing written."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from support import EXAMPLE, REPO, cachemgr
from support.metrics import collect
from support.scheduling import run

from cachemgr.render.engine import render_node
from cachemgr.render.site import load_nodes
from cachemgr.scheduler import crontab, schedules
from cachemgr.stats.collectors.tasks import TasksCollector
from cachemgr.tasks import TASKS

AUTH_NODE = "node:\n  hostname: n1.example.org\nauth:\n  enabled: true\n"


def _crontab(node) -> dict[str, crontab.CronEntry]:
    return {e.task: e for e in crontab.parse(render_node(node).configmap["cachemgr.crontab"], node.name)}


def test_the_sites_cron_dir_schedules_every_task():
    entries = schedules.load_dir(REPO / "cron")
    assert [e.task for e in entries] == list(TASKS)  # in start-up order, as the crontabs list them
    fetch = next(e for e in entries if e.task == "fetch-crl")
    assert (fetch.schedule, fetch.delay, fetch.timeout, fetch.at_start) == ("45 */6 * * *", 1800, 600, True)
    assert all(e.args == () and str(e.source).endswith("cron/cachemgr.cron") for e in entries)
    for node in load_nodes(EXAMPLE):  # the rendered crontab keeps cron/'s schedule columns
        for task, entry in _crontab(node).items():
            site = next(e for e in entries if e.task == task)
            assert (entry.schedule, entry.delay, entry.timeout, entry.at_start) == (
                site.schedule,
                site.delay,
                site.timeout,
                site.at_start,
            )


def test_a_node_runs_a_task_on_its_own_schedule(values):
    vdir = values(
        {
            "n1": AUTH_NODE + 'tasks:\n  schedule:\n    gridmap: "*/10 * * * *"\n',
            "n2": AUTH_NODE.replace("n1", "n2"),
        }
    )
    n1, n2 = (_crontab(n) for n in load_nodes(vdir))
    assert n1["gridmap"].schedule == "*/10 * * * *" and n2["gridmap"].schedule == "*/30 * * * *"
    assert (n1["gridmap"].delay, n1["gridmap"].timeout) == (120, 300)  # the rest stays cron/'s
    assert n1["fetch-crl"].schedule == n2["fetch-crl"].schedule == "45 */6 * * *"


@pytest.mark.parametrize(
    ("schedule", "reason"),
    [
        ('    reboot: "* * * * *"', "tasks.schedule.reboot: not a task in cron/"),
        ('    gridmap: "*/10 * * *"', 'tasks.schedule.gridmap: "*/10 * * *" is not a 5-field cron schedule'),
    ],
)
def test_a_bad_node_schedule_is_refused_at_its_line(values, tmp_path, schedule, reason):
    vdir = values({"n1": AUTH_NODE + f"tasks:\n  schedule:\n{schedule}\n"})
    result = cachemgr("render", "--values", str(vdir), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and f"nodes/n1.yaml:7: {reason}" in result.stderr
    assert not (tmp_path / "out").exists()


def _executable(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_a_site_task_runs_under_the_scheduler(tmp_path):
    log = tmp_path / "ran"
    cleanup = _executable(tmp_path / "cleanup", f'echo "$@" >> {log}; echo "cleaned"')
    hangs = _executable(tmp_path / "hangs", "sleep 60")
    text = (
        f"* * * * *  site:{cleanup} --at-start --timeout 10s -- --dry-run --timeout 'a b'\n"
        f"0 0 1 1 *  site:{hangs} --at-start --timeout 1s\n"
        f"*/2 * * * *  site:{tmp_path}/missing\n"
    )
    tasks, lines = run(text, tmp_path, minutes=4, real=0.5)
    # at start + minutes 1..4, each with its own arguments (its --timeout is its own, after `--`); under load a run
    # may still be going at the next minute, which then skips (the no-overlap guarantee), as in test_scheduler
    ran = log.read_text().splitlines()
    skipped = sum(f"task site:{cleanup} (line 1) still running" in line for line in lines)
    assert set(ran) == {"--dry-run --timeout a b"} and len(ran) + skipped == 5 and len(ran) >= 4, (ran, skipped)
    ok = tasks[f"site:{cleanup}"]
    assert ok["consecutive_failures"] == 0 and ok["last_success"] >= ok["last_start"] and not ok["running"]
    assert any(f"task site:{cleanup} succeeded" in line and "cleaned" in line for line in lines)
    assert tasks[f"site:{hangs}"]["last_error"] == "timed out after 1s and was killed"
    missing = tasks[f"site:{tmp_path}/missing"]
    assert missing["consecutive_failures"] == 2 and "No such file" in missing["last_error"]  # 12:02, 12:04
    metrics = collect(TasksCollector(tmp_path / "tasks.json"))
    assert metrics["cachemgr_task_consecutive_failures", (("task", f"site:{tmp_path}/missing"),)] == 2
    assert metrics["cachemgr_task_last_success_timestamp_seconds", (("task", f"site:{cleanup}"),)] == ok["last_success"]


def test_a_site_task_in_cron_reaches_every_node_crontab(values, tmp_path):
    vdir = values({"n1": AUTH_NODE, "n2": "node:\n  hostname: n2.example.org\n"})
    with (tmp_path / "cron" / "site.cron").open("w") as f:
        f.write("# the site's own clean-up\n*/10 * * * * site:/usr/local/bin/cleanup --timeout 2m -- --age '7 d'\n")
    for node in load_nodes(vdir):
        entry = _crontab(node)["site:/usr/local/bin/cleanup"]
        assert (entry.schedule, entry.timeout, entry.at_start, entry.args) == (
            "*/10 * * * *",
            120,
            False,
            ("--age", "7 d"),
        )


LINES = "\n".join(
    [
        "0 3 * * *     fix-certs      --timeout 5m --at-start",
        "45 */6 * * *  fetch-crl      --delay 30m --timeout 10m --at-start",
        "0 */2 * * *   refresh-proxy  --timeout 5m --at-start",
        "*/30 * * * *  gridmap        --delay 2m --timeout 5m --at-start",
    ]
)


@pytest.mark.parametrize(
    ("bad", "line", "reason"),
    [
        ("*/30 * * *  gridmap --timeout 5m", 4, 'schedule: "*/30 * * * gridmap" is not a 5-field cron schedule'),
        ("61 * * * *  gridmap", 4, 'schedule: "61 * * * *" is not a 5-field cron schedule'),
        ("*/30 * * * *  gridmapp --timeout 5m", 4, 'task: unknown task "gridmapp"'),
        ("*/30 * * * *  gridmap --timeout 5m --source ldap://x", 4, "gridmap: unknown option --source"),
        ("*/30 * * * *  gridmap --timeout soon", 4, 'gridmap: argument --timeout: "soon" is not a duration'),
        ("*/30 * * * *  site:usr/local/bin/cleanup", 4, 'task: "site:usr/local/bin/cleanup": a site task names'),
        ("0 4 * * *  fix-certs --timeout 5m", 4, "fix-certs: already scheduled at "),
    ],
)
def test_a_bad_cron_line_is_refused_and_nothing_written(values, tmp_path, bad, line, reason):
    vdir = values({"n1": AUTH_NODE})
    lines = LINES.splitlines()
    lines[line - 1] = bad
    (tmp_path / "cron" / "cachemgr.cron").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    for command in (["render", "--out", str(out)], ["check", "--no-start"]):
        result = cachemgr(*command, "--values", str(vdir))
        assert result.returncode == 2, result.stderr
        assert f"cron/cachemgr.cron:{line}: {reason}" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not out.exists()


def test_the_cron_option_names_another_dir(values, tmp_path):
    vdir = values({"n1": AUTH_NODE})
    other = tmp_path / "schedules"
    other.mkdir()
    (other / "tasks.cron").write_text("15 * * * * fix-certs --timeout 1m\n")
    out = tmp_path / "out"
    assert cachemgr("render", "--values", str(vdir), "--cron", str(other), "--out", str(out)).returncode == 0
    (entry,) = crontab.load(out / "configmaps" / "n1" / "cachemgr.crontab")
    assert (entry.task, entry.schedule, entry.timeout) == ("fix-certs", "15 * * * *", 60)
    result = cachemgr("check", "--no-start", "--values", str(vdir), "--cron", str(tmp_path / "none"))
    assert result.returncode == 2 and "none:0: cron: no *.cron files" in result.stderr
