#!/bin/sh
# posbridge preremove (.deb and .rpm): stop the service before its files go.
# On an upgrade ("upgrade" for .deb, $1 = 1 for .rpm) the service keeps
# running; postinstall restarts it onto the new binary.
set -e
case "$1" in
    upgrade|1) exit 0 ;;
esac
if [ -d /run/systemd/system ]; then
    systemctl stop posbridge.service >/dev/null 2>&1 || true
fi
systemctl disable posbridge.service >/dev/null 2>&1 || true
exit 0
