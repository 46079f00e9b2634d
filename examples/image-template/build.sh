#!/bin/sh
# Runs once, at build time, in /app.
date -u +%Y-%m-%dT%H:%M:%SZ > built-at
chmod +x run.sh
