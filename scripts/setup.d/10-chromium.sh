#!/usr/bin/env bash
# Debian's Chromium and ChromeDriver for the dashboard's browser tests (tests/dashboard). Idempotent
# and quiet: nothing happens when /usr/bin/chromium and /usr/bin/chromedriver are already there;
# `apt-get update` runs only when the package lists don't know chromium-driver yet; apt's output is
# shown only if the install fails. Without apt-get the step only says so, and the browser tests
# skip themselves.
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "note: no /usr/bin/chromium and no apt-get; the dashboard's browser tests will be skipped" >&2
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "installing chromium and chromium-driver for the dashboard tests (first run only)..." >&2
if ! apt-cache show chromium-driver >/dev/null 2>&1; then
  $SUDO apt-get update -qq >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
