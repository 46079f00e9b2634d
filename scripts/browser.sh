#!/usr/bin/env bash
# The browser the UI tests drive (tests/test_ui_browser.py, marker `browser`): Debian's
# headless Chromium and its chromedriver, as root. Selenium comes with '.[test]'; it is
# pointed at /usr/bin/chromedriver, so nothing is downloaded when the tests run. Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! command -v chromium >/dev/null || [ ! -x /usr/bin/chromedriver ]; then
  echo "browser: installing chromium and chromium-driver" >&2
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver >/dev/null
fi
