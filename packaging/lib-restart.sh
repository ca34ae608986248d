# shellcheck shell=sh
# The restart-and-health check that flash.sh and deploy.sh both run on the board. Not run
# here: each sends this file ahead of its remote script (`cat lib-restart.sh - | ssh … sh -s`),
# so it is POSIX sh, as the board's side is.
#
#   restart_facecam WHO SETTLE
#
# Restart facecam.service, give it SETTLE seconds, and fail (exit 1) with its last log
# lines unless it is still up; WHO begins the messages. Uses $sudo (empty or "sudo -n").
restart_facecam() {
    $sudo systemctl restart facecam.service
    sleep "$2"
    if ! $sudo systemctl is-active --quiet facecam.service; then
        echo "$1: facecam did not stay up; its last log lines:" >&2
        $sudo journalctl -u facecam.service -n 20 --no-pager >&2 || true
        exit 1
    fi
}
