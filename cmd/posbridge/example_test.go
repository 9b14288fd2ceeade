package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/terminal/termsim"
	"github.com/posbridge/posbridge/ui"
)

// TestExample_PosClient runs examples/pos-client against the real daemon
// (store, engine, API, termsim on a pty, the PayBy sandbox), so the example a
// POS developer copies cannot rot. The customer takes longer than the
// client's HTTP timeout, so the client must retry with the same
// Idempotency-Key; the API is then cut under its event stream, so it must
// resume with since=; it must end on the cashier message of one payment,
// charged once.
func TestExample_PosClient(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "pos-client")
	build := exec.Command("go", "build", "-o", bin, "../../examples/pos-client")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build examples/pos-client: %v\n%s", err, out)
	}
	logFile, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	d, w, stop, err := startDemoWorld(context.Background(), demoSetup{
		dir: dir, listen: "127.0.0.1:0", logger: slog.New(slog.NewTextHandler(logFile, nil)),
		script: termsim.Script{Action: termsim.Approve, Delay: 4 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stop(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*browserWait)
	defer cancel()
	// The terminal handshakes in the background; a payment needs it up.
	links := d.Engine.Subscribe(64)
	defer links.Close()
	if ls, _ := d.Engine.Lanes(ctx); len(ls) == 0 || ls[0].Link.State != posbridge.LinkUp {
		waitLink(t, ctx, links, "1", posbridge.LinkUp)
	}

	addr := d.API.Addr()
	cmd := exec.CommandContext(ctx, bin, "-api", d.API.URL(), "-amount", "9.75", "-reference", "receipt-77",
		"-key", "till1-receipt-77", "-timeout", "1s", "-wait", "30s")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	cut := false
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if !cut && strings.HasPrefix(line, "following events from seq") {
			// Cut the API under the client and bring it back on the same
			// address; the engine goes on meanwhile.
			cut = true
			if err := d.API.Close(ctx); err != nil {
				t.Fatalf("close the API: %v", err)
			}
			api := ui.NewServer(d.Engine, ui.Config{Addr: addr, Lanes: []string{"1"}, Logger: d.Logger})
			if err := api.Open(); err != nil {
				t.Fatalf("reopen the API: %v", err)
			}
			d.API = api
		}
	}
	io.Copy(io.Discard, stdout)
	err = cmd.Wait()
	got := out.String()
	t.Logf("pos-client printed:\n%s", got)
	if err != nil {
		t.Fatalf("pos-client: %v", err)
	}
	for _, want := range []string{
		"retrying with the same Idempotency-Key till1-receipt-77",
		"posbridge already had this payment (same Idempotency-Key)",
		"reconnecting with since=",
		"tell the cashier: Payment successful",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("pos-client output lacks %q", want)
		}
	}
	nos := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^(\w+) (at_terminal|verifying|paid)`).FindAllStringSubmatch(got, -1) {
		nos[m[1]] = true
	}
	if len(nos) != 1 {
		t.Fatalf("pos-client followed orders %v, want exactly one", nos)
	}
	for no := range nos {
		if n := w.Sandbox.Charges()[no]; n != 1 {
			t.Errorf("order %s charged %d times, want once", no, n)
		}
	}
	page, err := d.Engine.Payments(ctx, posbridge.OrderFilter{IdempotencyKey: "till1-receipt-77", Limit: 5})
	if err != nil || len(page.Orders) != 1 {
		t.Errorf("orders with the key: %d (%v), want one", len(page.Orders), err)
	}
}
