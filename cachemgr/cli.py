"""The `cachemgr` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cachemgr.values.load import Problem, ValuesError

EXAMPLE_SITE = Path(__file__).resolve().parents[1] / "k8s"


def _print_problems(problems: list[Problem]) -> int:
    for problem in problems:
        print(problem, file=sys.stderr)
    return 2


def cmd_params(args: argparse.Namespace) -> int:
    from cachemgr import docs

    print(docs.parameters_markdown() if args.markdown else docs.parameters_text(), end="" if args.markdown else "\n")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from cachemgr.render.engine import render_fleet, render_node
    from cachemgr.render.write import write_outputs
    from cachemgr.values.resolve import load_nodes

    nodes = load_nodes(args.values, args.nodes or None)
    rendered = [render_node(n) for n in nodes]
    # Fleet files list every node: only rendered when every node is.
    fleet = None if args.nodes else render_fleet(nodes)
    changed = write_outputs(rendered, args.out, fleet)
    for path in changed:
        print(f"wrote {path}")
    print(f"{len(rendered)} node(s) rendered, {len(changed)} output(s) changed")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from cachemgr.check import check

    problems = check(args.values, args.nodes or None, start=not args.no_start)
    if problems:
        return _print_problems(problems)
    print("ok")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from cachemgr import demo

    return demo.run(args.values, args.node)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cachemgr", description="Run a fleet of XRootD caches on Kubernetes.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("params", help="list every parameter (the table behind validation and docs)")
    s.add_argument("--markdown", action="store_true", help="print docs/parameters.md")
    s.set_defaults(func=cmd_params)

    s = sub.add_parser("render", help="write configmaps/<node>/, k8s/<node>.yaml, k8s/kustomize/<node>/, k8s/fleet/")
    s.add_argument("--values", type=Path, default=Path("k8s"), help="values dir (site.yaml, nodes/)")
    s.add_argument("--out", type=Path, default=Path("."), help="output root (default: here)")
    s.add_argument("nodes", nargs="*", metavar="NODE")
    s.set_defaults(func=cmd_render)

    s = sub.add_parser("check", help="validate, render, and start every instance under the real xrootd")
    s.add_argument("--values", type=Path, default=Path("k8s"))
    s.add_argument("--no-start", action="store_true", help="validate and render only")
    s.add_argument("nodes", nargs="*", metavar="NODE")
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("demo", help="run an origin and the example cache on 127.0.0.1 until interrupted")
    s.add_argument("--values", type=Path, default=EXAMPLE_SITE, help="values dir (default: the bundled example)")
    s.add_argument("--node", default="local")
    s.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ValuesError as e:
        return _print_problems(e.problems)
    except OSError as e:
        print(f"cachemgr {args.command}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
