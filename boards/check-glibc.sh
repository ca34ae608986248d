#!/usr/bin/env bash
# Usage: check-glibc.sh BINARY MAX_GLIBC
# Fails when BINARY needs a glibc symbol version newer than MAX_GLIBC (the board's).
set -euo pipefail
bin=$1 max=$2
[ -f "$bin" ] || { echo "check-glibc: $bin: no such file" >&2; exit 2; }
need=$(readelf --dyn-syms --wide "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
[ -n "$need" ] || { echo "check-glibc: $bin: no GLIBC symbol versions (not a glibc binary?)" >&2; exit 2; }
if [ "$(printf '%s\n%s\n' "$need" "$max" | sort -V | tail -1)" != "$max" ]; then
  echo "check-glibc: $bin needs glibc $need, the board has $max" >&2
  exit 1
fi
echo "$bin: needs glibc $need (board has $max): ok"
