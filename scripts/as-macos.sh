#!/usr/bin/env bash
# Run a command as on macOS, as far as Linux can play it: Python's RLIMIT_AS refused (this
# folder's as-macos/sitecustomize.py on PYTHONPATH, which reaches every Python process started
# below, xdist's workers included) and no /proc (an empty tmpfs mounted over it in a private mount
# namespace: needs root, or unprivileged user namespaces). psutil then cannot list processes either,
# which is stricter than macOS, where it can.
# Usage: scripts/as-macos.sh [--keep-proc] COMMAND [ARGS...]   (--keep-proc: refuse RLIMIT_AS only)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export PYTHONPATH="$here/as-macos${PYTHONPATH:+:$PYTHONPATH}"
if [ "${1:-}" = "--keep-proc" ]; then shift; exec "$@"; fi
if [ "$(id -u)" -eq 0 ]; then ns=(unshare --mount --fork); else ns=(unshare --user --map-root-user --mount --fork); fi
exec "${ns[@]}" sh -c 'mount -t tmpfs none /proc && exec "$@"' as-macos "$@"
