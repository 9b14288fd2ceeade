package main

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/posbridge/posbridge/gateway/sandbox"
)

// demoCloudTerminal is the serial number of the demo's cloud lane.
const demoCloudTerminal = "DEMO-CLOUD-1"

// demoSerialTerminalSN names the demo's serial lane's terminal at CodePay,
// so that it can be settled (posbridge day settle --lane 1).
const demoSerialTerminalSN = "DEMO-SERIAL-1"

// demoQRTimers are a demo QR lane's timers (zero: the lane's defaults).
type demoQRTimers struct {
	Wait, PollEvery, Expiry time.Duration
}

// demoPlace is where a demo's daemon finds the rest of the demo.
type demoPlace struct {
	cfgPath string // demo.toml, in the demo's directory
	listen  string // the API's address
	port    string // the simulated terminal's port ("auto": in memory)
	sbURL   string // the gateway sandbox's base URL
	sb      *sandbox.Sandbox
	natsURL string // the fleet's NATS server; empty without --fleet
}

// demoConfig is the config of a demo's daemon as demo.toml says it (paths
// relative to the demo's directory, no defaults that depend on other keys):
// the sandbox is its gateway, the simulated terminal its lane "1", and, as
// the gateway allows, a cloud lane and a QR lane. demoConfigText writes it
// for the other commands (posbridge day close --config DIR/demo.toml);
// finishDemoConfig makes it what the daemon runs, as LoadConfig would.
func demoConfig(s demoSetup, at demoPlace) *Config {
	c := defaultConfig()
	c.path = at.cfgPath
	c.API.Listen = at.listen
	c.Notify.Listen = "127.0.0.1:0"
	c.Store.Path = "demo.db"
	g := &c.Gateway
	g.Timeout = Duration(5 * time.Second)
	switch s.gateway {
	case "codepay":
		g.Kind, g.BaseURL, g.AppID, g.MerchantNo, g.StoreNo = "codepay", at.sbURL, at.sb.CodePayAppID(), at.sb.CodePayMerchantNo(), "demo"
		g.MerchantPrivateKey, g.GatewayPublicKey = sandbox.MerchantPrivateKeyFile, sandbox.GatewayPublicKeyFile
	case "payprotocol":
		g.Kind, g.BaseURL, g.PageURL = "payprotocol", at.sbURL+sandbox.PayProtocolAPIPath, at.sbURL
		g.APIKey, g.APISecretFile, g.ChainID = sandbox.DefaultPayProtocolKey, demoPayProtocolSecretFile, 1
	default:
		g.Kind, g.BaseURL, g.PartnerID = "payby", at.sbURL+"/sgs/api", at.sb.PartnerID()
		g.MerchantPrivateKey, g.GatewayPublicKey = sandbox.MerchantPrivateKeyFile, sandbox.GatewayPublicKeyFile
	}
	lane := LaneConfig{ID: "1", Port: at.port, AppID: "demo", SaleTimeout: Duration(s.saleTimeout)}
	if s.gateway == "codepay" {
		lane.TerminalSN = demoSerialTerminalSN
	}
	c.Lanes = append(c.Lanes, lane)
	if s.gateway == "codepay" {
		// No cable: its sales go through the sandbox's cloud API.
		c.Lanes = append(c.Lanes, LaneConfig{ID: "cloud", Mode: LaneCloud, TerminalSN: demoCloudTerminal})
	}
	if hostedGatewayKinds[s.gateway] {
		// The customer pays on the sandbox's payment page.
		qr := LaneConfig{ID: "qr", Mode: LaneQR}
		if t := s.qrTimers; t != nil {
			qr.QRWait, qr.PollEvery, qr.QRExpiry = Duration(t.Wait), Duration(t.PollEvery), Duration(t.Expiry)
		}
		c.Lanes = append(c.Lanes, qr)
	}
	if at.natsURL != "" {
		o := &c.Outbox
		o.Kind, o.URL, o.Merchant, o.Store, o.Till = "nats", at.natsURL, "demo", "demo-shop", "demo-till-1"
	}
	return c
}

// finishDemoConfig does to c what LoadConfig does after reading a file:
// relative paths resolved against demo.toml's directory, the POSBRIDGE_*
// environment, the defaults that depend on other keys.
func finishDemoConfig(c *Config) {
	c.resolvePaths()
	c.applyEnv(os.LookupEnv)
	c.applyLaneDefaults()
}

// demoConfigText is c as a config file: every key whose value is not the
// default, [reconcile] left out (a demo's shortened one is not the file's).
func demoConfigText(c *Config) string {
	var b strings.Builder
	b.WriteString("# Written by \"posbridge demo\": a working config for a sandbox gateway and a\n" +
		"# simulated terminal. A real one is in packaging/posbridge.example.toml.\n")
	cv, def := reflect.ValueOf(c).Elem(), reflect.ValueOf(defaultConfig()).Elem()
	for i := 0; i < cv.NumField(); i++ {
		name := cv.Type().Field(i).Tag.Get("toml")
		switch name {
		case "", "reconcile":
		case "lane":
			for _, l := range c.Lanes {
				b.WriteString("[[lane]]\n")
				writeKeys(&b, reflect.ValueOf(l), reflect.ValueOf(LaneConfig{}))
			}
		default:
			var keys strings.Builder
			writeKeys(&keys, cv.Field(i), def.Field(i))
			if keys.Len() > 0 {
				fmt.Fprintf(&b, "[%s]\n%s", name, keys.String())
			}
		}
	}
	return b.String()
}

// writeKeys writes the fields of the section v that differ from def.
func writeKeys(b *strings.Builder, v, def reflect.Value) {
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		if f.Anonymous {
			writeKeys(b, v.Field(i), def.Field(i))
			continue
		}
		key := f.Tag.Get("toml")
		if key == "" || reflect.DeepEqual(v.Field(i).Interface(), def.Field(i).Interface()) {
			continue
		}
		fmt.Fprintf(b, "%s = %s\n", key, tomlValue(v.Field(i).Interface()))
	}
}

// tomlValue writes x, a value the demo sets, in TOML.
func tomlValue(x any) string {
	switch x := x.(type) {
	case string:
		return strconv.Quote(x)
	case Duration:
		return strconv.Quote(x.Std().String())
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return strconv.Quote(fmt.Sprint(x))
}
