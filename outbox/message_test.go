package outbox_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posbridge/posbridge/outbox"
)

func TestDecode_Refuses(t *testing.T) {
	good := func() map[string]any {
		return map[string]any{"schema": 1, "id": "t1:3", "merchant": "acme", "store": "dxb01", "till": "t1", "seq": 3,
			"type": "payment", "at": "2026-01-02T03:04:05Z", "order": map[string]any{"order_no": "A1", "version": 1}}
	}
	tests := []struct {
		name   string
		change func(m map[string]any)
		want   error
	}{
		{"OK", func(map[string]any) {}, nil},
		{"FutureSchema", func(m map[string]any) { m["schema"] = 2 }, outbox.ErrSchema},
		{"NoSchema", func(m map[string]any) { delete(m, "schema") }, outbox.ErrSchema},
		{"IDNotTillSeq", func(m map[string]any) { m["id"] = "t2:3" }, errAny},
		{"ZeroSeq", func(m map[string]any) { m["seq"], m["id"] = 0, "t1:0" }, errAny},
		{"DottedTill", func(m map[string]any) { m["till"], m["id"] = "t.1", "t.1:3" }, outbox.ErrBadToken},
		{"UnknownType", func(m map[string]any) { m["type"] = "lane" }, errAny},
		{"NoOrder", func(m map[string]any) { delete(m, "order") }, errAny},
		{"RefundWithoutRefund", func(m map[string]any) { m["type"] = "refund" }, errAny},
		{"Status", func(m map[string]any) {
			m["type"], m["id"], m["seq"], m["status"] = "status", "t1:status", 0, map[string]any{"backlog": 3}
			delete(m, "order")
		}, nil},
		{"StatusWithOrder", func(m map[string]any) {
			m["type"], m["id"], m["seq"], m["status"] = "status", "t1:status", 0, map[string]any{"backlog": 3}
		}, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := good()
			tt.change(m)
			b, _ := json.Marshal(m)
			_, err := outbox.Decode(b)
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("Decode: %v", err)
			case tt.want == errAny && err == nil, tt.want != nil && tt.want != errAny && !errors.Is(err, tt.want):
				t.Fatalf("Decode err = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := outbox.Decode(make([]byte, outbox.MaxMessageSize+1)); err == nil {
		t.Error("an oversized message was decoded")
	}
}

var errAny = errors.New("any error")

// FuzzDecode: a message from the stream never panics the consumer, and what
// it accepts is a well-formed event.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"schema":1,"id":"t1:3","merchant":"a","store":"b","till":"t1","seq":3,"type":"payment","order":{"order_no":"A1","version":1}}`))
	f.Add([]byte(`{"schema":1,"type":"refund","refund":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := outbox.Decode(b)
		if err != nil {
			return
		}
		if m.Type == outbox.TypeStatus {
			if m.Status == nil || m.Order != nil {
				t.Fatalf("accepted a malformed status: %+v", m)
			}
			return
		}
		if m.Order == nil || m.Seq <= 0 || m.ID != outbox.MsgID(m.Till, m.Seq) {
			t.Fatalf("accepted a malformed message: %+v", m)
		}
	})
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		n    int
		want time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {6, 30 * time.Second}, {1000, 30 * time.Second}}
	for _, tt := range tests {
		if got := outbox.Backoff(tt.n, time.Second, 30*time.Second); got != tt.want {
			t.Errorf("Backoff(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
}

func TestCheckStream(t *testing.T) {
	tests := []struct {
		name     string
		subjects []string
		dups     time.Duration
		ok       bool
	}{
		{"Created", outbox.StreamConfig("S", "posbridge").Subjects, time.Hour, true},
		{"ThisMerchant", []string{"posbridge.acme.>"}, time.Minute, true},
		{"PerType", []string{"posbridge.*.*.*.payment", "posbridge.*.*.*.refund", "posbridge.*.*.*.status"}, time.Minute, true},
		{"PaymentsOnly", []string{"posbridge.*.*.*.payment"}, time.Minute, false},
		{"OtherMerchant", []string{"posbridge.other.>"}, time.Minute, false},
		{"OtherPrefix", []string{"chain.>"}, time.Minute, false},
		{"NoDuplicateWindow", []string{"posbridge.>"}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := outbox.CheckStream(jetstream.StreamConfig{Name: "S", Subjects: tt.subjects, Duplicates: tt.dups}, "posbridge", till)
			if (err == nil) != tt.ok {
				t.Errorf("CheckStream = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestIdentity_Validate(t *testing.T) {
	for _, id := range []outbox.Identity{{"", "s", "t"}, {"m", "s.1", "t"}, {"m", "s", "t*"}, {"m", "s", "t >"}} {
		if err := id.Validate(); !errors.Is(err, outbox.ErrBadToken) {
			t.Errorf("Validate(%+v) = %v, want ErrBadToken", id, err)
		}
	}
	if err := outbox.CheckPrefix("chain..events"); err == nil {
		t.Error("CheckPrefix accepted an empty token")
	}
}
