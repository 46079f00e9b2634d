#!/usr/bin/env bash
# Set up everything berth needs on a Debian machine, as root: a Python virtual environment
# with berth installed (.venv), a running Docker engine and the local images. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

apt_updated=
apt_install() {
  [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }
  apt-get install -y -qq "$@" >/dev/null
}

# Debian's python3 ships without venv and pip; bookworm's python3 is 3.11, as berth needs.
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "setup: installing python3-venv" >&2
  apt_install python3-venv python3-pip
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
echo "setup: installing berth and its dependencies into .venv" >&2
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

bash scripts/dockerd.sh
# berth's image registry is Debian's docker-registry (the Docker distribution registry).
if ! command -v docker-registry >/dev/null; then
  echo "setup: installing docker-registry" >&2
  apt_install docker-registry
fi
# The web UI's tests run in Debian's headless Chromium.
bash scripts/browser.sh
if [ -f scripts/local-images.sh ]; then
  bash scripts/local-images.sh
fi
echo "setup: done. berth is at $(pwd)/.venv/bin/berth" >&2
