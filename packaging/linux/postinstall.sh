#!/bin/sh
# posbridge postinstall (.deb and .rpm): the service user, the config, udev
# and systemd.
#
# The config /etc/posbridge/posbridge.toml belongs to IT, not to the
# package: it is created from the example only when it does not exist, and
# never changed afterwards. The service is enabled and started only when
# "posbridge config check" passes: the example does not (its placeholders
# must be replaced), so an unconfigured till never starts a daemon that
# would fail.
set -e

CONFIG=/etc/posbridge/posbridge.toml

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

# The database's directory (systemd's StateDirectory= makes it too): made
# here so that "posbridge orders" finds it before the first start.
if [ ! -d /var/lib/posbridge ]; then
    install -d -m 0700 -o posbridge -g posbridge /var/lib/posbridge
fi

chgrp posbridge /etc/posbridge /etc/posbridge/posbridge.d
chmod 0750 /etc/posbridge /etc/posbridge/posbridge.d
if [ ! -e "$CONFIG" ]; then
    (umask 027 && posbridge config example >"$CONFIG.new")
    chgrp posbridge "$CONFIG.new"
    mv "$CONFIG.new" "$CONFIG"
fi
# The udev template, likewise only when absent: IT fills in the terminal's
# USB ids there, and upgrades never touch it.
RULE=/etc/udev/rules.d/99-posbridge.rules
if [ ! -e "$RULE" ] && [ -d /etc/udev ]; then
    mkdir -p /etc/udev/rules.d
    cp /usr/share/posbridge/99-posbridge.rules "$RULE.new"
    chmod 0644 "$RULE.new"
    mv "$RULE.new" "$RULE"
fi

if command -v udevadm >/dev/null 2>&1; then
    udevadm control --reload >/dev/null 2>&1 || true
    udevadm trigger --subsystem-match=tty >/dev/null 2>&1 || true
fi

# First install: .deb "configure" with no old version; .rpm $1 = 1.
first=no
case "$1" in
    configure) [ -z "$2" ] && first=yes ;;
    1) first=yes ;;
esac
running=no
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
    systemctl is-active --quiet posbridge.service && running=yes
fi

# The check runs as the service does: as the posbridge user (so key files
# it cannot read fail here, not at start) and with the unit's environment
# file.
config_ok() {
    (
        if [ -r /etc/posbridge/posbridge.env ]; then
            set -a
            . /etc/posbridge/posbridge.env
            set +a
        fi
        if command -v runuser >/dev/null 2>&1; then
            runuser -u posbridge -- posbridge config check "$CONFIG"
        else
            posbridge config check "$CONFIG"
        fi
    ) >/dev/null 2>&1
}

if config_ok; then
    # Enabling works without a running systemd too (a chroot, an image).
    systemctl enable posbridge.service >/dev/null 2>&1 || true
    if [ -d /run/systemd/system ]; then
        if [ "$first" = yes ]; then
            systemctl start posbridge.service || true
        else
            # An upgrade restarts a running daemon onto the new binary.
            systemctl try-restart posbridge.service || true
        fi
    fi
elif [ "$running" = yes ]; then
    # A running daemon whose config the new version refuses keeps running
    # on the old binary until IT fixes the config.
    echo "posbridge: not restarted onto the new version: \"posbridge config check $CONFIG\" lists what to fix, then \"systemctl restart posbridge\""
else
    # Not running (never configured, or looping on a bad config): stop any
    # restart loop and leave it disabled until the config passes.
    if [ -d /run/systemd/system ]; then
        systemctl stop posbridge.service >/dev/null 2>&1 || true
    fi
    systemctl disable posbridge.service >/dev/null 2>&1 || true
    echo "posbridge: not started: edit $CONFIG until \"posbridge config check $CONFIG\" says ok, then \"systemctl enable --now posbridge\""
fi
exit 0
