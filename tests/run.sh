#!/usr/bin/env bash
# The README's test command: install what the tests need, lint, build the image, then run every test. As root the tests
# run in a private network namespace, so the servers they start can only ever see 127.0.0.1.
#   tests/run.sh [pytest args]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
"$repo/images/install.sh" --test
cd "$repo"
py="$repo/.venv/bin/python"
"$py" -m ruff check --quiet .
if [ "$(id -u)" -eq 0 ]; then
  # The image tests/test_pod.py plays; built here, while the package registries can still be reached (cached:
  # seconds when nothing changed).
  "$repo/images/build.sh" | tail -1
  exec unshare --net -- sh -c 'ip link set lo up && exec "$0" -m pytest "$@"' "$py" "$@"
fi
exec "$py" -m pytest "$@"
