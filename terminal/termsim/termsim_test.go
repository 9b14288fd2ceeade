package termsim_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/terminal"
	"github.com/posbridge/posbridge/terminal/termsim"
)

// ecr is a minimal ECR over net.Pipe for driving the simulator frame by frame.
type ecr struct {
	t      *testing.T
	c      net.Conn
	frames chan terminal.Frame
	id     byte
}

func startSim(t *testing.T, cfg termsim.Config) (*termsim.Sim, *ecr) {
	cfg.Logger = slog.New(slog.DiscardHandler)
	sim := termsim.New(cfg)
	a, b := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = sim.Serve(ctx, b) })
	e := &ecr{t: t, c: a, frames: make(chan terminal.Frame, 256)}
	wg.Go(func() {
		d := terminal.NewDecoder(a)
		for {
			f, err := d.Next()
			if err != nil {
				close(e.frames)
				return
			}
			e.frames <- f
		}
	})
	t.Cleanup(func() {
		cancel()
		a.Close()
		wg.Wait()
	})
	e.write(terminal.HandshakeFrame)
	for f := range e.frames {
		if f.Type == terminal.TypeHandshakeConfirm {
			break
		}
	}
	return sim, e
}

func (e *ecr) write(f terminal.Frame) {
	e.t.Helper()
	if _, err := e.c.Write(terminal.MustEncode(f)); err != nil {
		e.t.Fatal(err)
	}
}

// send sends m as a new data frame (twice when dup) and returns the next
// response, ACKing it; acks counts the ACKs of the request seen meanwhile.
func (e *ecr) send(m terminal.Message, dup bool) (resp terminal.Message, acks int) {
	e.t.Helper()
	e.id++
	p, err := terminal.EncodeMessage(m)
	if err != nil {
		e.t.Fatal(err)
	}
	f := terminal.Frame{ID: e.id, Payload: p}
	e.write(f)
	if dup {
		e.write(f)
	}
	for f := range e.frames {
		if f.Ack == e.id {
			acks++
		}
		if f.IsData() {
			e.write(terminal.AckFrame(f.ID))
			r, err := terminal.DecodeMessage(f.Payload)
			if err != nil {
				e.t.Fatal(err)
			}
			if dup {
				// Give the duplicate's ACK time to arrive.
				time.Sleep(50 * time.Millisecond)
				for len(e.frames) > 0 {
					if g := <-e.frames; g.Ack == e.id {
						acks++
					}
				}
			}
			return r, acks
		}
	}
	e.t.Fatal("link closed")
	return
}

func sale(no, amount string) terminal.Message {
	return terminal.Message{Topic: terminal.TopicOrder, RequestID: "r-" + no, Biz: terminal.BizData{
		TransType: terminal.TransSale, MerchantOrderNo: no, OrderAmount: amount, PriceCurrency: "AED"}}
}

func TestSim_Rules(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim, e := startSim(t, termsim.Config{})
		sim.SetScript("OPEN1", termsim.Script{Action: termsim.Never})
		if r, acks := e.send(sale("A1", "10.00"), true); r.ResponseCode != "000" || r.Biz.TransStatus != "2" || acks != 2 {
			t.Fatalf("sale with a duplicated frame: %+v, %d acks (want 2 ACKs, one answer)", r, acks)
		}
		if n := sim.SaleRequests("A1"); n != 1 {
			t.Fatalf("duplicate frame delivered %d times", n)
		}
		if r, _ := e.send(sale("A1", "10.00"), false); r.ResponseCode != "113" {
			t.Fatalf("reused order number: %+v, want 113", r)
		}
		if r, _ := e.send(sale("B1", "1.234"), false); r.ResponseCode != "202" {
			t.Fatalf("bad amount: %+v, want 202", r)
		}
		// An open sale gets no answer yet; a second sale gets 101.
		e.id++
		p, _ := terminal.EncodeMessage(sale("OPEN1", "5.00"))
		e.write(terminal.Frame{ID: e.id, Payload: p})
		if r, _ := e.send(sale("C1", "5.00"), false); r.ResponseCode != "101" {
			t.Fatalf("second sale: %+v, want 101", r)
		}
		q := terminal.Message{Topic: terminal.TopicQuery, RequestID: "q", Biz: terminal.BizData{MerchantOrderNo: "OPEN1"}}
		if r, _ := e.send(q, false); r.Biz.TransStatus != "0" {
			t.Fatalf("query open sale: %+v, want status 0", r)
		}
		q.Biz.MerchantOrderNo = "NONE"
		if r, _ := e.send(q, false); r.ResponseCode != "104" {
			t.Fatalf("query unknown: %+v, want 104", r)
		}
		// Closing the open sale answers the sale (102) and then the close (000).
		cl := terminal.Message{Topic: terminal.TopicClose, RequestID: "c", Biz: terminal.BizData{MerchantOrderNo: "OPEN1"}}
		if r, _ := e.send(cl, false); r.Topic != terminal.TopicOrder || r.ResponseCode != "102" || r.RequestID != "r-OPEN1" {
			t.Fatalf("close: first answer %+v, want the sale's 102", r)
		}
	})
}

