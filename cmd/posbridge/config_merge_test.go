package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dropInBase is a valid main config; drop-ins and variables change it.
const dropInBase = `[gateway]
base_url = "https://uat.test2pay.com/sgs/api"
partner_id = "200000000123"
merchant_private_key = "merchant.pem"
gateway_public_key = "gateway.pem"

[[lane]]
id = "1"
port = "auto"
vid = "1a86"
app_id = "P1"
`

// mustDropInConfig writes dropInBase (and the test keys) as posbridge.toml in
// a temp dir and the given drop-ins in posbridge.d, and returns its path.
func mustDropInConfig(t *testing.T, dropIns map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	copyTestKeys(t, dir)
	path := filepath.Join(dir, "posbridge.toml")
	mustWrite(t, path, dropInBase)
	if err := os.Mkdir(DropInDir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range dropIns {
		mustWrite(t, filepath.Join(DropInDir(path), name), text)
	}
	return path
}

func TestLoadConfig_DropIns(t *testing.T) {
	for _, tt := range []struct {
		name    string
		dropIns map[string]string
		env     map[string]string
		check   func(t *testing.T, c *Config)
		want    []wantErr
		inFile  []string // the drop-in (or "$VARIABLE") each mistake must name
	}{
		{
			name:    "LaterFileWins",
			dropIns: map[string]string{"10-shop.toml": "[gateway]\ntimeout = \"5s\"\n", "20-till.toml": "[gateway]\ntimeout = \"7s\"\n"},
			check: func(t *testing.T, c *Config) {
				if got := c.Gateway.Timeout.Std().String(); got != "7s" {
					t.Errorf("timeout = %s, want 7s from 20-till.toml", got)
				}
				if c.Gateway.PartnerID != "200000000123" {
					t.Errorf("partner_id = %q: a drop-in that does not set it changed it", c.Gateway.PartnerID)
				}
			},
		},
		{
			name:    "LaneByID",
			dropIns: map[string]string{"50-till.toml": "[[lane]]\nid = \"1\"\nport = \"/dev/posbridge-terminal\"\n\n[[lane]]\nid = \"2\"\nport = \"auto\"\nvid = \"1a86\"\napp_id = \"P2\"\n"},
			check: func(t *testing.T, c *Config) {
				if len(c.Lanes) != 2 || c.Lanes[0].Port != "/dev/posbridge-terminal" || c.Lanes[0].AppID != "P1" || c.Lanes[1].ID != "2" {
					t.Errorf("lanes = %+v, want lane 1's port changed (its app_id kept) and lane 2 added", c.Lanes)
				}
				if c.Lanes[1].Baud != DefaultLaneBaud {
					t.Errorf("added lane baud = %d, want the default", c.Lanes[1].Baud)
				}
			},
			want:   []wantErr{{3, "lane[1].port", "does not exist"}},
			inFile: []string{"50-till.toml"},
		},
		{
			name:    "MistakeNamesItsFile",
			dropIns: map[string]string{"10-a.toml": "[gateway]\n\ntimeout = \"soon\"\n", "20-b.toml": "[api]\nlisten = \"nowhere\"\n"},
			want:    []wantErr{{3, "gateway.timeout", `bad duration "soon"`}, {2, "api.listen", "want host:port"}},
			inFile:  []string{"10-a.toml", "20-b.toml"},
		},
		{
			name:    "UnknownKeyInDropIn",
			dropIns: map[string]string{"10-a.toml": "[gateway]\nretries = 3\n"},
			want:    []wantErr{{2, "gateway.retries", "unknown key"}},
			inFile:  []string{"10-a.toml"},
		},
		{
			name:    "DuplicateLaneAcrossFiles",
			dropIns: map[string]string{"10-a.toml": "[[lane]]\nport = \"auto\"\nvid = \"1a86\"\napp_id = \"P2\"\nid = \"1\"\n"},
			check: func(t *testing.T, c *Config) {
				if len(c.Lanes) != 1 {
					t.Errorf("lanes = %+v, want the drop-in to change lane 1", c.Lanes)
				}
			},
		},
		{
			name:    "OtherFilesIgnored",
			dropIns: map[string]string{"10-a.toml.dpkg-dist": "garbage [", ".20-b.toml": "garbage [", "README": "x"},
		},
		{
			name: "Environment",
			env: map[string]string{
				"POSBRIDGE_API_TOKEN": strings.Repeat("k", 40), "POSBRIDGE_API_LISTEN": "0.0.0.0:8080",
				"POSBRIDGE_LANE_1_PORT": "/dev/pts/does-not-exist", "POSBRIDGE_GATEWAY_RATE_LIMIT": "2.5",
				"POSBRIDGE_METRICS_LISTEN": "127.0.0.1:9464",
			},
			check: func(t *testing.T, c *Config) {
				if c.API.Token != strings.Repeat("k", 40) || c.API.Listen != "0.0.0.0:8080" || c.Gateway.RateLimit != 2.5 || c.Metrics.Listen != "127.0.0.1:9464" {
					t.Errorf("config = %+v %+v %+v, want the variables' values", c.API, c.Gateway, c.Metrics)
				}
			},
			want:   []wantErr{{0, "lane[1].port", "does not exist"}},
			inFile: []string{"$POSBRIDGE_LANE_1_PORT"},
		},
		{
			name:   "EnvironmentMistake",
			env:    map[string]string{"POSBRIDGE_GATEWAY_TIMEOUT": "soon", "POSBRIDGE_LANE_1_BAUD": "fast"},
			want:   []wantErr{{0, "gateway.timeout", `bad duration "soon"`}, {0, "lane[1].baud", "not a whole number"}},
			inFile: []string{"$POSBRIDGE_GATEWAY_TIMEOUT", "$POSBRIDGE_LANE_1_BAUD"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := mustDropInConfig(t, tt.dropIns)
			c, err := loadConfig(path, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
			got := c.Check()
			if len(got) != len(tt.want) {
				t.Fatalf("Check() = %d mistakes, want %d:\n%v", len(got), len(tt.want), ConfigErrors(got))
			}
			for i, w := range tt.want {
				file := tt.inFile[i]
				if !strings.HasPrefix(file, "$") {
					file = filepath.Join(DropInDir(path), file)
				}
				if g := got[i]; g.File != file || g.Line != w.line || g.Key != w.key || !strings.Contains(g.Message, w.msg) {
					t.Errorf("mistake %d = %q, want %s:%d: %s: ...%s...", i, g.Error(), file, w.line, w.key, w.msg)
				}
			}
		})
	}
}

func TestEnvName(t *testing.T) {
	for _, tt := range []struct{ section, lane, key, want string }{
		{"api", "", "token", "POSBRIDGE_API_TOKEN"},
		{"gateway", "", "partner_id", "POSBRIDGE_GATEWAY_PARTNER_ID"},
		{"lane", "1", "port", "POSBRIDGE_LANE_1_PORT"},
		{"lane", "front-desk", "app_id", "POSBRIDGE_LANE_FRONT_DESK_APP_ID"},
	} {
		if got := envName(tt.section, tt.lane, tt.key); got != tt.want {
			t.Errorf("envName(%q, %q, %q) = %q, want %q", tt.section, tt.lane, tt.key, got, tt.want)
		}
	}
}
