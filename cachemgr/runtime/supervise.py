"""`cachemgr supervise`: the container's entrypoint.

Checks the mounted ConfigMap, refuses to run on an unmounted disk, installs the config (expanding
${VAR} from the pod's environment), runs the start-up tasks in order, starts supervisord with the
program groups this pod can run, relays their logs to stdout, and on SIGTERM drains before stopping.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import expandvars
import psutil

from cachemgr.core import files, procs, supervisor_rpc
from cachemgr.core.pod import RUNTIME_JSON, PodConfigError, Runtime, load_runtime
from cachemgr.runtime import preflight
from cachemgr.runtime.logs import Relay
from cachemgr.scheduler import crontab
from cachemgr.scheduler.runner import execute, task_command
from cachemgr.scheduler.state import TaskStates
from cachemgr.tasks import TASKS
from cachemgr.values.load import ValuesError

# While draining: look for the last client going every DRAIN_POLL s (the pod stops soon after it), say so every
# DRAIN_SAY s.
DRAIN_POLL, DRAIN_SAY = 0.5, 5.0


def say(message: str) -> None:
    print(f"[supervise] {message}", flush=True)


def check_disks(rt: Runtime) -> None:
    if not rt.sentinel:
        return
    unmounted = [d for d in rt.disks if not (Path(d) / rt.sentinel).exists()]
    if unmounted:
        raise PodConfigError(
            f"refusing to start: no {rt.sentinel} in {', '.join(unmounted)}; is the disk mounted? "
            f"(create the file once on the mounted disk: touch <disk>/{rt.sentinel})"
        )


def check_host_name() -> None:
    """XRootD exits 16 ("Unable to determine host name") when its own name does not resolve: say so first."""
    name = socket.gethostname()
    try:
        socket.getaddrinfo(name, None)
    except OSError as e:
        raise PodConfigError(
            f"refusing to start: this pod's host name {name!r} does not resolve ({e.strerror or e}); xrootd would "
            "exit 16. With hostNetwork the pod has the node's name: add it to the node's /etc/hosts or DNS"
        ) from None


def install_config(source: Path, rt: Runtime) -> None:
    """Copy the ConfigMap's files to paths.config, expanding ${VAR} and ${VAR:-default}."""
    target = rt.config
    names = [*rt.files, RUNTIME_JSON]
    missing = [n for n in names if not (source / n).is_file()]
    if missing:
        raise PodConfigError(f"{source}: missing {', '.join(missing)}: the ConfigMap does not match runtime.json")
    for name in names:
        text = (source / name).read_text()
        try:
            text = expandvars.expand(text, nounset=True, surrounded_vars_only=True)
        except expandvars.ExpandvarsException as e:
            raise PodConfigError(f"{source / name}: {e}") from None
        if source.resolve() != target.resolve():
            files.install(target / name, text.encode(), 0o644)
        elif text != (source / name).read_text():
            raise PodConfigError(f"{source / name}: has ${{VAR}} settings but is also paths.config; mount it elsewhere")


def prepare_dirs(rt: Runtime) -> None:
    rt.log.mkdir(parents=True, exist_ok=True)
    rt.run.programs.mkdir(parents=True, exist_ok=True)
    for path in [rt.run.path, *map(Path, rt.disks)]:  # xrootd writes its admin files and cache there
        path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(path, rt.user, rt.user)


def leave_out_auth(rt: Runtime, reason: str) -> bool:
    """The public cache still starts; the pod is not ready until the node's authenticated instance runs."""
    say(f"{reason}: the authenticated instance and its cmsd are left out; the public cache starts")
    rt.run.auth_off.write_text(reason)
    return False


def run_start_tasks(rt: Runtime) -> bool:
    """The crontab's at-start tasks, in start-up order (tasks.TASKS), those needing the host certificate only
    while there is a usable one. Returns whether the authenticated instance can run."""
    auth = rt.auth.enabled
    if auth and not Path(rt.auth.hostcert).exists():
        secret = f" (is the Secret {rt.auth.hostcert_secret} there?)" if rt.auth.hostcert_secret else ""
        auth = leave_out_auth(rt, f"no host certificate at {rt.auth.hostcert}{secret}")
    state = TaskStates(rt.run.tasks)
    for entry in crontab.at_start(crontab.load(rt.config / "cachemgr.crontab")):
        spec = TASKS.get(entry.task)  # None: a site's own task (cron/), which needs nothing of cachemgr's
        if spec and spec.needs_host_cert and not auth:
            continue
        start = time.time()
        state.started(entry.task, start)
        ok, detail = execute(task_command(entry), entry.timeout)
        state.finished(entry.task, time.time(), ok, None if ok else detail)
        say(f"task {entry.task} {'succeeded' if ok else 'FAILED'}: {detail}")
        if spec and spec.installs_host_cert and not ok:
            auth = leave_out_auth(rt, f"no usable host certificate: {detail}")
    if auth and (problems := preflight.auth_problems(rt)):
        auth = leave_out_auth(rt, "; ".join(problems))
    return auth


