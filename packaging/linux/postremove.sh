#!/bin/sh
# posbridge postremove: reload systemd and udev. The posbridge user and
# /var/lib/posbridge (the order database) are kept, even on purge: orders
# must never be lost by uninstalling. Purge removes the config postinstall
# created, /etc/posbridge/posbridge.toml (the drop-ins, keys and env file
# IT added stay).
set -e
if [ "$1" = purge ]; then
    rm -f /etc/posbridge/posbridge.toml
    rmdir /etc/posbridge/posbridge.d /etc/posbridge 2>/dev/null || true
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
fi
if command -v udevadm >/dev/null 2>&1; then
    udevadm control --reload >/dev/null 2>&1 || true
fi
exit 0
