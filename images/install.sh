#!/usr/bin/env bash
# Installs everything cachemgr needs on Debian 12 (bookworm: XRootD 5.5.3) or 13 (trixie: XRootD 5.8.1; the image's
# base). The image build, the README commands and CI all run this one script, so CI proves the image's install path.
#   images/install.sh [--test] [--container] [--venv DIR]
#   --test      also what the tests need (pytest, ruff, kubernetes-validate; promtool from prometheus; slapd;
#               podman, runc and mmdebstrap to build and run the image)
#   --container also podman, runc and mmdebstrap (images/build.sh, cachemgr demo --pod)
#   --image     install a copy of cachemgr, not a link to this checkout (the image drops its sources), without
#               what only rendering needs (the kubernetes client)
#   --venv DIR  where cachemgr is installed (default: .venv in the repo); as root, cachemgr is linked
#               into /usr/local/bin
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv="$repo/.venv"
extras="[render]"
extra_packages=""
editable="-e"
image=""
container_packages="podman runc catatonit mmdebstrap containernetworking-plugins"
while [ $# -gt 0 ]; do
  case "$1" in
    --test) extras="[render,test]"; extra_packages="$extra_packages prometheus slapd ldap-utils $container_packages" ;;
    --container) extra_packages="$extra_packages $container_packages" ;;
    --image) editable=""; extras=""; image=1 ;;
    --venv) venv=$2; shift ;;
    *) echo "usage: $0 [--test] [--container] [--image] [--venv DIR]" >&2; exit 2 ;;
  esac
  shift
done

# XRootD and its plugins from Debian (the same names on 12 and 13); fetch-crl for the CRL task; the rest for tests
# and probes.
packages="xrootd-server xrootd-client xrootd-scitokens-plugins xrootd-voms-plugins fetch-crl
          openssl curl iproute2 procps util-linux python3 python3-venv $extra_packages"
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing Debian packages:$missing"
  $sudo apt-get update -qq
  # Debian 13's xrootd-server creates its user with systemd-sysusers, which apt would satisfy with all of systemd:
  # an image without systemd takes the standalone one (a host with systemd keeps it; the two conflict).
  if [ -n "$image" ] && ! dpkg-query -W -f='${Status}' systemd 2>/dev/null | grep -q "install ok installed" \
    && apt-cache depends xrootd-server 2>/dev/null | grep 'systemd-standalone-sysusers' >/dev/null; then
    missing="$missing systemd-standalone-sysusers"
  fi
  # Packages such as slapd start a system service on install: tests start their own servers, so refuse
  # (with a policy-rc.d of our own, removed after, unless the machine already has one).
  own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
  [ -z "$own_policy" ] || $sudo rm -f /usr/sbin/policy-rc.d
fi

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-cache-dir $editable "$repo$extras"
if [ "$(id -u)" -eq 0 ]; then
  ln -sf "$venv/bin/cachemgr" /usr/local/bin/cachemgr
fi
echo "cachemgr installed in $venv"
