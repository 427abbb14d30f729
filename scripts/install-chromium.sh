#!/usr/bin/env bash
# Installs Debian's chromium and chromium-driver (WebDriver) for the browser tests of the web page
# (crates/ktrdr-cli/tests/web_page.rs), unless both are already on the PATH.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-chromium: chromium/chromedriver missing and not root; run: sudo $0" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends chromium chromium-driver
command -v chromium >/dev/null && command -v chromedriver >/dev/null
