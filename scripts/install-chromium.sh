#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests. Idempotent: does nothing when /usr/bin/chromium exists.
# Uses sudo when not run as root. Run from anywhere: bash scripts/install-chromium.sh
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: no apt-get here; install Chromium yourself (browser tests skip without it outside CI)" >&2
  exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-chromium: not root and no sudo; cannot install chromium" >&2
    exit 1
  fi
  SUDO=(sudo)
fi
echo "== installing chromium (apt-get)"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update
"${SUDO[@]}" apt-get install -y --no-install-recommends chromium
/usr/bin/chromium --version
