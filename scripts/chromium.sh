#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (Playwright drives it; `playwright install` is never used).
# Idempotent: does nothing when /usr/bin/chromium exists; runs apt-get update only when the package is unknown.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show chromium >/dev/null 2>&1; then
  $SUDO apt-get update -q
fi
$SUDO apt-get install -y -q --no-install-recommends chromium
