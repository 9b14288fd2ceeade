package termsim

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// ScriptFile is the content of a script file.
type ScriptFile struct {
	Default     Script            `json:"default"`
	Orders      map[string]Script `json:"orders"`
	Personality Personality       `json:"personality"`
}

// ParseScripts reads a script file: {"default": Script, "orders": {"NO":
// Script}, "personality": Personality}. Delays are Go durations ("1.5s").
// ParseScriptFile returns the personality too.
func ParseScripts(b []byte) (def Script, orders map[string]Script, err error) {
	f, err := ParseScriptFile(b)
	return f.Default, f.Orders, err
}

// ParseScriptFile reads a script file; see ParseScripts.
func ParseScriptFile(b []byte) (ScriptFile, error) {
	var f ScriptFile
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return ScriptFile{}, fmt.Errorf("parse script: %w", err)
	}
	switch f.Personality.Keys {
	case KeysBoth, KeysSnake, KeysCamel:
	default:
		return ScriptFile{}, fmt.Errorf("parse script: personality: unknown keys %q", f.Personality.Keys)
	}
	fix := func(name string, sc *Script) error {
		switch sc.Action {
		case "", Approve, Decline, Cancel, ReadTimeout, Never, DeclineCharged:
		default:
			return fmt.Errorf("parse script: %s: unknown action %q", name, sc.Action)
		}
		if sc.DelayText != "" {
			d, err := time.ParseDuration(sc.DelayText)
			if err != nil || d < 0 {
				return fmt.Errorf("parse script: %s: delay %q is not a duration", name, sc.DelayText)
			}
			sc.Delay = d
		}
		if sc.AcquirerDelayText != "" {
			d, err := time.ParseDuration(sc.AcquirerDelayText)
			if err != nil || d < 0 {
				return fmt.Errorf("parse script: %s: acquirer_delay %q is not a duration", name, sc.AcquirerDelayText)
			}
			sc.AcquirerDelay = d
		}
		return nil
	}
	if err := fix("default", &f.Default); err != nil {
		return ScriptFile{}, err
	}
	for no, sc := range f.Orders {
		if err := fix(no, &sc); err != nil {
			return ScriptFile{}, err
		}
		f.Orders[no] = sc
	}
	return f, nil
}
