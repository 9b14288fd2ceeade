package ui

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posbridge/posbridge"
)

// wsEvent is a stream message as a client decodes it.
type wsEvent struct {
	Seq     int64        `json:"seq"`
	Type    string       `json:"type"`
	Payment *paymentJSON `json:"payment"`
	Lane    *laneJSON    `json:"lane"`
	Refund  *refundJSON  `json:"refund"`
}

func dialEvents(t *testing.T, s *Server, query string, header http.Header) *websocket.Conn {
	t.Helper()
	c, res, err := websocket.DefaultDialer.Dial("ws://"+s.Addr()+"/api/v1/events"+query, header)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("dial events%s: %v (status %d)", query, err, status)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readEvent reads one message; the deadline only keeps a broken test from
// hanging, it asserts nothing about timing.
func readEvent(t *testing.T, c *websocket.Conn) wsEvent {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var e wsEvent
	if err := c.ReadJSON(&e); err != nil {
		t.Fatalf("read event: %v", err)
	}
	return e
}

// readStored reads stored events until it has seq through last, failing on
// any gap, duplicate or disorder.
func readStored(t *testing.T, c *websocket.Conn, from, last int64) []wsEvent {
	t.Helper()
	var got []wsEvent
	next := from
	for next <= last {
		e := readEvent(t, c)
		if e.Type == "lane" || e.Type == "hello" {
			continue
		}
		if e.Seq != next {
			t.Fatalf("got seq %d, want %d", e.Seq, next)
		}
		got = append(got, e)
		next++
	}
	return got
}

func TestEvents_ReplayThenLive(t *testing.T) {
	f := newTestFake()
	s := mustOpenServer(t, f, Config{})
	mustPay(t, s, "1", "1.00") // seqs 1, 2
	mustPay(t, s, "2", "2.00") // seqs 3, 4

	c := dialEvents(t, s, "?since=1", nil)
	if h := readEvent(t, c); h.Type != "hello" || h.Seq != 1 {
		t.Fatalf("hello = %+v", h)
	}
	got := readStored(t, c, 2, 4)
	if got[0].Payment.Status != "at_terminal" || got[1].Payment.Lane != "2" {
		t.Fatalf("replayed %+v", got)
	}
	no := posbridge.OrderNo(got[2].Payment.OrderNo)
	f.flowApprove(no) // seqs 5, 6
	got = readStored(t, c, 5, 6)
	if got[1].Payment.Status != "paid" || got[1].Payment.Message != "Payment successful" {
		t.Fatalf("live %+v", got[1].Payment)
	}
	f.setLink("1", posbridge.LinkDown)
	if e := readEvent(t, c); e.Type != "lane" || e.Lane.ID != "1" || e.Lane.Link.State != "down" || e.Seq != 6 {
		t.Fatalf("lane event %+v", e)
	}
}

func TestEvents_NoSinceStartsAtNewest(t *testing.T) {
	f := newTestFake()
	s := mustOpenServer(t, f, Config{})
	for range 3 {
		no := str(mustPay(t, s, "1", "1").body, "order_no")
		doReq(t, "POST", s.URL()+"/api/v1/payments/"+no+"/cancel", "")
	}
	c := dialEvents(t, s, "", nil)
	if h := readEvent(t, c); h.Type != "hello" || h.Seq != 9 {
		t.Fatalf("hello = %+v, want seq 9", h)
	}
	mustPay(t, s, "2", "1")
	readStored(t, c, 10, 11)
}

func TestEvents_ReconnectMissesNothing(t *testing.T) {
	f := newTestFake()
	s := mustOpenServer(t, f, Config{})
	c := dialEvents(t, s, "?since=0", nil)
	readEvent(t, c) // hello
	mustPay(t, s, "1", "1")
	got := readStored(t, c, 1, 2)
	last := got[len(got)-1].Seq

	// The client disconnects mid-stream; meanwhile payments go on.
	c.Close()
	no := posbridge.OrderNo(got[0].Payment.OrderNo)
	f.flowApprove(no)
	mustPay(t, s, "2", "5")
	f.flowCustomerCancel(posbridge.OrderNo("F2000002"))
	want := f.lastSeq()

	c2 := dialEvents(t, s, "?since="+strconv.FormatInt(last, 10), nil)
	readEvent(t, c2) // hello
	missed := readStored(t, c2, last+1, want)
	if p := missed[len(missed)-1].Payment; p.Status != "failed" || p.Reason != "canceled_by_user" || p.Message != "Payment not completed" {
		t.Fatalf("last missed event %+v", p)
	}
	// And live events continue after the replay.
	mustPay(t, s, "2", "6")
	readStored(t, c2, want+1, want+2)
}

func TestEvents_SlowClientDroppedThenResumes(t *testing.T) {
	f := newTestFake()
	s := mustOpenServer(t, f, Config{})
	c := dialEvents(t, s, "?since=0", nil)
	readEvent(t, c) // hello
	mustPay(t, s, "1", "1")
	got := readStored(t, c, 1, 2)

	// The bus drops the subscription (as it does for a client that fell
	// behind); the server must close rather than go quiet.
	f.dropSubscribers()
	mustPay(t, s, "2", "1") // seqs 3, 4: not delivered live
	var closeErr *websocket.CloseError
	for {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _, err := c.ReadMessage()
		if err == nil {
			continue // events sent before the drop was noticed
		}
		if !errors.As(err, &closeErr) {
			t.Fatalf("read: %v, want a close frame", err)
		}
		break
	}
	if closeErr.Code != closeTryAgain {
		t.Fatalf("close code %d, want %d", closeErr.Code, closeTryAgain)
	}
	c2 := dialEvents(t, s, "?since="+strconv.FormatInt(got[1].Seq, 10), nil)
	readEvent(t, c2)
	readStored(t, c2, 3, 4)
}

func TestEvents_GapInLiveEventsFilledFromStore(t *testing.T) {
	f := newTestFake()
	s := mustOpenServer(t, f, Config{})
	c := dialEvents(t, s, "?since=0", nil)
	readEvent(t, c)
	// Commit seq 1 and 2 without publishing 1, as when two commits publish
	// out of order: the stream must still deliver 1 before 2.
	f.mu.Lock()
	o := &posbridge.Order{No: "GAP1", Lane: "1", Amount: posbridge.Money{Minor: 100, Currency: "AED"}, Status: posbridge.StatusCreated}
	f.orders[o.No] = o
	f.created = append(f.created, o.No)
	o.Version = 1
	snap := *o
	f.events = append(f.events, posbridge.Event{Seq: 1, Type: posbridge.EventPayment, Payment: &snap})
	f.mu.Unlock()
	_ = f.step("GAP1", func(o *posbridge.Order) error { return f.apply(o, posbridge.Input{Kind: posbridge.InputSend}) })
	got := readStored(t, c, 1, 2)
	if got[0].Payment.Status != "created" || got[1].Payment.Status != "at_terminal" {
		t.Fatalf("got %+v", got)
	}
}

func TestEvents_LongReplayPages(t *testing.T) {
	f := newTestFake()
	s := mustOpenServer(t, f, Config{})
	no := str(mustPay(t, s, "1", "1").body, "order_no")
	for range replayPage + 50 {
		if _, err := f.Verify(context.Background(), posbridge.OrderNo(no), posbridge.By{}); err != nil {
			t.Fatal(err)
		}
	}
	c := dialEvents(t, s, "?since=0", nil)
	readEvent(t, c)
	readStored(t, c, 1, f.lastSeq())
}

func TestEvents_Origin(t *testing.T) {
	f := newTestFake()
	s := mustOpenServer(t, f, Config{AllowedOrigins: []string{"https://pos.example.com"}})
	tests := []struct {
		name   string
		origin string
		ok     bool
	}{
		{"NoOrigin", "", true},
		{"SameOrigin", "http://" + s.Addr(), true},
		{"Allowed", "https://pos.example.com", true},
		{"AllowedCase", "https://POS.example.com", true},
		{"ErrOther", "https://evil.example.com", false},
		{"ErrOtherPort", "http://127.0.0.1:1", false},
		{"ErrNull", "null", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			c, res, err := websocket.DefaultDialer.Dial("ws://"+s.Addr()+"/api/v1/events", h)
			if tt.ok {
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				c.Close()
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("dial succeeded from a refused origin")
			}
			if res == nil || res.StatusCode != http.StatusForbidden {
				t.Fatalf("got %v, want 403", res)
			}
		})
	}
	t.Run("ErrBadSince", func(t *testing.T) {
		r := doReq(t, "GET", s.URL()+"/api/v1/events?since=-4", "")
		if r.status != 400 || r.errField() != "since" {
			t.Fatalf("got %d %s", r.status, r.raw)
		}
	})
}

func TestEvents_CloseSendsGoingAway(t *testing.T) {
	f := newTestFake()
	s := NewServer(f, Config{Addr: "127.0.0.1:0", Logger: discardLogger()})
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	c := dialEvents(t, s, "?since=0", nil)
	readEvent(t, c)
	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		closed <- s.Close(ctx)
	}()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err := c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("read after Close: %v, want close 1001", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, _, err := websocket.DefaultDialer.Dial("ws://"+s.Addr()+"/api/v1/events", nil); err == nil {
		t.Fatal("dial after Close succeeded")
	}
}
