#!/usr/bin/env bash
# Builds the cache image from images/Dockerfile with docker when its engine answers, else podman.
#   images/build.sh [--tag T]      (default tag: cachemgr/cache:<the Dockerfile's VERSION>)
# When the base image cannot be pulled (no registry reachable), it is made from Debian's packages with
# mmdebstrap and imported under the base's name. The build sees the host's CA bundle and apt/pip index
# settings through read-only mounts (a TLS-intercepting proxy needs them); none of them enter the image. The apt
# sources are the host's (its mirror) with the base's suite: a Debian 13 base built on a Debian 12 host gets trixie.
# Prints IMAGE=<ref> last.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dockerfile="$repo/images/Dockerfile"
version=$(sed -n 's/^ARG VERSION=//p' "$dockerfile")
base=$(sed -n 's/^FROM //p' "$dockerfile")
suite=${base#*:}; suite=${suite%-slim}  # debian:trixie-slim -> trixie
tag="cachemgr/cache:$version"
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag=$2; shift ;;
    *) echo "usage: $0 [--tag T]" >&2; exit 2 ;;
  esac
  shift
done
say() { echo "build.sh: $*" >&2; }
tmps=()
trap 'rm -rf "${tmps[@]}"' EXIT

if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  engine=docker
elif command -v podman >/dev/null; then
  engine=podman
  # This machine's defaults (crun on hybrid cgroups) may not run containers: cachemgr/local/podman/containers.conf
  # unless the caller names another.
  export CONTAINERS_CONF="${CONTAINERS_CONF:-$repo/cachemgr/local/podman/containers.conf}"
else
  say "neither a docker engine nor podman is available (images/install.sh --container installs podman)"
  exit 1
fi

if ! $engine image inspect "$base" >/dev/null 2>&1 && ! timeout 120 $engine pull -q "$base" >/dev/null 2>&1; then
  say "$base cannot be pulled: making it from Debian's packages (mmdebstrap --variant=minbase)"
  command -v mmdebstrap >/dev/null || { say "mmdebstrap is missing (images/install.sh --container)"; exit 1; }
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  work=$(mktemp -d); tmps+=("$work")
  mmdebstrap --quiet --variant=minbase --mode=root "$suite" "$work/rootfs.tar" ${mirror:+"$mirror"}
  $engine import -q "$work/rootfs.tar" "docker.io/library/$base" >/dev/null
fi

# The host's package-index settings and CA bundle, for RUN steps only: mounted read-only over paths the base
# already has (/mnt, /etc/apt/*.d), so no mount point is left in the image; pip finds the bundle by build arg.
mounts=()
args=()
ca=/etc/ssl/certs/ca-certificates.crt
if [ -r "$ca" ]; then
  cadir=$(mktemp -d); tmps+=("$cadir")
  cp "$ca" "$cadir/"
  mounts+=(-v "$cadir:/mnt:ro")  # a directory: a file mount would leave its mount point behind
  args+=(--build-arg PIP_CERT=/mnt/ca-certificates.crt)
fi
index=$(python3 -m pip config get global.index-url 2>/dev/null || true)
args+=(--build-arg "PIP_INDEX_URL=${index:-https://pypi.org/simple}")
# The host's apt sources replace the base's own (paths the base has: no mount point is left behind), each suite of
# the host's release (bookworm, bookworm-updates, bookworm-security) renamed to the base's: the host's mirror, the
# base's packages. Only the suite fields change (one-line `deb URI SUITE …`, deb822 `Suites:`).
host_suite=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
if [ -d /etc/apt/sources.list.d ]; then
  apt=$(mktemp -d); tmps+=("$apt")
  mkdir "$apt/sources.list.d"
  touch "$apt/sources.list"  # none on the host: the base's is hidden all the same
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    if [ -n "$host_suite" ] && [ "$host_suite" != "$suite" ]; then
      deb='^([[:space:]]*deb(-src)?[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+[[:space:]]+)'  # up to the suite
      sed -E -e "/^[[:space:]]*Suites:/ s/\<$host_suite(-[a-z]+)?\>/$suite\1/g" \
        -e "s/$deb$host_suite(-[a-z]+)?\>/\1$suite\4/" "$f" >"$apt/${f#/etc/apt/}"
    else
      cp "$f" "$apt/${f#/etc/apt/}"
    fi
  done
  chmod -R a+rX "$apt"
  mounts+=(-v "$apt/sources.list:/etc/apt/sources.list:ro" -v "$apt/sources.list.d:/etc/apt/sources.list.d:ro")
fi
[ -d /etc/apt/apt.conf.d ] && mounts+=(-v /etc/apt/apt.conf.d:/etc/apt/apt.conf.d:ro)

previous=$($engine image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
if [ "$engine" = podman ]; then
  podman build --pull=never --isolation=chroot --format docker --layers "${mounts[@]}" "${args[@]}" \
    -f "$dockerfile" -t "$tag" "$repo" >&2
  ref=$(podman image inspect --format '{{index .RepoTags 0}}' "$tag")
else
  # docker build has no -v: BuildKit secrets would be the way; without a proxy nothing is needed.
  docker build "${args[@]}" -f "$dockerfile" -t "$tag" "$repo" >&2
  ref=$tag
fi
# The image this tag named before is garbage now (a rebuild would otherwise leave 376 MB behind each time).
current=$($engine image inspect --format '{{.Id}}' "$tag")
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then
  $engine image rm "$previous" >/dev/null 2>&1 || true  # still used by a container or another tag: kept
fi
echo "IMAGE=$ref"
