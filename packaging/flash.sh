#!/usr/bin/env bash
# Install a facecam .deb on a board over ssh, choose its board profile, enable and start
# the service. Called by `make flash`; see packaging/README.md.
#
#   HOST=user@host DEB=path/to/facecam_….deb BOARD=rpi4 packaging/flash.sh
#
# Optional: SSH_PORT (22), SSH_KEY (an identity file), SSH_OPTS (extra ssh options, split
# at spaces), FLASH_ROOT (install under this directory of HOST instead of its root, with
# `dpkg --root`: a staging root, for tests; the service is then enabled there, never
# started).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() {
    echo "flash: $*" >&2
    exit 1
}

HOST="${HOST:-}"
DEB="${DEB:-}"
BOARD="${BOARD:-}"
SSH_PORT="${SSH_PORT:-22}"
SSH_KEY="${SSH_KEY:-}"
SSH_OPTS="${SSH_OPTS:-}"
FLASH_ROOT="${FLASH_ROOT:-}"

[ -n "$HOST" ] || die "HOST is not set: make flash BOARD=rpi4 HOST=user@host"
[ -n "$BOARD" ] || die "BOARD is not set: make flash BOARD=rpi4 HOST=$HOST"
[[ "$BOARD" =~ ^[A-Za-z0-9._-]+$ ]] || die "bad board name '$BOARD'"
[ -n "$DEB" ] || die "DEB is not set (the .deb to install)"
[ -f "$DEB" ] || die "no package at $DEB (build it with: make deb-board BOARD=$BOARD)"
[[ "$SSH_PORT" =~ ^[0-9]+$ ]] || die "bad SSH_PORT '$SSH_PORT'"
if [ -n "$FLASH_ROOT" ]; then
    [[ "$FLASH_ROOT" =~ ^/[A-Za-z0-9._/-]+$ ]] || die "FLASH_ROOT must be an absolute path of plain characters"
fi
deb_arch=$(dpkg-deb --field "$DEB" Architecture 2>/dev/null) || die "$DEB is not a Debian package"
deb_name=$(dpkg-deb --field "$DEB" Package)
[ "$deb_name" = facecam ] || die "$DEB is package '$deb_name', not facecam"

ssh_cmd=(ssh -o BatchMode=yes -o ConnectTimeout=10 -p "$SSH_PORT")
[ -z "$SSH_KEY" ] || ssh_cmd+=(-i "$SSH_KEY" -o IdentitiesOnly=yes)
# shellcheck disable=SC2206 # SSH_OPTS is a list of options on purpose
ssh_cmd+=($SSH_OPTS)
remote() { "${ssh_cmd[@]}" "$HOST" "$@"; }
port_opt=""
[ "$SSH_PORT" = 22 ] || port_opt="-p $SSH_PORT "

# Reachable, and the right architecture?
if ! probe=$(remote 'dpkg --print-architecture' 2>&1); then
    die "cannot reach $HOST over ssh (port $SSH_PORT): $(printf '%s\n' "$probe" | tail -n 1)"
fi
host_arch=$(printf '%s\n' "$probe" | tail -n 1)
[ "$host_arch" = "$deb_arch" ] || die "$HOST is $host_arch, the package is $deb_arch (build it for the board: make deb-board BOARD=$BOARD)"

echo "flash: copying $(basename "$DEB") to $HOST"
remote_deb=$(remote 'f=$(mktemp /tmp/facecam-XXXXXX.deb) && cat > "$f" && echo "$f"' < "$DEB") ||
    die "copying the package to $HOST failed"

echo "flash: installing on $HOST${FLASH_ROOT:+ under $FLASH_ROOT}, board $BOARD"
# The remote side: POSIX sh, arguments: package file, board, staging root (or empty);
# all three were checked above to be plain words, so single quotes are enough. The
# restart and its health check (restart_facecam) are lib-restart.sh's, sent first.
cat "$here/lib-restart.sh" - << 'REMOTE' | remote sh -s -- "'$remote_deb'" "'$BOARD'" "'$FLASH_ROOT'"
set -e
deb=$1 board=$2 root=$3
trap 'rm -f "$deb"' EXIT
sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo -n true 2>/dev/null || { echo "flash: $(id -un) needs root or passwordless sudo on $(hostname)" >&2; exit 1; }
    sudo="sudo -n"
fi
# Keep a locally edited /etc/facecam/facecam.conf on reinstalls, without asking.
opts="--force-confdef --force-confold"
if [ -n "$root" ]; then
    # A staging root: its own dpkg database; maintainer scripts run outside a chroot
    # with DPKG_ROOT set; dependencies are the host's business, not the staging root's.
    $sudo mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/log"
    [ -f "$root/var/lib/dpkg/status" ] || $sudo touch "$root/var/lib/dpkg/status"
    opts="$opts --root=$root --log=$root/var/log/dpkg.log --force-script-chrootless --force-depends"
fi
# shellcheck disable=SC2086
$sudo dpkg $opts --install "$deb" > /dev/null || { echo "flash: dpkg could not install the package" >&2; exit 1; }

conf="$root/etc/facecam/facecam.conf"
[ -f "$root/usr/share/facecam/boards/$board.toml" ] || {
    echo "flash: the package has no board profile '$board'" >&2
    exit 1
}
$sudo sed -i "s/^FACECAM_BOARD=.*/FACECAM_BOARD=$board/" "$conf"
grep -q "^FACECAM_BOARD=$board\$" "$conf" || { echo "flash: could not set the board in $conf" >&2; exit 1; }

if [ -n "$root" ]; then
    $sudo systemctl --root="$root" enable facecam.service
    echo "flash: installed under $root (a staging root): enabled there, not started"
elif [ -d /run/systemd/system ]; then
    $sudo systemctl daemon-reload
    $sudo systemctl enable facecam.service
    restart_facecam flash 3
    echo "flash: facecam is running"
else
    if $sudo systemctl enable facecam.service; then
        echo "flash: systemd is not running on $(hostname); facecam enabled but not started"
    else
        echo "flash: systemd is not running on $(hostname); facecam installed, neither enabled nor started"
    fi
fi
REMOTE

echo "flash: done. Logs:      ssh ${port_opt}$HOST journalctl -u facecam -f"
echo "       Settings:  ssh ${port_opt}$HOST sudoedit ${FLASH_ROOT}/etc/facecam/facecam.conf (then: sudo systemctl restart facecam)"
