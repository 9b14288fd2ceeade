package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// DropInDir returns the drop-in directory of the config file at path: the
// file's name without its extension, plus ".d", beside it
// (/etc/posbridge/posbridge.d for /etc/posbridge/posbridge.toml).
func DropInDir(path string) string {
	return strings.TrimSuffix(path, filepath.Ext(path)) + ".d"
}

// DropInFiles returns the *.toml files in the drop-in directory of the config
// at path, in lexical order; none when the directory does not exist.
// Hidden files and files not ending in .toml (editor backups, .dpkg-dist)
// are left out.
func DropInFiles(path string) ([]string, error) {
	dir := DropInDir(path)
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read drop-in directory: %w", err)
	}
	var files []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, ".") || filepath.Ext(n) != ".toml" || e.IsDir() {
			continue
		}
		files = append(files, filepath.Join(dir, n))
	}
	sort.Strings(files)
	return files, nil
}

// merge sets on c every key d's file sets, d's value winning. A [[lane]] in
// d changes the lane of c with the same id, or is added when c has none (or
// when it has no id). Mistakes found decoding d are kept, named by d's file.
func (c *Config) merge(d *Config) {
	c.decodeErr = append(c.decodeErr, d.decodeErr...)
	if d.incomplete {
		c.incomplete = true
		return
	}
	// Where each of d's lanes goes in c.
	target := make([]int, len(d.Lanes))
	for i, l := range d.Lanes {
		target[i] = -1
		if l.ID != "" && d.index.has(laneKey(i, "id")) {
			for j, cl := range c.Lanes {
				if cl.ID == l.ID {
					target[i] = j
				}
			}
		}
		if target[i] < 0 {
			c.Lanes = append(c.Lanes, LaneConfig{})
			target[i] = len(c.Lanes) - 1
		}
	}
	renumber := func(key string) string {
		for i := range d.Lanes {
			p := fmt.Sprintf("lane[%d]", i+1)
			if key == p || strings.HasPrefix(key, p+".") {
				return fmt.Sprintf("lane[%d]", target[i]+1) + key[len(p):]
			}
		}
		return key
	}
	for _, t := range d.index.tables {
		t.key, t.file = renumber(t.key), d.path
		c.index.tables = append(c.index.tables, t)
	}
	dv, cv := reflect.ValueOf(d).Elem(), reflect.ValueOf(c).Elem()
	for _, e := range d.index.keys {
		section, name, ok := strings.Cut(e.key, ".")
		if !ok {
			continue
		}
		var src, dst reflect.Value
		if i, ok := laneIndex(section); ok && i < len(d.Lanes) {
			src = tomlField(dv.FieldByName("Lanes").Index(i), name)
			dst = tomlField(cv.FieldByName("Lanes").Index(target[i]), name)
		} else {
			src = tomlField(sectionField(dv, section), name)
			dst = tomlField(sectionField(cv, section), name)
		}
		if !src.IsValid() || !dst.IsValid() {
			continue // an unknown key, reported while decoding d
		}
		dst.Set(src)
		e.key, e.file = renumber(e.key), d.path
		c.index.keys = append(c.index.keys, e)
	}
}

// laneIndex parses "lane[N]" into N-1.
func laneIndex(section string) (int, bool) {
	s, ok := strings.CutPrefix(section, "lane[")
	if !ok || !strings.HasSuffix(s, "]") {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(s, "]"))
	if err != nil || n < 1 {
		return 0, false
	}
	return n - 1, true
}

// sectionField returns the field of Config v whose toml tag is name.
func sectionField(v reflect.Value, name string) reflect.Value {
	if name == "lane" {
		return reflect.Value{}
	}
	return tomlField(v, name)
}

// tomlField returns the field of struct v whose toml tag is name, or the
// zero Value.
func tomlField(v reflect.Value, name string) reflect.Value {
	if !v.IsValid() || v.Kind() != reflect.Struct {
		return reflect.Value{}
	}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).IsExported() && t.Field(i).Tag.Get("toml") == name {
			return v.Field(i)
		}
	}
	return reflect.Value{}
}

// EnvPrefix starts the name of every environment variable that sets a key.
//
// A key of a section is POSBRIDGE_<SECTION>_<KEY>, in capitals:
// POSBRIDGE_API_TOKEN sets [api] token, POSBRIDGE_GATEWAY_PARTNER_ID sets
// [gateway] partner_id, POSBRIDGE_METRICS_LISTEN sets [metrics] listen. A
// key of a lane is POSBRIDGE_LANE_<ID>_<KEY>, the lane's id in capitals with
// '-' written as '_': POSBRIDGE_LANE_1_PORT sets the port of the lane with
// id "1", POSBRIDGE_LANE_FRONT_DESK_APP_ID the app_id of lane "front-desk".
// Only single values (strings, numbers, durations) can be set this way, and
// only on lanes the files define. A variable wins over every file.
const EnvPrefix = "POSBRIDGE_"

