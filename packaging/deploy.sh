#!/usr/bin/env bash
# The fast developer loop: copy only the facecam binary to a board that already has the
# package (make flash), with rsync over ssh, and restart the service. Called by
# `make deploy`; see packaging/README.md.
#
#   HOST=user@host BIN=out/boards/rpi4/facecam packaging/deploy.sh
#
# Optional: SSH_PORT, SSH_KEY, SSH_OPTS, FLASH_ROOT as for flash.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() {
    echo "deploy: $*" >&2
    exit 1
}

HOST="${HOST:-}"
BIN="${BIN:-}"
SSH_PORT="${SSH_PORT:-22}"
SSH_KEY="${SSH_KEY:-}"
SSH_OPTS="${SSH_OPTS:-}"
FLASH_ROOT="${FLASH_ROOT:-}"

[ -n "$HOST" ] || die "HOST is not set: make deploy BOARD=rpi4 HOST=user@host"
[ -n "$BIN" ] || die "BIN is not set (the facecam binary to copy)"
[ -f "$BIN" ] || die "no binary at $BIN (build it with: make cross BOARD=…)"
[[ "$SSH_PORT" =~ ^[0-9]+$ ]] || die "bad SSH_PORT '$SSH_PORT'"
if [ -n "$FLASH_ROOT" ]; then
    [[ "$FLASH_ROOT" =~ ^/[A-Za-z0-9._/-]+$ ]] || die "FLASH_ROOT must be an absolute path of plain characters"
fi

# The binary's architecture, in Debian's words, to compare with the host's.
case "$(LC_ALL=C readelf -h "$BIN" 2>/dev/null | sed -n 's/^ *Machine: *//p')" in
*X86-64*) bin_arch=amd64 ;;
*AArch64*) bin_arch=arm64 ;;
ARM) bin_arch=armhf ;;
*) die "$BIN is not a Linux binary this script knows (x86-64, AArch64, ARM)" ;;
esac

ssh_cmd=(ssh -o BatchMode=yes -o ConnectTimeout=10 -p "$SSH_PORT")
[ -z "$SSH_KEY" ] || ssh_cmd+=(-i "$SSH_KEY" -o IdentitiesOnly=yes)
# shellcheck disable=SC2206 # SSH_OPTS is a list of options on purpose
ssh_cmd+=($SSH_OPTS)
remote() { "${ssh_cmd[@]}" "$HOST" "$@"; }

dest="$FLASH_ROOT/usr/bin/facecam"
probe_cmd="echo arch=\$(dpkg --print-architecture); echo uid=\$(id -u); test -x '$dest' && echo installed; exit 0"
probe=$(remote "$probe_cmd" 2>&1) || die "cannot reach $HOST over ssh (port $SSH_PORT): $(printf '%s\n' "$probe" | tail -n 1)"
field() { printf '%s\n' "$probe" | sed -n "s/^$1=//p"; }
printf '%s\n' "$probe" | grep -qx installed || die "facecam is not installed on $HOST ($dest missing): run make flash first"
host_arch=$(field arch)
[ "$host_arch" = "$bin_arch" ] || die "$HOST is $host_arch, $BIN is $bin_arch"
sudo=""
[ "$(field uid)" = 0 ] || sudo="sudo -n "

# rsync writes a temporary file and renames it over the old binary, so a running
# service keeps its old executable until the restart.
echo "deploy: $BIN → $HOST:$dest"
rsync --compress --times --checksum --chmod=F755 --rsync-path="${sudo}rsync" \
    -e "$(printf '%q ' "${ssh_cmd[@]}")" "$BIN" "$HOST:$dest" ||
    die "rsync to $HOST failed"

# The restart and its health check (restart_facecam) are lib-restart.sh's, sent first.
cat "$here/lib-restart.sh" - << 'REMOTE' | remote sh -s -- "'$FLASH_ROOT'"
set -e
root=$1
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo -n"
if [ -n "$root" ]; then
    echo "deploy: binary updated under $root (a staging root); nothing restarted"
elif [ -d /run/systemd/system ]; then
    restart_facecam deploy 2
    echo "deploy: facecam restarted"
else
    echo "deploy: systemd is not running on $(hostname); binary updated, service not restarted"
fi
REMOTE
