package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.bug.st/serial"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/terminal"
)

// rawClient is an independent ECRHub client written from the public protocol
// description (research §1), not from the terminal package.
type rawClient struct {
	t    *testing.T
	port serial.Port
	buf  []byte
}

func rawFrame(typ, ack, id byte, p []byte) []byte {
	f := []byte{0x55, 0xAA, typ, ack, id, byte(len(p) >> 8), byte(len(p))}
	f = append(f, p...)
	var x byte
	for _, c := range f[2:] {
		x ^= c
	}
	return append(f, x, 0xCC, 0x33)
}

type rawIn struct {
	typ, ack, id byte
	payload      []byte
}

// next returns the next well-formed frame, skipping anything else.
func (c *rawClient) next(deadline time.Time) rawIn {
	c.t.Helper()
	tmp := make([]byte, 256)
	for {
		for len(c.buf) >= 2 && !(c.buf[0] == 0x55 && c.buf[1] == 0xAA) {
			c.buf = c.buf[1:]
		}
		if len(c.buf) >= 7 {
			n := int(c.buf[5])<<8 | int(c.buf[6])
			if len(c.buf) >= n+10 {
				f := c.buf[:n+10]
				c.buf = c.buf[n+10:]
				var x byte
				for _, b := range f[2 : 7+n] {
					x ^= b
				}
				if x == f[7+n] && f[8+n] == 0xCC && f[9+n] == 0x33 {
					return rawIn{f[2], f[3], f[4], append([]byte(nil), f[7:7+n]...)}
				}
				continue
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatal("no frame from the simulated terminal in time")
		}
		n, err := c.port.Read(tmp)
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		c.buf = append(c.buf, tmp[:n]...)
	}
}

func (c *rawClient) write(b []byte) {
	c.t.Helper()
	if _, err := c.port.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// request sends one data frame and returns the decoded response, ACKing
// every data frame it receives.
func (c *rawClient) request(id byte, msg string) map[string]any {
	c.t.Helper()
	c.write(rawFrame(0, 0, id, []byte(msg)))
	deadline := time.Now().Add(10 * time.Second)
	acked := false
	for {
		f := c.next(deadline)
		if f.typ != 0 {
			continue
		}
		if f.ack == id {
			acked = true
		}
		if f.id == 0 {
			continue
		}
		c.write(rawFrame(0, f.id, 0, nil))
		var m map[string]any
		if err := json.Unmarshal(f.payload, &m); err != nil {
			c.t.Fatalf("response %q: %v", f.payload, err)
		}
		if !acked {
			c.t.Fatalf("response before the ACK of id %d", id)
		}
		return m
	}
}

func TestSimulateTerminal_IndependentClient(t *testing.T) {
	link := filepath.Join(t.TempDir(), "codepay")
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	m := &Main{Stdout: io.Discard, Stderr: &stderr}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, []string{"simulate", "terminal", "--link", link}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("simulate returned %v", err)
		}
	}()
	for i := 0; ; i++ {
		if _, err := os.Stat(link); err == nil {
			break
		}
		if i > 500 {
			t.Fatalf("no link at %s; stderr: %s", link, stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	port, err := serial.Open(link, &serial.Mode{BaudRate: 115200, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	if err := port.SetReadTimeout(50 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	c := &rawClient{t: t, port: port}

	hs, _ := hex.DecodeString("55AA010000000001CC33")
	c.write(hs)
	for f := c.next(time.Now().Add(5 * time.Second)); f.typ != 2; f = c.next(time.Now().Add(5 * time.Second)) {
	}

	sale := `{"topic":"ecrhub.pay.order","request_id":"r-1","app_id":"A1","biz_data":{"trans_type":"1","merchant_order_no":"IND001","order_amount":"26.25","price_currency":"AED","confirm_on_terminal":false}}`
	r := c.request(1, sale)
	biz, _ := r["biz_data"].(map[string]any)
	if r["request_id"] != "r-1" || r["response_code"] != "000" || biz["trans_status"] != "2" || biz["merchant_order_no"] != "IND001" {
		t.Fatalf("sale response %v", r)
	}

	r = c.request(2, `{"topic":"ecrhub.pay.query","request_id":"r-2","app_id":"A1","biz_data":{"merchant_order_no":"IND001"}}`)
	biz, _ = r["biz_data"].(map[string]any)
	if r["request_id"] != "r-2" || r["response_code"] != "000" || biz["trans_status"] != "2" || biz["order_amount"] != "26.25" {
		t.Fatalf("query response %v", r)
	}

	r = c.request(3, `{"topic":"ecrhub.pay.order","request_id":"r-3","app_id":"A1","biz_data":{"trans_type":"1","merchant_order_no":"IND001","order_amount":"26.25","price_currency":"AED"}}`)
	if r["request_id"] != "r-3" || r["response_code"] != "113" {
		t.Fatalf("duplicate sale response %v, want 113", r)
	}
}

func TestSimulate_Usage(t *testing.T) {
	for _, args := range [][]string{{"simulate"}, {"simulate", "terminal"}, {"simulate", "gateway"}, {"ports", "extra"}} {
		var out bytes.Buffer
		m := &Main{Stdout: &out, Stderr: &out}
		if err := m.Run(context.Background(), args); !errors.Is(err, errUsage) {
			t.Errorf("Run(%q) = %v, want errUsage", args, err)
		}
	}
	bad := filepath.Join(t.TempDir(), "script.json")
	os.WriteFile(bad, []byte(`{"default":{"action":"explode"}}`), 0o600)
	m := &Main{Stdout: io.Discard, Stderr: io.Discard}
	err := m.Run(context.Background(), []string{"simulate", "terminal", "--link", filepath.Join(t.TempDir(), "l"), "--script", bad})
	if err == nil || errors.Is(err, errUsage) {
		t.Fatalf("bad script: %v, want a clear error", err)
	}
}

func TestPorts_Runs(t *testing.T) {
	var out bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &out}
	if err := m.Run(context.Background(), []string{"ports"}); err != nil {
		t.Fatalf("ports: %v", err)
	}
	if out.Len() == 0 {
		t.Fatal("ports printed nothing")
	}
}

// TestSimulateTerminal_Sandbox runs the simulated terminal against a
// sandbox reached only through its control URL, as a separate process
// would, and checks that the sandbox learned of the money before the
// terminal answered, and of nothing for a decline it never charged.
func TestSimulateTerminal_Sandbox(t *testing.T) {
	dir := t.TempDir()
	keys, err := sandbox.LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(sandbox.Config{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	sbURL, stopSB, err := serveLoopback(sb.Handler())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopSB(context.Background()); sb.Close() })

	script := filepath.Join(dir, "script.json")
	os.WriteFile(script, []byte(`{"default":{"action":"approve","delay":"50ms"},"orders":{"SBX2":{"action":"cancel"}},"personality":{"keys":"snake","silent_close":true}}`), 0o600)
	link := filepath.Join(dir, "codepay")
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	m := &Main{Stdout: io.Discard, Stderr: &stderr}
	done := make(chan error, 1)
	go func() {
		done <- m.Run(ctx, []string{"simulate", "terminal", "--link", link, "--script", script, "--sandbox", sbURL, "--heartbeat", "1s"})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("simulate returned %v", err)
		}
	}()
	for i := 0; ; i++ {
		if _, err := os.Stat(link); err == nil {
			break
		}
		if i > 500 {
			t.Fatalf("no link at %s; stderr: %s", link, stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	conn, err := terminal.Open(terminal.Config{Port: link, AppID: "A1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	aed := posbridge.Money{Minor: 4200, Currency: "AED"}
	r, err := conn.Sale(context.Background(), posbridge.Sale{OrderNo: "SBX1", Amount: aed})
	if err != nil || r.Outcome != posbridge.OutcomeApproved {
		t.Fatalf("sale: %+v, %v", r, err)
	}
	if o, ok := sb.Order("SBX1"); !ok || o.Status != sandbox.StatusPaid {
		t.Fatalf("sandbox order after the approved sale: %+v %v", o, ok)
	}
	r, err = conn.Sale(context.Background(), posbridge.Sale{OrderNo: "SBX2", Amount: aed})
	if err != nil || r.Outcome != posbridge.OutcomeCanceledByUser {
		t.Fatalf("canceled sale: %+v, %v", r, err)
	}
	if got := sb.Charges(); got["SBX1"] != 1 || got["SBX2"] != 0 {
		t.Fatalf("sandbox charges %v", got)
	}

	for _, bad := range []string{"ftp://x", "not a url", ""} {
		if _, err := sandboxControlURL(bad); err == nil {
			t.Errorf("sandboxControlURL(%q) accepted", bad)
		}
	}
	for in, want := range map[string]string{"http://h:1": "http://h:1/_sandbox", "http://h:1/_sandbox/": "http://h:1/_sandbox"} {
		if got, err := sandboxControlURL(in); err != nil || got != want {
			t.Errorf("sandboxControlURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
