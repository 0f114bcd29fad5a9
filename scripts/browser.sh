#!/usr/bin/env bash
# Install headless Chromium and its WebDriver (Debian packages) for the browser tests, when missing.
# Idempotent: does nothing when /usr/bin/chromium and /usr/bin/chromedriver are already there.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "==> no apt-get: install Chromium and chromedriver yourself (browser tests skip, and fail in CI)" >&2
  exit 0
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
echo "==> installing Debian chromium + chromium-driver for the browser tests"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
