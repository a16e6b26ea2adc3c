#!/usr/bin/env bash
# System packages the build and tests need. A Debian machine of this project's
# kind already has them (g++, make, python3 for node-gyp); install any that
# are missing.
set -euo pipefail
missing=()
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
fi
