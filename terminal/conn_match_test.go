package terminal

import (
	"log/slog"
	"testing"
)

// A late answer to a query that already timed out carries that query's
// request_id. A newer query for the same order must not take it through the
// order-number fallback: the late answer could say "not charged" from
// before the customer tapped, hiding an approval.
func TestDeliver_LateAnswerDoesNotReachANewerRequest(t *testing.T) {
	tests := []struct {
		name      string
		requestID string
		want      bool
	}{
		{"answer to an older request", "Q1", false},
		{"answer to this request", "Q2", true},
		{"answer without a request_id (old firmware)", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Conn{log: slog.New(slog.DiscardHandler), waiters: map[*waiter]struct{}{}}
			w := &waiter{requestID: "Q2", topic: TopicQuery, orderNo: "ORDER1", ch: make(chan Message, 1)}
			c.waiters[w] = struct{}{}
			p, err := EncodeMessage(Message{Topic: TopicQuery, RequestID: tt.requestID, ResponseCode: "0",
				Biz: BizData{MerchantOrderNo: "ORDER1", TransStatus: "1"}})
			if err != nil {
				t.Fatal(err)
			}
			c.deliver(p)
			got := len(w.ch) == 1
			if got != tt.want {
				t.Fatalf("delivered to the waiting request: %v, want %v", got, tt.want)
			}
		})
	}
}
