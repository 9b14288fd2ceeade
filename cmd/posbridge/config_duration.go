package main

import (
	"fmt"
	"time"
)

// Durations in the config file.

// Duration is a time.Duration written in TOML as a string such as "30s" or "5m".
type Duration time.Duration

// UnmarshalText parses s with time.ParseDuration.
func (d *Duration) UnmarshalText(s []byte) error {
	v, err := time.ParseDuration(string(s))
	if err != nil {
		return fmt.Errorf("bad duration %q: want a number with a unit, like \"30s\", \"5m\" or \"1h\"", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes d as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }
