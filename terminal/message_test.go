package terminal

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/posbridge/posbridge"
)

func mustMessageFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "messages", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestDecodeMessage_Fixtures(t *testing.T) {
	for _, tt := range []struct {
		fixture   string
		wantErr   error
		requestID string
		code      string
		status    string
		orderNo   string
		outcome   posbridge.Outcome
	}{
		{fixture: "approved-documented.json", requestID: "9f2c4e6a0b1d4c7e8a3b5d7f9e1c2a4b", code: "000", status: "2", orderNo: "ECR000123", outcome: posbridge.OutcomeApproved},
		{fixture: "approved-code-0-numbers.json", requestID: "r1", code: "000", status: "2", orderNo: "ECR000123", outcome: posbridge.OutcomeApproved},
		{fixture: "canceled-110.json", requestID: "r2", code: "110", status: "1", orderNo: "ECR000124", outcome: posbridge.OutcomeCanceledByUser},
		{fixture: "bad-amount-202.json", requestID: "r3", code: "202", outcome: posbridge.OutcomeDeclined},
		{fixture: "missing-biz-data.json", requestID: "r4", code: "999", outcome: posbridge.OutcomeUnknown},
		{fixture: "missing-request-id.json", code: "000", status: "0", orderNo: "ECR000125", outcome: posbridge.OutcomeUnknown},
		{fixture: "biz-data-wrong-types.json", requestID: "r6", code: "108", outcome: posbridge.OutcomeUnknown},
		{fixture: "invalid-json.json", wantErr: errors.New("any")},
		{fixture: "protobuf-era.json", wantErr: ErrNotJSON},
	} {
		t.Run(tt.fixture, func(t *testing.T) {
			m, err := DecodeMessage(mustMessageFixture(t, tt.fixture))
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("decoded %+v, want an error", m)
				}
				if errors.Is(tt.wantErr, ErrNotJSON) && !errors.Is(err, ErrNotJSON) {
					t.Fatalf("err %v, want ErrNotJSON", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := resultOf(m, SaleOutcome(m))
			if m.RequestID != tt.requestID || r.Code != tt.code || m.Biz.TransStatus != tt.status || m.Biz.MerchantOrderNo != tt.orderNo || r.Outcome != tt.outcome {
				t.Fatalf("got request_id %q code %q status %q order %q outcome %q", m.RequestID, r.Code, m.Biz.TransStatus, m.Biz.MerchantOrderNo, r.Outcome)
			}
		})
	}
}

func TestSaleOutcome(t *testing.T) {
	for _, tt := range []struct {
		code, status string
		want         posbridge.Outcome
	}{
		{"000", "2", posbridge.OutcomeApproved},
		{"0", "2", posbridge.OutcomeApproved},
		{"000", "4", posbridge.OutcomeApproved},
		{"000", "", posbridge.OutcomeApproved},
		{"103", "", posbridge.OutcomeApproved},
		{"000", "1", posbridge.OutcomeDeclined},
		{"000", "0", posbridge.OutcomeUnknown},
		{"000", "9", posbridge.OutcomeUnknown},
		{"000", "3", posbridge.OutcomeUnknown},
		{"110", "1", posbridge.OutcomeCanceledByUser},
		{"102", "1", posbridge.OutcomeDeclined},
		{"106", "", posbridge.OutcomeDeclined},
		{"111", "1", posbridge.OutcomeDeclined},
		{"115", "1", posbridge.OutcomeDeclined},
		{"121", "", posbridge.OutcomeDeclined},
		{"202", "1", posbridge.OutcomeDeclined},
		{"101", "", posbridge.OutcomeUnknown},
		{"107", "1", posbridge.OutcomeUnknown},
		{"108", "", posbridge.OutcomeUnknown},
		{"109", "1", posbridge.OutcomeUnknown},
		{"112", "1", posbridge.OutcomeUnknown},
		{"113", "1", posbridge.OutcomeUnknown},
		{"201", "", posbridge.OutcomeUnknown},
		{"999", "1", posbridge.OutcomeUnknown},
		{"777", "1", posbridge.OutcomeUnknown},
		{"", "", posbridge.OutcomeUnknown},
		{"SUCCESS", "2", posbridge.OutcomeUnknown},
	} {
		m := Message{ResponseCode: tt.code, Biz: BizData{TransStatus: tt.status}}
		if got := SaleOutcome(m); got != tt.want {
			t.Errorf("code %q status %q: %q, want %q", tt.code, tt.status, got, tt.want)
		}
	}
}

func TestQueryOutcome(t *testing.T) {
	for _, tt := range []struct {
		code, status string
		want         posbridge.Outcome
	}{
		{"000", "2", posbridge.OutcomeApproved},
		{"000", "4", posbridge.OutcomeApproved},
		{"103", "", posbridge.OutcomeApproved},
		{"000", "1", posbridge.OutcomeDeclined},
		{"000", "3", posbridge.OutcomeDeclined},
		{"104", "", posbridge.OutcomeDeclined},
		{"000", "0", posbridge.OutcomeUnknown},
		{"000", "", posbridge.OutcomeUnknown},
		{"109", "2", posbridge.OutcomeUnknown},
	} {
		m := Message{ResponseCode: tt.code, Biz: BizData{TransStatus: tt.status}}
		if got := QueryOutcome(m); got != tt.want {
			t.Errorf("code %q status %q: %q, want %q", tt.code, tt.status, got, tt.want)
		}
	}
}

func FuzzDecodeMessage(f *testing.F) {
	entries, err := os.ReadDir(filepath.Join("testdata", "messages"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		f.Add(mustMessageFixture(f, e.Name()))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err != nil {
			return
		}
		_ = SaleOutcome(m)
		_ = QueryOutcome(m)
		// Encoding normalises (invalid UTF-8); after that, a round trip is stable.
		enc, err := EncodeMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		m1, err := DecodeMessage(enc)
		if err != nil {
			t.Fatalf("re-decode %s: %v", enc, err)
		}
		enc2, _ := EncodeMessage(m1)
		m2, err := DecodeMessage(enc2)
		if err != nil || !reflect.DeepEqual(m1, m2) {
			t.Fatalf("round trip unstable:\n%+v\n%+v (%v)", m1, m2, err)
		}
	})
}

func BenchmarkDecodeMessage(b *testing.B) {
	p := mustMessageFixture(b, "approved-documented.json")
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if _, err := DecodeMessage(p); err != nil {
			b.Fatal(err)
		}
	}
}
