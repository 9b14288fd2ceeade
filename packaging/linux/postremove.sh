#!/bin/sh
# posbridge postremove: reload systemd and udev. The posbridge user and
# /var/lib/posbridge (the order database) are kept: orders must never be lost
# by uninstalling.
set -e
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
fi
if command -v udevadm >/dev/null 2>&1; then
    udevadm control --reload >/dev/null 2>&1 || true
fi
exit 0
