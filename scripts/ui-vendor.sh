#!/usr/bin/env bash
# Refresh the web UI's vendored front-end files from the npm registry (package.json and
# package-lock.json pin them): uPlot into api/ui/vendor/ (served), axe-core into
# tests/vendor/ (the browser tests inject it; never served). The copies are committed, so
# nothing is fetched or built when berth runs. Usage: scripts/ui-vendor.sh
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund
mkdir -p api/ui/vendor tests/vendor
cp node_modules/uplot/dist/uPlot.esm.js api/ui/vendor/uPlot.esm.js
cp node_modules/uplot/dist/uPlot.min.css api/ui/vendor/uPlot.min.css
cp node_modules/uplot/LICENSE api/ui/vendor/uPlot.LICENSE.txt
cp node_modules/axe-core/axe.min.js tests/vendor/axe.min.js
cp node_modules/axe-core/LICENSE tests/vendor/axe.LICENSE.txt
echo "vendored: uplot $(node -p "require('./node_modules/uplot/package.json').version"), axe-core $(node -p "require('./node_modules/axe-core/package.json').version")"
