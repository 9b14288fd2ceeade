package termsim_test

import (
	"testing"
	"testing/synctest"

	"github.com/posbridge/posbridge/terminal"
	"github.com/posbridge/posbridge/terminal/termsim"
)

// TestSim_Personality checks each quirk measured against CodePay's client
// code, frame by frame.
func TestSim_Personality(t *testing.T) {
	closeSnake := func(no string) terminal.Message {
		return terminal.Message{Topic: terminal.TopicClose, RequestID: "c-" + no, Biz: terminal.BizData{MerchantOrderNo: no}}
	}
	closeCamel := func(no string) terminal.Message {
		return terminal.Message{Topic: terminal.TopicClose, RequestID: "c-" + no, Biz: terminal.BizData{MerchantOrderNoCamel: no}}
	}
	for _, tt := range []struct {
		name     string
		p        termsim.Personality
		close    func(string) terminal.Message
		wantCode string
	}{
		{"both-reads-snake", termsim.Personality{}, closeSnake, "000"},
		{"both-reads-camel", termsim.Personality{}, closeCamel, "000"},
		{"snake-reads-snake", termsim.Personality{Keys: termsim.KeysSnake}, closeSnake, "000"},
		{"snake-ignores-camel", termsim.Personality{Keys: termsim.KeysSnake}, closeCamel, "104"},
		{"camel-reads-camel", termsim.Personality{Keys: termsim.KeysCamel}, closeCamel, "000"},
		{"camel-ignores-snake", termsim.Personality{Keys: termsim.KeysCamel}, closeSnake, "104"},
	} {
		t.Run("keys/"+tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sim, e := startSim(t, termsim.Config{Personality: tt.p, Default: termsim.Script{Action: termsim.Decline}})
				if r, _ := e.send(sale("K1", "1.00"), false); r.ResponseCode != terminal.CodeDeclined {
					t.Fatalf("sale: %+v", r)
				}
				r, _ := e.send(tt.close("K1"), false)
				if r.ResponseCode != tt.wantCode {
					t.Fatalf("close answered %s %s, want %s", r.ResponseCode, r.ResponseMsg, tt.wantCode)
				}
				if got := r.Biz.OrderNo(); tt.wantCode == "000" && got != "K1" {
					t.Fatalf("close answer names %q", got)
				}
				if tt.p.Keys == termsim.KeysCamel && r.Biz.MerchantOrderNo != "" {
					t.Fatalf("a camelCase terminal answered snake_case: %+v", r.Biz)
				}
				_ = sim
			})
		})
	}

	t.Run("void-without-amount", func(t *testing.T) {
		for _, needs := range []bool{false, true} {
			synctest.Test(t, func(t *testing.T) {
				_, e := startSim(t, termsim.Config{Personality: termsim.Personality{VoidNeedsAmount: needs}})
				if r, _ := e.send(sale("V1", "12.50"), false); r.ResponseCode != "000" {
					t.Fatalf("sale: %+v", r)
				}
				void := terminal.Message{Topic: terminal.TopicOrder, RequestID: "v", Biz: terminal.BizData{
					TransType: terminal.TransVoid, MerchantOrderNo: "V2", OrigMerchantNo: "V1"}}
				r, _ := e.send(void, false)
				switch {
				case needs && r.ResponseCode != terminal.CodeBadParam:
					t.Fatalf("void without amount on a strict terminal: %+v", r)
				case !needs && (r.ResponseCode != "000" || r.Biz.OrderAmount != "12.50"):
					t.Fatalf("void without amount: %+v", r)
				}
				missing := void
				missing.RequestID, missing.Biz.MerchantOrderNo, missing.Biz.OrigMerchantNo = "v2", "V3", "NOPE"
				if r, _ := e.send(missing, false); !needs && r.ResponseCode != "119" {
					t.Fatalf("void of a missing sale: %+v", r)
				}
			})
		}
	})

	t.Run("app-id", func(t *testing.T) {
		for _, omit := range []bool{false, true} {
			synctest.Test(t, func(t *testing.T) {
				_, e := startSim(t, termsim.Config{Personality: termsim.Personality{NoAppID: omit}})
				m := sale("A1", "1.00")
				m.AppID = "wz123"
				r, _ := e.send(m, false)
				if want := map[bool]string{false: "wz123", true: ""}[omit]; r.AppID != want {
					t.Fatalf("app_id %q, want %q", r.AppID, want)
				}
			})
		}
	})

	t.Run("ack-tick-piggybacks", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			_, e := startSim(t, termsim.Config{Personality: termsim.Personality{AckTick: true}})
			p, _ := terminal.EncodeMessage(sale("P1", "1.00"))
			e.write(terminal.Frame{ID: 7, Payload: p})
			for f := range e.frames {
				if f.IsHeartbeat() {
					continue
				}
				if !f.IsData() || f.Ack != 7 {
					t.Fatalf("first frame %v, want the answer carrying ACK 7", f)
				}
				break
			}
		})
	})

	t.Run("silent-close", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			sim, e := startSim(t, termsim.Config{Personality: termsim.Personality{SilentClose: true}, Default: termsim.Script{Action: termsim.Never}})
			p, _ := terminal.EncodeMessage(sale("S1", "1.00"))
			e.write(terminal.Frame{ID: 1, Payload: p})
			synctest.Wait()
			e.id = 1
			r, _ := e.send(closeSnake("S1"), false)
			if r.Topic != terminal.TopicClose || r.ResponseCode != "000" {
				t.Fatalf("first answer %+v, want only the close's", r)
			}
			if txn, _ := sim.Txn("S1"); txn.Status != "1" {
				t.Fatalf("txn %v", txn)
			}
		})
	})
}

func TestParseScriptFile_Personality(t *testing.T) {
	f, err := termsim.ParseScriptFile([]byte(`{"personality":{"keys":"camel","ack_tick":true,"silent_close":true,"no_app_id":true,"void_needs_amount":true,"keep_replies":true}}`))
	want := termsim.Personality{Keys: termsim.KeysCamel, AckTick: true, SilentClose: true, NoAppID: true, VoidNeedsAmount: true, KeepReplies: true}
	if err != nil || f.Personality != want {
		t.Fatalf("got %+v, %v", f.Personality, err)
	}
	if _, err := termsim.ParseScriptFile([]byte(`{"personality":{"keys":"kebab"}}`)); err == nil {
		t.Fatal("accepted unknown keys")
	}
}

// TestSim_FrameIDsAcrossHandshake: CodePay's SDK keeps counting frame ids
// after a reconnect, and may reuse the last id it sent before; the terminal
// accepts either after a handshake.
func TestSim_FrameIDsAcrossHandshake(t *testing.T) {
	for _, next := range []byte{1, 2, 200} {
		synctest.Test(t, func(t *testing.T) {
			_, e := startSim(t, termsim.Config{})
			if r, _ := e.send(sale("F1", "1.00"), false); r.ResponseCode != "000" {
				t.Fatalf("sale: %+v", r)
			}
			e.write(terminal.HandshakeFrame)
			for f := range e.frames {
				if f.Type == terminal.TypeHandshakeConfirm {
					break
				}
			}
			e.id = next - 1
			q := terminal.Message{Topic: terminal.TopicQuery, RequestID: "q", Biz: terminal.BizData{MerchantOrderNo: "F1"}}
			if r, _ := e.send(q, false); r.ResponseCode != "000" || r.Biz.TransStatus != "2" {
				t.Fatalf("query with frame id %d after a handshake: %+v", next, r)
			}
		})
	}
}