type recorder struct {
	mu   sync.Mutex
	recs []posbridge.AcquirerRecord
	fail bool
}

func (r *recorder) Record(ctx context.Context, rec posbridge.AcquirerRecord) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return errors.New("acquirer down")
	}
	r.recs = append(r.recs, rec)
	return nil
}

func TestSim_Acquirer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		acq := &recorder{}
		sim, e := startSim(t, termsim.Config{Acquirer: acq})
		sim.SetScript("D1", termsim.Script{Action: termsim.Decline})
		sim.SetScript("X1", termsim.Script{Action: termsim.Cancel})
		for _, no := range []string{"P1", "D1", "X1"} {
			e.send(sale(no, "3.00"), false)
		}
		void := terminal.Message{Topic: terminal.TopicOrder, RequestID: "v", Biz: terminal.BizData{
			TransType: terminal.TransVoid, MerchantOrderNo: "V1", OrigMerchantNo: "P1", OrderAmount: "3.00", PriceCurrency: "AED"}}
		if r, _ := e.send(void, false); r.ResponseCode != "000" {
			t.Fatalf("void: %+v", r)
		}
		if txn, _ := sim.Txn("P1"); txn.Status != "3" {
			t.Fatalf("voided sale status %q, want 3", txn.Status)
		}
		acq.mu.Lock()
		got := acq.recs
		acq.mu.Unlock()
		want := []struct {
			no, kind string
			status   posbridge.GatewayStatus
		}{{"P1", "sale", posbridge.GatewayPaid}, {"D1", "sale", posbridge.GatewayFailed}, {"V1", "void", posbridge.GatewayPaid}}
		if len(got) != len(want) {
			t.Fatalf("acquirer records %+v", got)
		}
		for i, w := range want {
			if string(got[i].OrderNo) != w.no || got[i].Kind != w.kind || got[i].Status != w.status || got[i].Amount != (posbridge.Money{Minor: 300, Currency: "AED"}) {
				t.Fatalf("record %d = %+v, want %v", i, got[i], w)
			}
		}
		// The acquirer unreachable: the sale is not approved.
		acq.mu.Lock()
		acq.fail = true
		acq.mu.Unlock()
		if r, _ := e.send(sale("F1", "1.00"), false); r.ResponseCode != "109" || r.Biz.TransStatus != "1" {
			t.Fatalf("sale with acquirer down: %+v", r)
		}
	})
}

