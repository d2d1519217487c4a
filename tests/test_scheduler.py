"""The task scheduler: real task processes, a virtual clock so minutes pass in a fraction of a second."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import EXAMPLE, REPO, cachemgr, signal_another_thread
from support.httpserve import serve
from support.scheduling import START, run
from support.wait import eventually

from cachemgr.core import procs
from cachemgr.core.params import BY_NAME
from cachemgr.gridmap import mapfile
from cachemgr.render.engine import render_node
from cachemgr.render.site import load_nodes
from cachemgr.scheduler import crontab
from cachemgr.scheduler.state import TaskStates
from cachemgr.tasks import TASKS
from cachemgr.values.load import ValuesError
from cachemgr.values.resolve import lists_dns


def test_every_minute_task_and_failing_task(tmp_path):
    (tmp_path / "source").write_text(mapfile.format_entries({"/DC=org/CN=Reader": "ligo"}))
    text = (
        f"* * * * *  gridmap --at-start --source file://{tmp_path}/source --out {tmp_path}/grid-mapfile\n"
        f"*/2 * * * * fix-certs --hostcert {tmp_path}/missing.pem --dest-dir {tmp_path}/xrd\n"
    )
    tasks, lines = run(text, tmp_path, minutes=6, real=1.0)

    started = sum("task gridmap started" in line for line in lines)
    skipped = sum("task gridmap (line 1) still running" in line for line in lines)  # a slow run under load
    assert started + skipped == 7 and started >= 6  # at start + minutes 1..6
    gridmap = tasks["gridmap"]
    assert gridmap["consecutive_failures"] == 0 and gridmap["last_failure"] is None
    assert gridmap["last_success"] >= START + 6 * 60 and not gridmap["running"]
    assert (tmp_path / "grid-mapfile").exists()

    fix = tasks["fix-certs"]
    assert fix["consecutive_failures"] == 3  # 12:02, 12:04, 12:06
    assert fix["last_success"] is None and "missing.pem: cannot read" in fix["last_error"]
    assert any("task fix-certs FAILED" in line for line in lines)


def test_a_task_never_overlaps_itself(tmp_path):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "source").write_text(mapfile.format_entries({"/DC=org/CN=Reader": "ligo"}))
    with serve(tmp_path / "www", delay=2.5) as slow:  # each run takes ~3 s of real time
        text = f"* * * * * gridmap --at-start --source {slow.url}/source --out {tmp_path}/grid-mapfile\n"
        tasks, lines = run(text, tmp_path, minutes=8, real=0.5)
    assert slow.peak == 1, "two runs of the same task were at the origin at once"
    skipped = [line for line in lines if "still running: this run is skipped" in line]
    assert skipped and slow.requests + len(skipped) == 9  # at start + 8 minutes
    assert tasks["gridmap"]["consecutive_failures"] == 0


def test_timeout_kills_the_task(tmp_path):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "source").write_text("")
    with serve(tmp_path / "www", delay=30) as never:
        text = f"0 0 1 1 * gridmap --at-start --timeout 2s --source {never.url}/source --out {tmp_path}/g\n"
        started = time.monotonic()
        tasks, _ = run(text, tmp_path, minutes=0, real=0.1)
    assert time.monotonic() - started < 20
    assert tasks["gridmap"]["last_error"] == "timed out after 2s and was killed"


def test_state_survives_a_restart(tmp_path):
    state = TaskStates(tmp_path / "tasks.json")
    state.started("gridmap", 100.0)
    state.finished("gridmap", 103.0, ok=False, error="boom")
    state.started("gridmap", 200.0)  # killed while running
    again = TaskStates(tmp_path / "tasks.json")
    assert again.tasks["gridmap"] | {} == {
        "last_start": 200.0,
        "last_success": None,
        "last_failure": 103.0,
        "last_duration": 3.0,
        "consecutive_failures": 1,
        "last_error": "boom",
        "running": False,
    }


@pytest.mark.parametrize(
    ("line", "key", "reason"),
    [
        ("* * * *  gridmap", "schedule", "not a 5-field cron schedule"),
        ("61 * * * * gridmap", "schedule", "not a 5-field cron schedule"),
        ("* * * * * reboot", "task", 'unknown task "reboot"'),
        ("* * * * * gridmap --bogus 1", "gridmap", "unrecognized arguments: --bogus 1"),
        ("* * * * * fetch-crl --delay soon", "fetch-crl", "not a duration"),
        ("* * * * * gridmap --del 5", "gridmap", "unrecognized arguments: --del 5"),  # no abbreviations
    ],
)
def test_bad_crontab_lines(tmp_path, line, key, reason):
    (tmp_path / "cron").write_text(f"# comment\n{line}\n")
    with pytest.raises(ValuesError) as e:
        crontab.load(tmp_path / "cron")
    (problem,) = e.value.problems
    assert (problem.line, problem.key) == (2, key) and reason in problem.reason
    result = cachemgr("cron", "--crontab", str(tmp_path / "cron"), "--state", str(tmp_path / "s.json"))
    assert result.returncode == 2 and f"{tmp_path}/cron:2: {key}: " in result.stderr


def test_task_options_are_not_taken_for_scheduling_options():
    (entry,) = crontab.parse("0 * * * * fetch-crl --timeout 5m --download-timeout 7 --parallel 3\n", "t")
    assert entry.timeout == 300 and entry.args == ("--download-timeout", "7", "--parallel", "3")


def test_rendered_crontabs_are_valid():
    for node in load_nodes(EXAMPLE):
        entries = crontab.parse(render_node(node).configmap["cachemgr.crontab"], node.name)
        if node["auth.enabled"]:
            assert [e.task for e in entries] == list(TASKS)  # cron/ lists them in start-up order
            assert all(e.at_start for e in entries[:-1])
            assert next(e for e in entries if e.task == "fetch-crl").schedule == "45 */6 * * *"
        else:
            assert [e.task for e in entries] == ["fsck"]
        assert not entries[-1].at_start  # a big cache's fsck would hold up the pod's start


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"gridmap.source": None, "auth.voms_command": "voms-proxy-init -voms ligo -out {out} -valid {hours}:00"},
        {"auth.origin_credential": "hostcert", "gridmap.max_shrink": 0.25, "gridmap.ldap_base": "ou=a b;c,dc=org"},
    ],
)
def test_crontab_lines_pass_the_node_values_their_specs_name(overrides):
    """Each task's line, parsed as `cachemgr task` parses it, gives every option its parameter's node value."""
    for node in load_nodes(EXAMPLE, None, overrides):
        if not node["auth.enabled"]:
            continue
        entries = {e.task: e for e in crontab.parse(render_node(node).configmap["cachemgr.crontab"], node.name)}
        assert list(entries) == [name for name, spec in TASKS.items() if spec.when(node)]
        for name, entry in entries.items():
            args = vars(crontab.task_parser(name).parse_args(entry.args))
            for option in TASKS[name].options:
                value = node[option.param] if option.param else None
                if option.param and option.when(node) and value not in (None, ""):
                    dest = option.flag.removeprefix("--").replace("-", "_")
                    assert args[dest] == (option.type(value) if isinstance(value, str) else value), (name, dest)
            if name == "gridmap":
                local = f"{node['paths.config']}/grid-mapfile.local"
                assert (args["local"] == Path(local)) == (not node["gridmap.source"] or lists_dns(node))


def test_task_options_default_to_the_parameter_table():
    for name, spec in TASKS.items():
        args = vars(crontab.task_parser(name).parse_args([]))
        for option in spec.options:
            if option.param:
                dest = option.flag.removeprefix("--").replace("-", "_")
                raw = BY_NAME[option.param].default
                assert args[dest] == (option.type(raw) if isinstance(raw, str) else raw), (name, dest)


def test_cron_command_stops_on_sigterm(tmp_path):
    (tmp_path / "source").write_text(mapfile.format_entries({"/DC=org/CN=Reader": "ligo"}))
    (tmp_path / "cron").write_text(
        f"0 * * * * gridmap --at-start --source file://{tmp_path}/source --out {tmp_path}/grid-mapfile\n"
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cachemgr",
            "cron",
            "--crontab",
            str(tmp_path / "cron"),
            "--state",
            str(tmp_path / "tasks.json"),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )

    def mapped() -> bool:
        if (tmp_path / "grid-mapfile").exists():
            return True
        assert proc.poll() is None, "cron exited"
        return False

    eventually(mapped, 30, interval=0.1, message="no grid-mapfile")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    out = proc.stdout.read()
    assert "task gridmap started" in out and "task gridmap succeeded" in out


def test_cron_stops_on_a_sigterm_one_of_its_task_threads_takes(tmp_path):
    """A task runs in a thread of its own while the main thread sleeps to the next schedule: a SIGTERM the kernel
    hands to that thread must stop cron all the same, not at the next due run (an hour here)."""
    (tmp_path / "cron").write_text("0 * * * * site:/bin/sleep --at-start -- 60\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cachemgr", "cron", "--crontab", str(tmp_path / "cron"), "--state", str(tmp_path / "s")],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        eventually(lambda: (tmp_path / "s").exists(), 30, message="the task did not start")  # its thread runs
        signal_another_thread(proc.pid, signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        procs.stop(proc, 1)
