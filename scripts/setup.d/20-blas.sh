#!/usr/bin/env bash
# Native BLAS/LAPACK for Spark ML (ALS): without libblas.so.3 and liblapack.so.3 Spark falls back to
# its Java implementation, and the `recommend` stage misses its speed target. Idempotent and quiet:
# nothing happens when both libraries are already there or when apt-get is not available (Spark
# still runs, only slower).
set -euo pipefail

have() { ldconfig -p 2>/dev/null | grep -q "$1"; }
if have 'libblas.so.3 ' && have 'liblapack.so.3 '; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "note: no native BLAS/LAPACK and no apt-get; Spark ALS falls back to Java (slower)" >&2
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends libblas3 liblapack3 >/dev/null
