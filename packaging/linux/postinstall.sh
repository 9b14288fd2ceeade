#!/bin/sh
# posbridge postinstall (.deb and .rpm): the service user, config ownership,
# systemd and udev. The service is enabled but not started: the example
# config has no real gateway keys yet; "posbridge config check" tells IT
# what to fill in, then "systemctl start posbridge".
set -e

if ! getent group dialout >/dev/null; then
    groupadd --system dialout
fi
if ! getent passwd posbridge >/dev/null; then
    useradd --system --user-group --groups dialout \
        --home-dir /var/lib/posbridge --no-create-home \
        --shell /usr/sbin/nologin --comment "posbridge payment daemon" posbridge
else
    usermod --append --groups dialout posbridge
fi

chgrp posbridge /etc/posbridge /etc/posbridge/posbridge.toml
chmod 0750 /etc/posbridge
chmod 0640 /etc/posbridge/posbridge.toml

if command -v udevadm >/dev/null 2>&1; then
    udevadm control --reload >/dev/null 2>&1 || true
    udevadm trigger --subsystem-match=tty >/dev/null 2>&1 || true
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
    systemctl enable posbridge.service >/dev/null 2>&1 || true
    # An upgrade restarts a running daemon onto the new binary.
    systemctl try-restart posbridge.service >/dev/null 2>&1 || true
fi
exit 0
