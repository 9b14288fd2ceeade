package terminal_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/terminal"
)

func TestRedactCardNumbers(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"card_no":"4111111111111111"}`, `{"card_no":"************1111"}`},
		{`{"card_no":"411111******1111","x":"4111111111111111"}`, `{"card_no":"************1111","x":"4111111111111111"}`},
		{`{"cardNo": "5555 5555 5555 4444"}`, `{"cardNo": "**** **** **** 4444"}`},
		{`{"merchant_order_no":"200001010000000001WT6MRMgup0"}`, `{"merchant_order_no":"200001010000000001WT6MRMgup0"}`},
		{`{"card_no":"123"}`, `{"card_no":"123"}`},
	} {
		if got := string(terminal.RedactCardNumbers([]byte(tt.in))); got != tt.want {
			t.Errorf("RedactCardNumbers(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestConn_Trace: with Config.Trace the driver writes every frame in and
// out as hex, the card number of the sale's answer redacted.
func TestConn_Trace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		cfg := testConfig(nil)
		cfg.Trace = &buf
		conn, _, _ := openPipeConn(t, cfg, simConfig())
		r, err := conn.Sale(context.Background(), posbridge.Sale{OrderNo: "TRACE1", Amount: aed(100)})
		if err != nil || r.Outcome != posbridge.OutcomeApproved {
			t.Fatalf("sale: %+v, %v", r, err)
		}
		conn.Close()
		var out, in, redacted int
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			f := strings.Fields(line)
			if len(f) < 3 {
				t.Fatalf("trace line %q", line)
			}
			b, err := hex.DecodeString(f[2])
			if err != nil {
				t.Fatalf("trace line %q: %v", line, err)
			}
			if _, _, err := terminal.DecodeFrame(b, terminal.MaxPayload); err != nil {
				t.Fatalf("trace line %q is no frame: %v", line, err)
			}
			if strings.Contains(string(b), "411111") {
				t.Fatalf("card number in the trace: %s", b)
			}
			switch f[1] {
			case "out":
				out++
			case "in":
				in++
			}
			if len(f) == 4 && f[3] == "redacted" {
				redacted++
			}
		}
		if !strings.HasPrefix(strings.Fields(buf.String())[2], "55aa01") {
			t.Fatalf("first frame is not the handshake: %s", buf.String())
		}
		if out < 2 || in < 2 || redacted != 1 {
			t.Fatalf("%d out, %d in, %d redacted:\n%s", out, in, redacted, buf.String())
		}
	})
}