func TestParseScripts(t *testing.T) {
	def, orders, err := termsim.ParseScripts([]byte(`{"default":{"action":"approve","delay":"1.5s","success_code":"0"},"orders":{"X":{"action":"never"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if def.Delay != 1500*time.Millisecond || def.SuccessCode != "0" || orders["X"].Action != termsim.Never {
		t.Fatalf("parsed %+v %+v", def, orders)
	}
	for _, bad := range []string{`{"default":{"action":"explode"}}`, `{"default":{"delay":"soon"}}`, `{"defaults":{}}`, `[`} {
		if _, _, err := termsim.ParseScripts([]byte(bad)); err == nil {
			t.Errorf("ParseScripts(%s) accepted", bad)
		}
	}
}

var _ io.ReadWriteCloser = (*termsim.PTY)(nil)

func (r *recorder) list() []posbridge.AcquirerRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]posbridge.AcquirerRecord(nil), r.recs...)
}

func TestSim_ReportCreated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		acq := &recorder{}
		sim, e := startSim(t, termsim.Config{Acquirer: acq, ReportCreated: true})
		sim.SetScript("P1", termsim.Script{Action: termsim.Approve, Delay: 10 * time.Second})
		e.id++
		p, _ := terminal.EncodeMessage(sale("P1", "4.00"))
		e.write(terminal.Frame{ID: e.id, Payload: p})
		time.Sleep(time.Second)
		if got := acq.list(); len(got) != 1 || got[0].Status != posbridge.GatewayCreated || got[0].OrderNo != "P1" {
			t.Fatalf("while the customer decides: records %+v, want one created", got)
		}
		time.Sleep(10 * time.Second)
		if got := acq.list(); len(got) != 2 || got[1].Status != posbridge.GatewayPaid {
			t.Fatalf("after approval: records %+v, want created then paid", got)
		}
	})
}

func TestSim_AcquirerDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		acq := &recorder{}
		sim, e := startSim(t, termsim.Config{Acquirer: acq})
		sim.SetScript("P1", termsim.Script{Action: termsim.Approve, AcquirerDelay: 3 * time.Minute})
		if r, _ := e.send(sale("P1", "4.00"), false); r.ResponseCode != "000" || r.Biz.TransStatus != "2" {
			t.Fatalf("delayed-acquirer sale: %+v, want approved at once", r)
		}
		if got := acq.list(); len(got) != 0 || sim.DelayedRecords() != 1 {
			t.Fatalf("before the delay: records %+v, %d delayed", got, sim.DelayedRecords())
		}
		time.Sleep(3*time.Minute + time.Second)
		if got := acq.list(); len(got) != 1 || got[0].Status != posbridge.GatewayPaid || sim.DelayedRecords() != 0 {
			t.Fatalf("after the delay: records %+v", got)
		}
		if n := sim.Charges()["P1"]; n != 1 {
			t.Fatalf("charges %d, want 1", n)
		}
		// Close drops what is still on its way.
		sim.SetScript("P2", termsim.Script{Action: termsim.Approve, AcquirerDelay: time.Hour})
		e.send(sale("P2", "1.00"), false)
		sim.Close()
		if got := acq.list(); len(got) != 1 || sim.DelayedRecords() != 0 {
			t.Fatalf("after Close: records %+v, %d delayed", got, sim.DelayedRecords())
		}
	})
}

func TestSim_DeclineCharged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		acq := &recorder{}
		sim, e := startSim(t, termsim.Config{Acquirer: acq})
		sim.SetScript("P1", termsim.Script{Action: termsim.DeclineCharged})
		if r, _ := e.send(sale("P1", "4.00"), false); r.ResponseCode != "106" || r.Biz.TransStatus != "1" {
			t.Fatalf("decline_charged: %+v, want 106 with trans_status 1", r)
		}
		q := terminal.Message{Topic: terminal.TopicQuery, RequestID: "q", Biz: terminal.BizData{MerchantOrderNo: "P1"}}
		if r, _ := e.send(q, false); r.Biz.TransStatus != "1" {
			t.Fatalf("query: %+v, want the terminal to believe status 1", r)
		}
		time.Sleep(termsim.DefaultChargedDelay + time.Second)
		if got := acq.list(); len(got) != 1 || got[0].Status != posbridge.GatewayPaid {
			t.Fatalf("records %+v, want paid a minute later", got)
		}
		if n := sim.Charges()["P1"]; n != 1 {
			t.Fatalf("charges %d, want 1", n)
		}
	})
}

func TestSim_Reboot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim, e := startSim(t, termsim.Config{})
		e.send(sale("P1", "4.00"), false)
		sim.Reboot()
		q := terminal.Message{Topic: terminal.TopicQuery, RequestID: "q", Biz: terminal.BizData{MerchantOrderNo: "P1"}}
		if r, _ := e.send(q, false); r.ResponseCode != "104" {
			t.Fatalf("query after reboot: %+v, want 104", r)
		}
		if n := sim.Charges()["P1"]; n != 1 {
			t.Fatalf("charges after reboot %d, want 1 (money taken stays taken)", n)
		}
	})
}

func TestParseScripts_AcquirerDelay(t *testing.T) {
	def, _, err := termsim.ParseScripts([]byte(`{"default":{"action":"decline_charged","acquirer_delay":"2m"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if def.Action != termsim.DeclineCharged || def.AcquirerDelay != 2*time.Minute {
		t.Fatalf("parsed %+v", def)
	}
	if _, _, err := termsim.ParseScripts([]byte(`{"default":{"acquirer_delay":"later"}}`)); err == nil {
		t.Error("a bad acquirer_delay was accepted")
	}
}
