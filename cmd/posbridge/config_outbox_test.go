package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posbridge/posbridge/outbox"
	"github.com/posbridge/posbridge/outbox/embedded"
)

// goodWithOutbox is testdata/config/good.toml (29 lines) with section, whose
// first line is line 30.
func goodWithOutbox(t *testing.T, section string) (string, []byte) {
	t.Helper()
	path := filepath.Join("testdata", "config", "good.toml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("\n")); n != 29 {
		t.Fatalf("good.toml has %d lines, the line numbers below assume 29", n)
	}
	return path, append(b, section...)
}

func TestConfig_CheckOutbox(t *testing.T) {
	for _, tt := range []struct {
		name    string
		section string
		want    []wantErr
	}{
		{"None", "", nil},
		{"Good", "[outbox]\nkind = \"nats\"\nurl = \"tls://nats.example.com:4222\"\nstore = \"dxb01\"\ntill = \"t3\"\n", nil},
		{"UnknownKind", "[outbox]\nkind = \"kafka\"\n", []wantErr{{31, "outbox.kind", `unknown outbox "kafka"`}}},
		{"MissingURLAndTill", "[outbox]\nkind = \"nats\"\nstore = \"dxb01\"\n",
			[]wantErr{{30, "outbox.url", "missing"}, {30, "outbox.till", "missing"}}},
		{"HTTPURL", "[outbox]\nkind = \"nats\"\nurl = \"https://nats.example.com\"\nstore = \"s\"\ntill = \"t\"\n",
			[]wantErr{{32, "outbox.url", "want nats://"}}},
		{"DottedTill", "[outbox]\nkind = \"nats\"\nurl = \"nats://h:4222\"\nstore = \"s\"\ntill = \"t.3\"\n",
			[]wantErr{{34, "outbox.till", "no '.'"}}},
		{"WildcardPrefix", "[outbox]\nkind = \"nats\"\nurl = \"nats://h:4222\"\nstore = \"s\"\ntill = \"t\"\nsubject_prefix = \"chain.>\"\n",
			[]wantErr{{35, "outbox.subject_prefix", "not a NATS subject token"}}},
		{"MissingCreds", "[outbox]\nkind = \"nats\"\nurl = \"nats://h:4222\"\nstore = \"s\"\ntill = \"t\"\ncreds_file = \"till.creds\"\n",
			[]wantErr{{35, "outbox.creds_file", "no such file"}}},
		{"CertWithoutKey", "[outbox]\nkind = \"nats\"\nurl = \"tls://h:4222\"\nstore = \"s\"\ntill = \"t\"\ntls_cert_file = \"keys/gateway.pem\"\n",
			[]wantErr{{35, "outbox.tls_cert_file", "together"}}},
		{"NegativeBacklog", "[outbox]\nkind = \"nats\"\nurl = \"nats://h:4222\"\nstore = \"s\"\ntill = \"t\"\nmax_backlog = \"-1h\"\n",
			[]wantErr{{35, "outbox.max_backlog", "must be positive"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path, data := goodWithOutbox(t, tt.section)
			got := ParseConfig(path, data).Check()
			if len(got) != len(tt.want) {
				t.Fatalf("Check() = %d mistakes, want %d:\n%v", len(got), len(tt.want), ConfigErrors(got))
			}
			for i, w := range tt.want {
				g := got[i]
				if g.File != path || g.Line != w.line || g.Key != w.key || !strings.Contains(g.Message, w.msg) {
					t.Errorf("mistake %d = %q, want %s:%d: %s: ...%s...", i, g.Error(), path, w.line, w.key, w.msg)
				}
			}
		})
	}
	t.Run("MerchantIsPartnerID", func(t *testing.T) {
		path, data := goodWithOutbox(t, "[outbox]\nkind = \"nats\"\nurl = \"nats://h:4222\"\nstore = \"s\"\ntill = \"t\"\n")
		c := ParseConfig(path, data)
		if id := c.Outbox.identity(c.Gateway.PartnerID); id.Merchant != "200000000123" || c.Outbox.MaxBacklog.Std() != outbox.DefaultMaxBacklog {
			t.Errorf("identity %+v, max_backlog %v; want the partner id and 30 days", id, c.Outbox.MaxBacklog.Std())
		}
	})
}

// `config check --connect` reaches a real server: a missing stream is
// reported as to be created, a stream that cannot take the till's subjects
// and a server that does not answer are mistakes at outbox.url.
func TestMain_ConfigCheckConnect(t *testing.T) {
	srv, err := embedded.Start(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	run := func(t *testing.T, url, stream string) (string, error) {
		t.Helper()
		_, data := goodWithOutbox(t, "[outbox]\nkind = \"nats\"\nurl = \""+url+"\"\nstore = \"s\"\ntill = \"t\"\nstream = \""+stream+"\"\n")
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
			t.Fatal(err)
		}
		copyTestKeys(t, filepath.Join(dir, "keys"))
		path := filepath.Join(dir, "posbridge.toml")
		mustWrite(t, path, string(data))
		var out bytes.Buffer
		m := &Main{Stdout: &out, Stderr: &out}
		err := m.Run(context.Background(), []string{"config", "check", "--connect", path})
		return out.String(), err
	}
	out, err := run(t, srv.URL(), "TILLS")
	if err != nil || !strings.Contains(out, "stream TILLS is missing and will be created") {
		t.Fatalf("missing stream: %v\n%s", err, out)
	}

	nc, err := outbox.Connect(outbox.ConnConfig{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"other.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(context.Background(), outbox.StreamConfig("GOOD", "posbridge")); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, srv.URL(), "GOOD")
	if err != nil || !strings.Contains(out, "stream GOOD takes this till's events") {
		t.Fatalf("good stream: %v\n%s", err, out)
	}
	out, err = run(t, srv.URL(), "OTHER")
	if !errors.Is(err, errConfigMistakes) || !strings.Contains(out, ":32: outbox.url: stream OTHER: its subjects") {
		t.Fatalf("stream on other subjects: %v\n%s", err, out)
	}
	srv.Stop()
	out, err = run(t, srv.URL(), "GOOD")
	if !errors.Is(err, errConfigMistakes) || !strings.Contains(out, "outbox.url: nats: connect") {
		t.Fatalf("server down: %v\n%s", err, out)
	}
}

// The [outbox] keys take environment overrides like every section, so a
// fleet image can set the till's name per machine.
func TestConfig_OutboxFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	_, data := goodWithOutbox(t, "[outbox]\nkind = \"nats\"\nurl = \"nats://h:4222\"\nstore = \"s\"\n")
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	copyTestKeys(t, filepath.Join(dir, "keys"))
	path := filepath.Join(dir, "posbridge.toml")
	mustWrite(t, path, string(data))
	env := map[string]string{"POSBRIDGE_OUTBOX_TILL": "t9", "POSBRIDGE_OUTBOX_MAX_BACKLOG": "48h"}
	c, err := loadConfig(path, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if errs := c.Check(); len(errs) > 0 {
		t.Fatalf("Check: %v", ConfigErrors(errs))
	}
	if c.Outbox.Till != "t9" || c.Outbox.MaxBacklog.Std() != 48*time.Hour {
		t.Errorf("outbox = %+v, want till t9 and 48h from the environment", c.Outbox)
	}
}