// envName returns the variable that sets key name of section (or of a lane
// with id laneID when section is "lane").
func envName(section, laneID, name string) string {
	if section == "lane" {
		id := strings.ToUpper(strings.ReplaceAll(laneID, "-", "_"))
		return EnvPrefix + "LANE_" + id + "_" + strings.ToUpper(name)
	}
	return EnvPrefix + strings.ToUpper(section) + "_" + strings.ToUpper(name)
}

// applyEnv sets the keys the POSBRIDGE_* variables name (see EnvPrefix). A
// value that does not parse is a mistake named by its variable. Relative
// paths are relative to the config file's directory.
func (c *Config) applyEnv(lookup func(string) (string, bool)) {
	if c.incomplete {
		return
	}
	set := func(field reflect.Value, key, name string) {
		val, ok := lookup(name)
		if !ok || !field.IsValid() {
			return
		}
		if err := setScalar(field, val); err != nil {
			c.decodeErr = append(c.decodeErr, ConfigError{File: "$" + name, Key: key, Message: err.Error()})
			return
		}
		if key == "gateway.merchant_private_key" || key == "gateway.gateway_public_key" || key == "store.path" {
			if p := field.String(); p != "" && !filepath.IsAbs(p) {
				field.SetString(filepath.Join(filepath.Dir(c.path), p))
			}
		}
		c.index.keys = append(c.index.keys, docEntry{key: key, file: "$" + name})
	}
	cv := reflect.ValueOf(c).Elem()
	ct := cv.Type()
	for i := 0; i < ct.NumField(); i++ {
		section := ct.Field(i).Tag.Get("toml")
		if section == "" || section == "lane" || !ct.Field(i).IsExported() {
			continue
		}
		sv := cv.Field(i)
		for j := 0; j < sv.NumField(); j++ {
			name := sv.Type().Field(j).Tag.Get("toml")
			if name != "" && isScalar(sv.Field(j)) {
				set(sv.Field(j), section+"."+name, envName(section, "", name))
			}
		}
	}
	for i := range c.Lanes {
		if c.Lanes[i].ID == "" {
			continue
		}
		lv := cv.FieldByName("Lanes").Index(i)
		for j := 0; j < lv.NumField(); j++ {
			name := lv.Type().Field(j).Tag.Get("toml")
			if name != "" && name != "id" && isScalar(lv.Field(j)) {
				set(lv.Field(j), laneKey(i, name), envName("lane", c.Lanes[i].ID, name))
			}
		}
	}
}

func isScalar(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String, reflect.Int, reflect.Int64, reflect.Float64:
		return true
	}
	return false
}

// setScalar parses s into v: a string as is, a Duration as "30s", an int or
// a float as a number.
func setScalar(v reflect.Value, s string) error {
	if v.Type() == reflect.TypeOf(Duration(0)) {
		var d Duration
		if err := d.UnmarshalText([]byte(s)); err != nil {
			return err
		}
		v.Set(reflect.ValueOf(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		v.SetInt(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}

// Placeholder values: the example config's, which a till must replace.
const (
	// examplePartnerID is the Partner-Id in PayBy's documentation and in the
	// example config.
	examplePartnerID = "200000000888"
	// exampleAppID is the app_id in the example config.
	exampleAppID = "A1"
)

// checkPlaceholders reports the example's values left in place: the example
// Partner-Id and app_id (unless the gateway is a sandbox on this computer,
// as in the demo), and port = "auto" with nothing to recognise the terminal
// by, which would take whatever serial port comes first.
func (c *Config) checkPlaceholders(add func(key, format string, args ...any)) {
	sandbox := isLoopbackURL(c.Gateway.BaseURL)
	if c.Gateway.PartnerID == examplePartnerID && !sandbox {
		add("gateway.partner_id", "%q is the example from PayBy's documentation: set the merchant's Partner-Id from the PayBy portal", examplePartnerID)
	}
	for i, l := range c.Lanes {
		if l.Mode == LaneCloud || l.Mode == LaneQR {
			continue // no cable, no terminal app id
		}
		if l.AppID == exampleAppID && !sandbox {
			add(laneKey(i, "app_id"), "%q is the example's value: set the payment-app id CodePay issued for this integration", exampleAppID)
		}
		if l.Port == PortAuto && l.VID == "" && l.PID == "" && l.SerialNumber == "" && l.PortKeyword == "" {
			add(laneKey(i, "port"), "\"auto\" with nothing to recognise the terminal by: set vid and pid (as \"posbridge ports\" lists them), serial_number or port_keyword, or name the port (/dev/posbridge-terminal, COM3)")
		}
	}
}

func isLoopbackURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
