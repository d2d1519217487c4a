"""Rendering: deterministic, atomic, complete, and the committed example outputs are current."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
import yaml
from support import EXAMPLE, REPO, cachemgr

from cachemgr.core.params import PARAMS
from cachemgr.local.xrootd import process
from cachemgr.render.docs import parameters_markdown
from cachemgr.render.engine import CONFIGMAP_FILES, RenderedNode, render_node
from cachemgr.render.site import load_nodes
from cachemgr.render.write import write_outputs

NODE = "node:\n  hostname: n1.example.org\n"


def _tree(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_render_is_byte_identical_on_rerun(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert cachemgr("render", "--values", str(EXAMPLE), "--out", str(a)).returncode == 0
    assert cachemgr("render", "--values", str(EXAMPLE), "--out", str(b)).returncode == 0
    assert _tree(a) == _tree(b)
    again = cachemgr("render", "--values", str(EXAMPLE), "--out", str(a))
    assert "0 output(s) changed" in again.stdout


def test_committed_example_outputs_are_current(tmp_path):
    """configmaps/ and k8s/ in the repo are what `cachemgr render` makes today (run it after editing values)."""
    assert cachemgr("render", "--values", str(EXAMPLE), "--out", str(tmp_path)).returncode == 0
    # Everything under k8s/ but the values and the hand-written monitoring: a file render no longer makes is stale.
    hand_written = {REPO / "k8s" / "site.yaml", *(REPO / "k8s" / "nodes").iterdir()}
    hand_written |= set((REPO / "k8s" / "monitoring").iterdir())
    committed = {
        p for p in [*(REPO / "configmaps").rglob("*"), *(REPO / "k8s").rglob("*")] if p.is_file()
    } - hand_written
    assert {p.relative_to(REPO) for p in committed} == {
        p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()
    }, "run `cachemgr render`"
    for path in committed:
        assert path.read_bytes() == (tmp_path / path.relative_to(REPO)).read_bytes(), f"stale {path}: run render"


def test_removed_file_does_not_linger(values, tmp_path):
    vdir = values({"n1": NODE + "auth:\n  enabled: true\n"})
    out = tmp_path / "out"
    assert cachemgr("render", "--values", str(vdir), "--out", str(out)).returncode == 0
    assert (out / "configmaps" / "n1" / "Authfile-auth").exists()
    (vdir / "nodes" / "n1.yaml").write_text(NODE)
    assert cachemgr("render", "--values", str(vdir), "--out", str(out)).returncode == 0
    assert not (out / "configmaps" / "n1" / "Authfile-auth").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".cachemgr")], "staging dir left behind"


def test_a_failure_while_writing_leaves_every_old_output_as_it_was(tmp_path):
    out = tmp_path / "out"
    write_outputs([RenderedNode("n1", {"robots.txt": "old"}, "deployment: old", "kustomization: old")], out)
    before = _tree(out)
    changed = RenderedNode("n1", {"robots.txt": "new"}, "deployment: new", "kustomization: new")
    unwritable = RenderedNode("n2", {"a": "a file", "a/b": "and a file under it"}, "deployment", "kustomization")
    with pytest.raises(OSError):
        write_outputs([changed, unwritable], out)
    assert _tree(out) == before
    assert not [p for p in out.iterdir() if p.name.startswith(".cachemgr")], "staging dir left behind"


def test_a_nodes_copies_of_a_file_are_hard_links_and_nodes_share_none(tmp_path):
    """Creating files is what costs on disk; in place edits of one node's files must not reach another node's."""
    assert cachemgr("render", "--values", str(EXAMPLE), "--out", str(tmp_path)).returncode == 0

    def inode(path):
        return os.stat(tmp_path / path).st_ino

    for node in ("local", "stashcache-cmsd"):
        assert inode(f"k8s/{node}.yaml") == inode(f"k8s/kustomize/{node}/deployment.yaml")
        for key in os.listdir(tmp_path / "configmaps" / node):
            assert inode(f"configmaps/{node}/{key}") == inode(f"k8s/kustomize/{node}/config/{key}")
    assert inode("configmaps/local/robots.txt") != inode("configmaps/stashcache-cmsd/robots.txt")


def test_render_selected_nodes_only(values, tmp_path):
    vdir = values({"n1": NODE, "n2": NODE.replace("n1", "n2")})
    out = tmp_path / "out"
    assert cachemgr("render", "--values", str(vdir), "--out", str(out), "n2").returncode == 0
    assert sorted(p.name for p in (out / "configmaps").iterdir()) == ["n2"]
    missing = cachemgr("render", "--values", str(vdir), "--out", str(out), "nope")
    assert missing.returncode == 2 and "nodes/nope.yaml:0: node: no such node file" in missing.stderr


def test_environment_expansion(values):
    vdir = values({"n1": NODE + "origin:\n  host: ${ORIGIN_FOR_TEST:-fallback.example.org:1094}\n"})
    (node,) = load_nodes(vdir, env={})
    assert node["origin.host"] == "fallback.example.org:1094"
    (node,) = load_nodes(vdir, env={"ORIGIN_FOR_TEST": "set.example.org:2094"})
    assert "pss.origin set.example.org:2094" in render_node(node).configmap["xrootd-noauth.cfg"]


def test_node_values_override_site_values(values):
    vdir = values(
        {"n1": NODE + "cache:\n  ram: 2g\n"},
        site="site: {name: S}\norigin: {host: o.example.org:1}\ncache: {ram: 8g, prefetch: 7}\n",
    )
    cfg = render_node(load_nodes(vdir)[0]).configmap["xrootd-noauth.cfg"]
    assert "pfc.ram 2g" in cfg and "pfc.prefetch 7" in cfg


def test_configmap_files_per_node():
    nodes = {n.name: render_node(n) for n in load_nodes(EXAMPLE)}
    common = {
        "xrootd-noauth.cfg",
        "Authfile-noauth",
        "robots.txt",
        "supervisord.conf",
        "cachemgr.crontab",
        "supervisord-noauth.conf",
        "supervisord-services.conf",
        "runtime.json",
    }
    auth = {"xrootd-auth.cfg", "Authfile-auth", "lcmaps.cfg", "voms-mapfile", "supervisord-auth.conf"}
    assert set(nodes["stashcache-cmsd"].configmap) == common
    assert set(nodes["stashcache-7disk"].configmap) == common | auth | {"scitokens.cfg"}
    assert set(nodes["local"].configmap) == common | auth | {"grid-mapfile.local"}
    assert set(CONFIGMAP_FILES) >= set().union(*(n.configmap for n in nodes.values()))

    seven = nodes["stashcache-7disk"].configmap["xrootd-noauth.cfg"]
    assert seven.count("oss.space data /xcache/data") == 7 and "pfc.spaces data meta" in seven
    assert "files 80t 90t 95t" in seven
    cmsd = nodes["stashcache-cmsd"]
    assert "all.manager cache-redirector.example.org:1213" in cmsd.configmap["xrootd-noauth.cfg"]
    assert "[program:cmsd-noauth]" in cmsd.configmap["supervisord-noauth.conf"]
    assert json.loads(cmsd.configmap["runtime.json"])["files"] == [k for k in cmsd.configmap if k != "runtime.json"]
    assert "if exec xrootd\n  xrd.protocol http:" in cmsd.configmap["xrootd-noauth.cfg"]
    for rendered in nodes.values():
        cfg = rendered.configmap["xrootd-noauth.cfg"]
        assert "127.0.0.1:9930" in cfg and "127.0.0.1:9931" in cfg, "local exporter must get the streams"
        assert "PRIVATE KEY" not in "".join(rendered.configmap.values())


def test_instances_do_not_share_a_cache_root():
    for node in load_nodes(EXAMPLE):
        roots = [
            line
            for text in render_node(node).configmap.values()
            for line in text.splitlines()
            if line.startswith("oss.localroot")
        ]
        assert len(roots) == len(set(roots))


def test_auth_miss_probe_defaults_to_the_public_one_only_for_the_same_origin():
    def probe(**extra) -> str | None:
        (node,) = load_nodes(EXAMPLE, ["local"], {"selftest.miss_path": "/probe.bin", **extra})
        return json.loads(render_node(node).configmap["runtime.json"])["selftest"]["auth_miss_path"]

    assert probe() == "/probe.bin"
    assert probe(**{"origin.auth": "secure-origin.example.org:1094"}) is None  # it may not have that file
    assert probe(**{"origin.auth": "secure-origin.example.org:1094", "selftest.auth_miss_path": "/p"}) == "/p"


def test_kustomization_lists_every_configmap_file():
    for node in load_nodes(EXAMPLE):
        rendered = render_node(node)
        generator = yaml.safe_load(rendered.kustomization)["configMapGenerator"][0]
        assert generator["files"] == [f"config/{key}" for key in rendered.configmap]


def test_parameter_docs_are_current():
    assert (REPO / "docs" / "parameters.md").read_text() == parameters_markdown(), (
        "docs/parameters.md is stale: cachemgr params --markdown > docs/parameters.md"
    )
    for p in PARAMS:
        assert f"`{p.name}`" in parameters_markdown()


def test_params_command_lists_every_parameter():
    out = cachemgr("params").stdout
    assert all(p.name in out for p in PARAMS)


def test_no_output_file_is_group_writable(tmp_path):
    assert cachemgr("render", "--values", str(EXAMPLE), "--out", str(tmp_path)).returncode == 0
    for path in tmp_path.rglob("*"):
        assert not os.stat(path).st_mode & 0o022, path


def test_the_redirector_config_takes_the_cms_parameters(tmp_path):
    from cachemgr.local.xrootd import redirector

    (v,) = load_nodes(EXAMPLE, ["stashcache-cmsd"], {"cms.lookup_delay": "2s", "cms.sched": "cpu 50 io 50"})
    box = redirector.Redirector(tmp_path, 1094, 1213, 8000, [])
    text = redirector.render(v, box)
    assert "all.role manager\nall.manager 127.0.0.1:1213\n" in text
    assert "cms.delay lookup 2 startup 90 drop 600 service 15\ncms.ping 60\ncms.sched cpu 50 io 50\n" in text
    assert "  xrd.protocol http:8000 libXrdHttp.so\n" in text
    (v,) = load_nodes(EXAMPLE, ["stashcache-cmsd"])
    assert "\ncms.sched" not in redirector.render(v, box)  # round robin


def test_with_a_redirector_cmsd_answers_from_the_cache_dir_not_the_origin():
    """cmsd reads ofs.osslib too: only xrootd may load the proxy (tests/test_fleet.py shows the selection)."""
    with_cmsd = (REPO / "configmaps" / "stashcache-cmsd" / "xrootd-noauth.cfg").read_text()
    assert "if exec cmsd\n  all.export / stage r/o\nelse\n  all.export /\nfi\n" in with_cmsd
    assert "if exec xrootd\n  ofs.osslib libXrdPss.so\nfi\n" in with_cmsd
    alone = (REPO / "configmaps" / "local" / "xrootd-noauth.cfg").read_text()
    assert "\nall.export /\n" in alone and "\nofs.osslib libXrdPss.so\n" in alone and "stage" not in alone


@pytest.mark.usefixtures("xrootd_installed")
@pytest.mark.parametrize("config", sorted((REPO / "configmaps").glob("*/xrootd-*.cfg")), ids=lambda p: p.parent.name)
def test_every_committed_configs_gstream_line_starts_a_real_xrootd(config):
    """The g-stream's `send` takes one destination: a second one (a collector beside the exporter) stops xrootd."""
    (line,) = [x for x in config.read_text().splitlines() if x.startswith("xrootd.mongstream")]
    with tempfile.TemporaryDirectory(prefix="cachemgr-gstream-") as tmp:  # not pytest's: xrootd runs as its own user
        run = Path(tmp)
        run.chmod(0o777)
        minimal = run / "x.cfg"
        minimal.write_text(
            f"xrd.port {process.free_port()}\nall.export /\nall.adminpath {run}\nall.pidpath {run}\n"
            f"oss.localroot {run}\n{line}\n"
        )
        process.start("xrootd", "gstream", minimal, run / "xrootd.log", run, user="xrootd").stop()
