#!/bin/sh
# Rebuilds models/swarmpath-tiny and test/fixtures/model from scratch, offline, on the CPU.
# Needs Debian's python3-torch and python3-numpy (/usr/bin/python3) and the `fortunes` package.
# SWARMPATH_FAST=1 runs a shortened recipe (minutes instead of about an hour).
set -eu
cd "$(dirname "$0")/../.."
if [ ! -d /usr/share/games/fortunes ]; then
  echo "missing /usr/share/games/fortunes: apt-get install fortunes fortunes-min" >&2
  exit 1
fi
exec /usr/bin/python3 models/build/train.py "$@"