def link_programs(rt: Runtime, auth: bool) -> None:
    active = rt.run.programs
    for old in active.glob("*.conf"):
        old.unlink()
    groups = ["noauth", "services"] + (["auth"] if auth else [])
    for group in groups:
        (active / f"{group}.conf").symlink_to(rt.config / f"supervisord-{group}.conf")


def connections(rt: Runtime) -> int:
    ports = {i.port for i in rt.instances} | {i.http_port for i in rt.instances}
    return sum(1 for c in psutil.net_connections("tcp") if c.status == "ESTABLISHED" and c.laddr.port in ports)


def drain(rt: Runtime, supervisord: subprocess.Popen) -> None:
    """Stop taking new clients (cmsd first: the redirector stops sending them), let transfers finish."""
    rt.run.draining.touch()
    try:
        rpc = supervisor_rpc.connect(rt.run).supervisor
        for name, info in supervisor_rpc.programs(rt.run).items():
            if name.startswith("cmsd-") and info["statename"] == "RUNNING":
                rpc.stopProcess(name)
    except OSError as e:
        say(f"could not stop cmsd before draining: {e}")
    deadline = time.monotonic() + rt.drain
    said = -math.inf
    while time.monotonic() < deadline and supervisord.poll() is None and (n := connections(rt)):
        if time.monotonic() - said >= DRAIN_SAY:
            say(f"draining: {n} client connection(s) left, {deadline - time.monotonic():.0f}s to go")
            said = time.monotonic()
        time.sleep(min(DRAIN_POLL, max(deadline - time.monotonic(), 0)))


def refuse(rt: Runtime, message: str, stop: threading.Event) -> int:
    """Say once why the cache cannot start and stay up, failing the probes with the reason, until stopped:
    exiting would make a restart loop that repeats the line (or, for xrootd itself, explains nothing)."""
    print(f"cachemgr supervise: {message}", file=sys.stderr, flush=True)
    rt.run.path.mkdir(parents=True, exist_ok=True)
    rt.run.failed.write_text(message)
    stop.wait()
    return 1


def supervise(config_dir: Path) -> int:
    stop = threading.Event()
    procs.on_signals((signal.SIGTERM, signal.SIGINT), lambda _: stop.set())
    try:
        rt = load_runtime(config_dir)
    except PodConfigError as e:  # no runtime.json: no run dir for the probes to read a reason from
        print(f"cachemgr supervise: {e}", file=sys.stderr)
        return 1
    for flag in (rt.run.failed, rt.run.auth_off, rt.run.draining):
        flag.unlink(missing_ok=True)
    try:
        install_config(config_dir, rt)  # first: the probes read the installed runtime.json
        check_host_name()
        check_disks(rt)
        prepare_dirs(rt)
        auth = run_start_tasks(rt)
    except (PodConfigError, ValuesError) as e:
        return refuse(rt, str(e), stop)
    link_programs(rt, auth)
    relay = Relay(rt.log, sys.stdout, skip_existing=True)  # supervisord starts below
    relay.start()
    # Programs run `cachemgr`: the one beside this interpreter, not whatever else PATH finds first.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    supervisord = subprocess.Popen(
        [sys.executable, "-m", "supervisor.supervisord", "-c", str(rt.config / "supervisord.conf")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        env=env,
    )
    say(f"supervisord started (pid {supervisord.pid}); authenticated instance {'on' if auth else 'off'}")
    while supervisord.poll() is None:
        if stop.wait(1):
            say("stopping: draining first")
            drain(rt, supervisord)
            supervisord.terminate()
            break
    code = supervisord.wait()
    say(f"supervisord exited ({code})")
    relay.stop.set()
    relay.join(5)
    return 0 if code in (0, -signal.SIGTERM) else 1
