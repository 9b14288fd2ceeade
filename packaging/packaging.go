// Package packaging holds the files that install posbridge: the systemd unit,
// the udev rule, the example config, the nfpm and WiX recipes. The binary
// embeds the unit, so "posbridge service install" installs the very unit the
// .deb and .rpm ship.
package packaging

import _ "embed"

// SystemdUnit is linux/posbridge.service. Its ExecStart runs
// /usr/bin/posbridge with /etc/posbridge/posbridge.toml.
//
//go:embed linux/posbridge.service
var SystemdUnit string

// ExampleConfig is posbridge.example.toml: every key with its default.
//
//go:embed posbridge.example.toml
var ExampleConfig string
