"""Every cachemgr parameter, declared once.

Validation (cachemgr.values), defaults and docs/parameters.md all derive from this table.
Names are dotted; in YAML they nest (`cache: {ram: 8g}`) or stay dotted (`cache.ram: 8g`).
Scope "site": may be set in k8s/site.yaml and overridden per node. Scope "node": only in a node file.
Defaults are written as an admin would write them and go through the same parser as YAML values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from cachemgr.core.pod import CONFIGMAP_MOUNT

REQUIRED = object()


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # a key of cachemgr.values.types.KINDS
    default: Any
    description: str
    unit: str = ""
    scope: Literal["site", "node"] = "site"

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


P = Param
PARAMS: tuple[Param, ...] = (
    # Identity and placement
    P("node.name", "dns label", None, "Node name; defaults to the node file's name and must match it.", scope="node"),
    P(
        "node.hostname",
        "hostname",
        REQUIRED,
        "Kubernetes node (`kubernetes.io/hostname` label) the cache pod is pinned to.",
        scope="node",
    ),
    P("site.name", "word", REQUIRED, "XRootD `all.sitename`, as registered in OSG Topology."),
    P("k8s.namespace", "dns label", "osg-caches", "Kubernetes namespace of the node's objects."),
    P("k8s.image", "image", "cachemgr/cache:0.1.0", "Container image (a pinned tag, never `latest`)."),
    P(
        "k8s.tolerations",
        "tolerations",
        [],
        "Pod tolerations as in a pod spec (key, operator, value, effect, tolerationSeconds); no operator is Equal.",
    ),
    P("k8s.affinity", "mapping", {}, "Pod affinity, as in a pod spec (nodeSelector already pins the node)."),
    P("k8s.cpu_request", "quantity", "2", "CPU request of the cache container.", "cores"),
    P("k8s.cpu_limit", "quantity", "8", "CPU limit of the cache container.", "cores"),
    P("k8s.memory_request", "quantity", "4Gi", "Memory request; size it above cache.ram.", "bytes"),
    P(
        "k8s.memory_limit",
        "quantity",
        "16Gi",
        "Memory limit: at least cache.ram plus 512Mi per xrootd instance (two with auth.enabled), plus 512Mi.",
        "bytes",
    ),
    P(
        "k8s.init_chown",
        "boolean",
        True,
        "Run an init container that chowns cache directories; turn off for multi-TB caches.",
    ),
    P("k8s.drain", "duration", "60s", "Time given to running transfers on shutdown.", "seconds"),
    # Cache layout
    P(
        "cache.root",
        "path",
        "/xcache/namespace",
        "Namespace root (`oss.localroot`); holds the data on "
        "single-disk nodes, and only links when data disks are listed.",
        scope="node",
    ),
    P(
        "cache.auth_root",
        "path",
        "/xcache/auth-namespace",
        "Namespace root of the authenticated "
        "instance: two caches must not share one (they would write and purge the same files).",
        scope="node",
    ),
    P(
        "cache.data_disks",
        "path list",
        [],
        "Mount points of data disks (`oss.space data`); empty: data lives under cache.root.",
        scope="node",
    ),
    P(
        "cache.meta_disks",
        "path list",
        [],
        "Mount points for .cinfo files (`oss.space meta`); needs data disks.",
        scope="node",
    ),
    P("cache.ram", "size", "4g", "Memory for in-flight blocks (`pfc.ram`, at least 1g).", "bytes"),
    P("cache.blocksize", "size", "4m", "Cache block size (`pfc.blocksize`).", "bytes"),
    P("cache.prefetch", "integer", 20, "Blocks prefetched ahead per open file (`pfc.prefetch`).", "blocks"),
    P("cache.writequeue_blocks", "integer", 16, "Blocks written per disk-write batch (`pfc.writequeue`).", "blocks"),
    P("cache.writequeue_threads", "integer", 4, "Disk-writing threads (`pfc.writequeue`).", "threads"),
    P("cache.disk_low", "fraction", 0.90, "Purge stops below this fraction of the disk in use.", "fraction"),
    P("cache.disk_high", "fraction", 0.95, "Purge starts above this fraction of the disk in use.", "fraction"),
    P(
        "cache.files_baseline",
        "size?",
        None,
        "`pfc.diskusage files` baseline: cached-file bytes purged down to (with files_nominal and files_max).",
        "bytes",
    ),
    P("cache.files_nominal", "size?", None, "`pfc.diskusage files` nominal usage.", "bytes"),
    P("cache.files_max", "size?", None, "`pfc.diskusage files` maximum usage.", "bytes"),
    P(
        "cache.cschk",
        "cschk",
        "off",
        "`pfc.cschk`: page checksums on data fetched from the origin (`net`), on data read from disk (`cache`), "
        "`both`, or `off`. XRootD 5.5.3's default (net, not over TLS) also stops the origin from using sendfile: "
        "measured here, misses ran at 0.43x the direct rate with it and 0.6x off. Off relies on TCP checksums.",
    ),
    P(
        "cache.sentinel",
        "text?",
        ".cachemgr-disk",
        "File that must exist at the top of cache.root and every disk: the cache refuses to start on an "
        "unmounted disk (create it once when mounting: touch /xcache/data1/.cachemgr-disk). Empty: no check.",
    ),
    P("cache.inode_high", "fraction", 0.95, "Not ready above this fraction of inodes in use.", "fraction"),
    P("cache.purge_interval", "duration", "300s", "Purge check interval (at least 60s).", "seconds"),
    # Ports
    P("ports.xroot", "port", 1094, "xroot port of the unauthenticated instance."),
    P("ports.http", "port", 8000, "HTTP port of the unauthenticated instance."),
    P("ports.auth", "port", 8443, "xroot and HTTPS port of the authenticated instance."),
    P("ports.metrics", "port", 9100, "Prometheus exporter port."),
    P("ports.summary", "port", 9930, "Local UDP port for the summary stream (to the exporter)."),
    P("ports.gstream", "port", 9931, "Local UDP port for the pfc g-stream (to the exporter)."),
    # Integrity (cachemgr fsck, its scheduled task)
    P(
        "fsck.repair",
        "boolean",
        False,
        "The scheduled fsck also moves bad files into quarantine (`--repair`), skipping those xrootd has open.",
    ),
    P("fsck.quarantine_max", "size", "10g", "Quarantine size cap per disk: oldest runs' files go first.", "bytes"),
    P("fsck.quarantine_age", "duration", "7d", "Quarantined files are deleted after this long.", "seconds"),
    P("fsck.temp_age", "duration", "1h", "An XrdOss side file (`.anew`, `.fail`, ...) this old is stale.", "seconds"),
    # Self-test
    P("selftest.interval", "duration", "60s", "How often the self-test runs.", "seconds"),
    P(
        "selftest.miss_path",
        "text?",
        None,
        "A file on the origin the self-test fetches through the cache (and then evicts) to prove misses work; "
        "unset: the miss check is skipped.",
    ),
    P(
        "selftest.auth_miss_path",
        "text?",
        None,
        "A file on the authenticated instance's origin (origin.auth) the self-test fetches through that instance, "
        "anonymously over HTTP (so not under a protected namespace), and evicts: it proves the cache still gets "
        "in with its proxy or host cert. Unset: selftest.miss_path when origin.auth is unset (the same origin), "
        "else no such check.",
    ),
    P("selftest.timeout", "duration", "30s", "Time each self-test fetch may take.", "seconds"),
    # Exporter
    P("exporter.address", "word", "0.0.0.0", "Address the exporter listens on (the pod uses the host network)."),
    P(
        "exporter.scan_interval",
        "duration",
        "300s",
        "How often the exporter rescans the cache's .cinfo files.",
        "seconds",
    ),
    P("exporter.scan_depth", "integer", 2, "Namespace depth of per-path metrics (/user/ligo is 2).", "levels"),
    P(
        "exporter.disable",
        "word list",
        [],
        "Exporter collectors not to run, by name (the modules of cachemgr/stats/collectors/): cache_scan, say, on "
        "a cache of a hundred million files.",
    ),
    # Upstream
    P("origin.host", "host:port", REQUIRED, "Origin or origin redirector the cache fetches from (`pss.origin`)."),
    P("origin.auth", "host:port?", None, "Origin for the authenticated instance; defaults to origin.host."),
    P("origin.timeout", "duration", "25s", "Connect and request timeout towards the origin.", "seconds"),
    P(
        "redirector",
        "host:port?",
        None,
        "Cache redirector to report to; when set, cmsd runs beside each xrootd (`all.manager`, `all.role server`).",
    ),
    # A cache redirector run with these values (`cachemgr demo --fleet`): its cmsd's selection and timeouts; the
    # caches' own configs do not use them.
    P(
        "cms.lookup_delay",
        "duration",
        "5s",
        "How long the cache redirector waits for the caches to say they have a file (`cms.delay lookup` and "
        "`qdl`); a file no cache has is then sent to one picked by `cms.sched`, so each miss waits this long once. "
        "Configures the redirector of `cachemgr demo --fleet`, whose own value (fleet.EXTRA: 1s) overrides it.",
        "seconds",
    ),
    P(
        "cms.startup_delay",
        "duration",
        "90s",
        "Time after the cache redirector starts before it redirects clients (`cms.delay startup`), so caches can "
        "log in. Configures the redirector of `cachemgr demo --fleet`, whose own value (fleet.EXTRA: 1s) overrides it.",
        "seconds",
    ),
    P(
        "cms.drop_delay",
        "duration",
        "600s",
        "How long a cache that disconnected stays known before it is dropped (`cms.delay drop`): until then "
        "clients of the files only it has wait for it (`cms.service_delay`); then those files go to another cache. "
        "Configures the redirector of `cachemgr demo --fleet`, whose own value (fleet.EXTRA: 5s) overrides it.",
        "seconds",
    ),
    P(
        "cms.service_delay",
        "duration",
        "15s",
        "How long a client is told to wait before asking again when the only caches that have its file are "
        "disconnected (`cms.delay service`): it retries until they return or are dropped (`cms.drop_delay`). "
        "Configures the redirector of `cachemgr demo --fleet`, whose own value (fleet.EXTRA: 1s) overrides it.",
        "seconds",
    ),
    P(
        "cms.ping",
        "duration",
        "60s",
        "Keep-alive interval between the cache redirector and each cache's cmsd (`cms.ping`); a cache that stops "
        "answering without closing its connection is logged out after a few intervals. "
        "Configures the redirector of `cachemgr demo --fleet`, whose own value (fleet.EXTRA: 3s) overrides it.",
        "seconds",
    ),
    P(
        "cms.sched",
        "text?",
        None,
        "Load weights for the cache redirector's pick of a cache for a miss (`cms.sched`, e.g. "
        "`cpu 50 io 50 fuzz 20`); unset: round robin. Configures the redirector of `cachemgr demo --fleet`, which "
        "keeps this value (fleet.EXTRA does not set it).",
    ),
    # Monitoring
    P(
        "monitoring.summary",
        "host:port list",
        [],
        "Extra destinations of the summary stream; 127.0.0.1:ports.summary is always added.",
    ),
    P("monitoring.detailed", "host:port list", [], "Destinations of the detailed (binary) stream."),
    P("monitoring.interval", "duration", "30s", "Summary and g-stream reporting interval.", "seconds"),
    # Namespaces and who may read them
    P("namespaces.public", "namespace list", ["/"], "Prefixes anyone may read."),
    P(
        "namespaces.protected",
        "protected namespaces",
        [],
        "Prefixes refused by the unauthenticated "
        "instance and served by the authenticated one to: `account` (mapped users), `dns` (written to "
        "grid-mapfile.local), `fqans` (VOMS groups) and `issuers` (SciTokens: url, base_path, audience).",
    ),
    # Authentication
    P("auth.enabled", "boolean", False, "Run the authenticated instance."),
    P("auth.hostcert", "path", "/etc/grid-security/host/hostcert.pem", "Host certificate as mounted."),
    P(
        "auth.hostkey",
        "path",
        "/etc/grid-security/host/hostkey.pem",
        "Host key as mounted; same directory as the cert when it comes from a Secret.",
    ),
    P(
        "auth.hostcert_from",
        "cert source",
        "secret",
        "Where the pod gets the host cert and key: `secret` "
        "(a kubernetes.io/tls Secret) or `hostpath` (files on the node).",
    ),
    P("auth.hostcert_secret", "dns label", "xcache-hostcert", "Name of the TLS Secret with the host cert."),
    P(
        "auth.xrd_dir",
        "path",
        "/etc/grid-security/xrd",
        "Where fix-certs puts xrdcert.pem and xrdkey.pem (mode 0600), the copies xrootd reads, owned by xrootd.user.",
    ),
    P("auth.cadir", "path", "/etc/grid-security/certificates", "IGTF-style CA directory with CRLs."),
    P("auth.gridmap", "path", "/etc/grid-security/grid-mapfile", "grid-mapfile (gridmap task)."),
    P("auth.proxy", "path", "/var/run/cachemgr/x509up", "Proxy the cache uses towards the origin."),
    P("auth.proxy_lifetime", "duration", "48h", "Lifetime of the proxy made by refresh-proxy.", "seconds"),
    P(
        "auth.proxy_min_remaining",
        "duration",
        "24h",
        "refresh-proxy makes a new proxy when the current one has less time left than this.",
        "seconds",
    ),
    P(
        "auth.voms_command",
        "text?",
        None,
        "Command that makes a proxy with VOMS attributes instead of the built-in maker; {cert} {key} {out} {hours} "
        "are filled in (e.g. `voms-proxy-init -voms ligo -cert {cert} -key {key} -out {out} -valid {hours}:00`).",
    ),
    # Scheduled tasks (their schedules: the site's cron/)
    P(
        "tasks.schedule",
        "mapping",
        {},
        "This node's own cron schedule for tasks of the site's cron/: `{gridmap: \"*/10 * * * *\"}` "
        "(5 fields; --delay, --timeout and --at-start stay cron/'s).",
        scope="node",
    ),
    # Grid-mapfile (gridmap task)
    P(
        "gridmap.source",
        "text?",
        None,
        "Where the gridmap task gets DNs: `ldap://` or `ldaps://host`, `cvmfs+http://host/cvmfs/repo` (a CVMFS "
        "catalog's voms_authz), or an `http(s)://` or `file://` grid-mapfile. Unset: the grid-mapfile is the "
        "namespaces' own DNs.",
    ),
    P("gridmap.account", "account", "ligo", "Account the DNs of an LDAP or CVMFS source map to."),
    P("gridmap.ldap_base", "text", "ou=people,dc=ligo,dc=org", "LDAP search base (one level)."),
    P(
        "gridmap.ldap_filter",
        "text",
        "(&(isMemberOf=Communities:LSCVirgoLIGOGroupMembers)(gridX509subject=*))",
        "LDAP search filter.",
    ),
    P("gridmap.ldap_attribute", "word", "gridX509subject", "LDAP attribute holding the DNs."),
    P("gridmap.source_timeout", "duration", "30s", "How long the gridmap task waits for its source.", "seconds"),
    # CRLs (fetch-crl task)
    P("crl.download_timeout", "duration", "10s", "Time for one CRL download (fetch-crl -T).", "seconds"),
    P("crl.parallel", "integer", 20, "CRL downloads at once (fetch-crl -p).", "downloads"),
    P(
        "gridmap.max_shrink",
        "fraction",
        0.5,
        "Refuse a new grid-mapfile that lost more than this fraction of the entries (unless --force).",
        "fraction",
    ),
    P(
        "auth.origin_credential",
        "origin credential",
        "proxy",
        "How the cache authenticates to the origin: `proxy` or `hostcert`.",
    ),
    P("auth.token_audience", "word", "https://wlcg.cern.ch/jwt/v1/any", "Default SciTokens audience."),
    # Process and paths inside the container
    P("xrootd.user", "account", "xrootd", "User xrootd and cmsd run as."),
    P("xrootd.uid", "integer", 10940, "Numeric uid of xrootd.user (image build argument)."),
    P("xrootd.gid", "integer", 10940, "Numeric gid of xrootd.user (image build argument)."),
    P(
        "xrootd.async_reads",
        "boolean",
        False,
        "XRootD's asynchronous reads (`xrootd.async`). Off, one connection's requests are served in turn: on "
        "this project's loopback bench hits went from 0.78-0.86x to 0.91-1.04x of direct reads and misses stayed "
        "above 0.5x. Untested here: a cache far from its origin with many clients.",
    ),
    P("xrootd.extra", "directive list", [], "Raw directives appended to every cache instance."),
    P(
        "paths.config",
        "path",
        "/etc/xrootd",
        f"Where `cachemgr supervise` installs the node's config from its ConfigMap (mounted at {CONFIGMAP_MOUNT}).",
    ),
    P("paths.run", "path", "/var/run/cachemgr", "Runtime directory (admin paths, pid files, sockets)."),
    P("paths.log", "path", "/var/log/cachemgr", "Log directory."),
)

BY_NAME: dict[str, Param] = {p.name: p for p in PARAMS}
