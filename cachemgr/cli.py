"""The `cachemgr` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cachemgr.core.params import BY_NAME
from cachemgr.core.pod import CONFIGMAP_MOUNT, RunDir
from cachemgr.stats import settings as exporter_settings
from cachemgr.values.load import Problem, ValuesError

EXAMPLE_SITE = Path(__file__).resolve().parents[1] / "k8s"
CRON_HELP = "the site's task schedules, *.cron files (default: cron/ beside the values dir)"


def _print_problems(problems: list[Problem]) -> int:
    for problem in problems:
        print(problem, file=sys.stderr)
    return 2


# The kubernetes client is the optional `render` extra (its typed models: what the API server would refuse).
INSTALL_CLIENT = "pip install 'cachemgr[render]'"


def _client_missing(e: ModuleNotFoundError) -> bool:
    return (e.name or "").partition(".")[0] == "kubernetes"


def cmd_params(args: argparse.Namespace) -> int:
    from cachemgr.render import docs

    print(docs.parameters_markdown() if args.markdown else docs.parameters_text(), end="" if args.markdown else "\n")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from cachemgr.render.engine import render_fleet, render_node
    from cachemgr.render.site import load_nodes
    from cachemgr.render.write import write_outputs

    nodes = load_nodes(args.values, args.nodes or None, cron_dir=args.cron)
    try:
        from cachemgr.k8s.refusals import render_accepted
    except ModuleNotFoundError as e:
        if not _client_missing(e):
            raise
        # The values are checked all the same; only the API server's own rules wait until kubectl apply.
        print(f"cachemgr render: not checked against the API server's rules: {INSTALL_CLIENT}", file=sys.stderr)
        rendered = [render_node(n) for n in nodes]
    else:
        rendered = render_accepted(nodes)
    # Fleet files list every node: only rendered when every node is.
    fleet = None if args.nodes else render_fleet(nodes)
    changed = write_outputs(rendered, args.out, fleet)
    for path in changed:
        print(f"wrote {path}")
    print(f"{len(rendered)} node(s) rendered, {len(changed)} output(s) changed")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    if args.installed:  # on a node, in the image: no kubernetes client there
        from cachemgr.core.pod import PodConfigError, load_runtime
        from cachemgr.runtime import preflight

        try:
            problems = preflight.auth_problems(load_runtime(args.installed))
        except PodConfigError as e:
            problems = [str(e)]
        if problems:
            for problem in problems:
                print(problem, file=sys.stderr)
            return 2
        print("ok")
        return 0

    from cachemgr.local.check import check_nodes

    problems = check_nodes(args.values, args.nodes or None, start=not args.no_start, cron_dir=args.cron)
    if problems:
        return _print_problems(problems)
    print("ok")
    return 0


def cmd_task(args: argparse.Namespace) -> int:
    from cachemgr.tasks import TASKS
    from cachemgr.tasks.base import TaskError

    try:
        print(TASKS[args.task].run(args))
    except TaskError as e:
        print(f"cachemgr task {args.task}: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_cron(args: argparse.Namespace) -> int:
    import dataclasses
    import signal

    from cachemgr.core import procs
    from cachemgr.scheduler import crontab
    from cachemgr.scheduler.runner import Scheduler
    from cachemgr.scheduler.state import TaskStates

    entries = crontab.load(args.crontab)
    if args.no_at_start:  # `cachemgr supervise` ran them already
        entries = [dataclasses.replace(e, at_start=False) for e in entries]
    scheduler = Scheduler(entries, TaskStates(args.state))
    procs.on_signals((signal.SIGTERM, signal.SIGINT), lambda _: scheduler.stop.set())
    scheduler.run()
    return 0


def cmd_supervise(args: argparse.Namespace) -> int:
    from cachemgr.runtime.supervise import supervise

    return supervise(args.configmap)


def cmd_health(args: argparse.Namespace) -> int:
    from cachemgr.core.pod import PodConfigError, load_runtime
    from cachemgr.runtime import health

    try:
        problems = (health.ready if args.ready else health.live)(load_runtime(args.config))
    except PodConfigError as e:
        problems = [str(e)]
    print("; ".join(problems) if problems else "ok")
    return 1 if problems else 0


def cmd_selftest(args: argparse.Namespace) -> int:
    from cachemgr.core.pod import PodConfigError, load_runtime
    from cachemgr.runtime import selftest

    try:
        rt = load_runtime(args.config)
    except PodConfigError as e:
        print(f"cachemgr selftest: {e}", file=sys.stderr)
        return 1
    return selftest.loop(rt, once=args.once)


def cmd_demo(args: argparse.Namespace) -> int:
    if args.fleet is not None:
        from cachemgr.local import fleet

        if args.auth or args.pod or args.node != "local":
            print(
                "cachemgr demo: --fleet runs stashcache-cmsd caches on this machine: no --auth, --pod or --node",
                file=sys.stderr,
            )
            return 2

        return fleet.run(args.values, args.fleet)
    from cachemgr.local import demo

    return demo.run(args.values, args.node, args.auth, args.pod)


def cmd_cinfo(args: argparse.Namespace) -> int:
    import json

    from cachemgr.xcache import cinfo

    status = 0
    for path in args.files:
        try:
            info = cinfo.read(path)
        except (cinfo.CinfoError, OSError) as e:
            print(f"{path}: {e.strerror if isinstance(e, OSError) else e}", file=sys.stderr)
            status = 1
            continue
        if args.json:
            print(json.dumps({"file": str(path), **info.as_json(blocks=args.blocks)}))
            continue
        print(
            f"{path}: version {info.version}, {info.file_size} B in {info.n_blocks} blocks of {info.buffer_size} B, "
            f"{info.n_blocks_done} present ({info.percentage:.1f}%), cksum {info.cksum}, {info.access_count} accesses, "
            f"hit/miss/bypass {info.bytes_hit}/{info.bytes_missed}/{info.bytes_bypassed} B in the last "
            f"{len(info.accesses)}"
        )
    return status


def cmd_fsck(args: argparse.Namespace) -> int:
    from cachemgr.integrity import commands

    return commands.fsck(args)


def cmd_evict(args: argparse.Namespace) -> int:
    from cachemgr.integrity import commands

    return commands.evict(args)


def cmd_verify_origin(args: argparse.Namespace) -> int:
    from cachemgr.integrity import verify

    return verify.verify_origin(args)


def cmd_exporter(args: argparse.Namespace) -> int:
    from cachemgr.core.pod import PodConfigError, load_runtime
    from cachemgr.stats import exporter

    try:
        base = (
            exporter_settings.from_runtime(load_runtime(args.config)) if args.config else exporter_settings.Settings()
        )
    except PodConfigError as e:
        print(f"cachemgr exporter: {e}", file=sys.stderr)
        return 1
    return exporter.run(exporter_settings.from_args(args, base))


def cmd_status(args: argparse.Namespace) -> int:
    from cachemgr.stats import status

    try:
        nodes = status.from_prometheus(args.prometheus) if args.prometheus else status.from_exporter(args.metrics)
    except status.StatusError as e:
        print(f"cachemgr status: {e}", file=sys.stderr)
        return 1
    status.show(nodes)
    return 0


def cmd_process_events(args: argparse.Namespace) -> int:
    from cachemgr.runtime.process_events import listen

    return listen(args.state)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cachemgr", description="Run a fleet of XRootD caches on Kubernetes.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("params", help="list every parameter (the table behind validation and docs)")
    s.add_argument("--markdown", action="store_true", help="print docs/parameters.md")
    s.set_defaults(func=cmd_params)

    s = sub.add_parser("render", help="write configmaps/<node>/, k8s/<node>.yaml, k8s/kustomize/<node>/, k8s/fleet/")
    s.add_argument("--values", type=Path, default=Path("k8s"), help="values dir (site.yaml, nodes/)")
    s.add_argument("--out", type=Path, default=Path("."), help="output root (default: here)")
    s.add_argument("--cron", type=Path, metavar="DIR", help=CRON_HELP)
    s.add_argument("nodes", nargs="*", metavar="NODE")
    s.set_defaults(func=cmd_render)

    s = sub.add_parser("check", help="validate, render, and start every instance under the real xrootd")
    s.add_argument("--values", type=Path, default=Path("k8s"))
    s.add_argument("--cron", type=Path, metavar="DIR", help=CRON_HELP)
    s.add_argument("--no-start", action="store_true", help="validate and render only")
    s.add_argument(
        "--installed",
        type=Path,
        metavar="DIR",
        help="on a node: check the files the installed config (DIR, e.g. /etc/xrootd) needs",
    )
    s.add_argument("nodes", nargs="*", metavar="NODE")
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("task", help="run one scheduled task now (exit 1 with the reason when it fails)")
    tasks = s.add_subparsers(dest="task", required=True)
    from cachemgr.tasks import TASKS

    for name, spec in TASKS.items():
        spec.add_arguments(tasks.add_parser(name, help=spec.summary))
    s.set_defaults(func=cmd_task)

    s = sub.add_parser("cron", help="run the scheduled tasks of a crontab (a supervisord program)")
    s.add_argument("--crontab", type=Path, default=Path(BY_NAME["paths.config"].default) / "cachemgr.crontab")
    s.add_argument(
        "--state",
        type=Path,
        default=RunDir(Path(BY_NAME["paths.run"].default)).tasks,
        help="state file the exporter publishes",
    )
    s.add_argument("--no-at-start", action="store_true", help="skip the --at-start runs (supervise did them)")
    s.set_defaults(func=cmd_cron)

    config = Path(BY_NAME["paths.config"].default)
    s = sub.add_parser("supervise", help="the container's entrypoint: check, prepare, run supervisord, drain")
    s.add_argument(
        "--configmap", type=Path, default=Path(CONFIGMAP_MOUNT), help="where the node's ConfigMap is mounted"
    )
    s.set_defaults(func=cmd_supervise)

    s = sub.add_parser("health", help="probe the pod: exit 0 when live (or ready), 1 with the reasons")
    which = s.add_mutually_exclusive_group()
    which.add_argument("--live", action="store_true", help="(default) programs up, xroot ports answering")
    which.add_argument("--ready", action="store_true", help="live, self-test passing, disks below limits")
    s.add_argument("--config", type=Path, default=config, help="the node's installed config")
    s.set_defaults(func=cmd_health)

    s = sub.add_parser("selftest", help="fetch a planted hit and an origin miss through the cache, every interval")
    s.add_argument("--config", type=Path, default=config)
    s.add_argument("--once", action="store_true", help="one round; exit 1 when a check fails")
    s.set_defaults(func=cmd_selftest)

    s = sub.add_parser("demo", help="run an origin and the example cache on 127.0.0.1 until interrupted")
    s.add_argument("--values", type=Path, default=EXAMPLE_SITE, help="values dir (default: the bundled example)")
    s.add_argument("--node", default="local")
    s.add_argument(
        "--auth", action="store_true", help="also the authenticated instance, a protected origin and a test CA"
    )
    s.add_argument(
        "--pod", action="store_true", help="run the cache as a pod of the built image (podman kube play; as root)"
    )
    s.add_argument(
        "--fleet",
        type=int,
        nargs="?",
        const=3,
        metavar="N",
        help="instead: a cache redirector and N (default 3) stashcache-cmsd caches reporting to it",
    )
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("cinfo", help="print XRootD cache .cinfo files (versions 2-4); exit 1 if one is bad")
    s.add_argument("--json", action="store_true", help="one JSON object per file, with xrdpfc_print -j's fields")
    s.add_argument("--blocks", action="store_true", help="with --json, add block_array (one 0/1 per block)")
    s.add_argument("files", nargs="+", type=Path, metavar="FILE")
    s.set_defaults(func=cmd_cinfo)

    from cachemgr.integrity.target import evict_arguments, fsck_arguments, verify_arguments

    s = sub.add_parser("fsck", help="check the cache's files (exit 0 clean, 1 with findings); --repair quarantines")
    fsck_arguments(s)
    s.set_defaults(func=cmd_fsck)

    s = sub.add_parser("evict", help="evict cached files (not those xrootd has open), reporting what was freed")
    evict_arguments(s)
    s.set_defaults(func=cmd_evict)

    s = sub.add_parser("verify-origin", help="cached files whose size or mtime at the origin changed since (exit 1)")
    verify_arguments(s)
    s.set_defaults(func=cmd_verify_origin)

    s = sub.add_parser("exporter", help="serve the node's Prometheus metrics (cache scan, streams, disks, tasks)")
    s.add_argument(
        "--config", type=Path, help="the node's installed config: its runtime.json's settings (without: the flags')"
    )
    exporter_settings.add_arguments(s)
    s.set_defaults(func=cmd_exporter)

    s = sub.add_parser("status", help="one screen per node: programs, credentials, tasks, disks, hit ratio")
    s.add_argument(
        "--metrics", default=f"http://127.0.0.1:{BY_NAME['ports.metrics'].default}/metrics", help="this node's exporter"
    )
    s.add_argument("--prometheus", metavar="URL", help="every node of the fleet, from this Prometheus")
    s.set_defaults(func=cmd_status)

    s = sub.add_parser("process-events", help="supervisord event listener counting program exits (internal)")
    s.add_argument("--state", type=Path, required=True)
    s.set_defaults(func=cmd_process_events)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ValuesError as e:
        return _print_problems(e.problems)
    except ModuleNotFoundError as e:
        if not _client_missing(e):
            raise
        print(f"cachemgr {args.command}: needs the kubernetes client: {INSTALL_CLIENT}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"cachemgr {args.command}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
