#!/usr/bin/env bash
# System packages the build and tests need, from Debian's archive. A machine
# of this project's kind has the build tools (g++, make, python3 for node-gyp);
# the tests also need clang with libFuzzer (the fuzz targets), iproute2 and
# iptables (the multi-host suite: network namespaces, loss with netfilter).
# Debian's chromium renders `troupe bench --report`'s page in a test (the test
# checks the file's data alone where there is none). Installs only what is missing.
set -euo pipefail
missing=()
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
command -v python3 >/dev/null || missing+=(python3)
command -v ip >/dev/null || missing+=(iproute2)
command -v iptables >/dev/null || missing+=(iptables)
command -v clang++-14 >/dev/null || command -v clang++ >/dev/null || missing+=(clang)
# The sealer's fuzz target links the system's OpenSSL (the addon uses Node's).
[ -f /usr/include/openssl/evp.h ] || missing+=(libssl-dev)
# libFuzzer's runtime (libclang_rt.fuzzer) ships in libclang-rt-*-dev.
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || missing+=(libclang-rt-14-dev)
command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
