package posbridge_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/posbridgetest"
)

func TestEngine_Pay(t *testing.T) {
	tests := []struct {
		name      string
		script    posbridgetest.SaleScript
		gwLater   posbridge.GatewayStatus // set at the gateway 10 s after the sale, if any
		want      posbridge.Status
		reason    posbridge.Reason
		closeAtGw bool
	}{
		{name: "approved and confirmed", script: posbridgetest.SaleScript{Result: posbridge.TerminalResult{Outcome: posbridge.OutcomeApproved, Code: "000"}, Charge: true}, want: posbridge.StatusPaid},
		{name: "customer cancel", script: posbridgetest.SaleScript{Result: posbridge.TerminalResult{Outcome: posbridge.OutcomeCanceledByUser, Code: "110"}, Create: true}, want: posbridge.StatusFailed, reason: posbridge.ReasonCanceledByUser, closeAtGw: true},
		// A decline is final once the gateway confirms it (the acquirer
		// records the failed sale); a decline the gateway does not know is
		// TestTerminalFailureCodeIsVerifiedWithTheGateway's case.
		{name: "declined", script: posbridgetest.SaleScript{Result: posbridge.TerminalResult{Outcome: posbridge.OutcomeDeclined, Code: "115"}, Decline: true}, want: posbridge.StatusFailed, reason: posbridge.ReasonDeclined},
		{name: "lost response but charged", script: posbridgetest.SaleScript{Result: posbridge.TerminalResult{Outcome: posbridge.OutcomeTimeout}, Charge: true}, want: posbridge.StatusPaid},
		{name: "approved but gateway disagrees", script: posbridgetest.SaleScript{Result: posbridge.TerminalResult{Outcome: posbridge.OutcomeApproved, Code: "000"}, Create: true}, gwLater: posbridge.GatewayFailed, want: posbridge.StatusFailed, reason: posbridge.ReasonGatewayFailed},
		{name: "unknown then paid late", script: posbridgetest.SaleScript{Result: posbridge.TerminalResult{Outcome: posbridge.OutcomeUnknown, Code: "108"}, Create: true}, gwLater: posbridge.GatewayPaid, want: posbridge.StatusPaid},
		{name: "terminal unavailable", script: posbridgetest.SaleScript{Err: posbridge.ErrTerminalUnavailable}, want: posbridge.StatusFailed, reason: posbridge.ReasonTerminalDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{tt.script}})
				gw, term := te.gw, te.term
				o := pay(t, te, "12.50")
				if o.Status != posbridge.StatusAtTerminal {
					t.Fatalf("Pay returned %s, want at_terminal (write-ahead before the sale)", o.Status)
				}
				if tt.gwLater != "" {
					time.Sleep(10 * time.Second)
					gw.Set(o.No, o.Amount, tt.gwLater)
				}
				time.Sleep(2 * time.Minute)
				synctest.Wait()
				got, err := te.Payment(context.Background(), o.No)
				if err != nil {
					t.Fatal(err)
				}
				if got.Status != tt.want || got.Reason != tt.reason {
					t.Fatalf("status %s (%s), want %s (%s)", got.Status, got.Reason, tt.want, tt.reason)
				}
				if n := term.SalesOf(o.No); n != 1 {
					t.Fatalf("the terminal got %d sales for %s, want exactly 1", n, o.No)
				}
				if tt.closeAtGw && gw.Status(o.No) != posbridge.GatewayFailed {
					t.Fatalf("a canceled sale was not closed at the gateway: %s", gw.Status(o.No))
				}
				// A paid order is done; one shown not paid is watched daily
				// for a week (a late payment is found), except one that never
				// reached the terminal.
				switch watched := !got.NextCheckAt.IsZero(); {
				case got.Status == posbridge.StatusPaid && watched:
					t.Fatalf("paid order still scheduled at %v", got.NextCheckAt)
				case got.Status != posbridge.StatusPaid && got.Reason != posbridge.ReasonTerminalDown && (!watched || got.NextCheckAt.After(time.Now().Add(posbridge.DefaultSlowCheckEvery))):
					t.Fatalf("order shown not paid: next check %v, want a daily watch", got.NextCheckAt)
				}
				audit, err := te.db.Audit(context.Background(), o.No)
				if err != nil || len(audit) < 3 {
					t.Fatalf("audit rows %d, %v; want one per change", len(audit), err)
				}
			})
		})
	}
}

func TestEngine_PendingThenExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{answerLost}})
		gw := te.gw
		o := pay(t, te, "5.00")
		got := await(t, te, o.No)
		if got.Status != posbridge.StatusPending || posbridge.Instruction(got) != "Not confirmed yet — do not take payment again" {
			t.Fatalf("after the cashier's wait: %s %q", got.Status, posbridge.Instruction(got))
		}
		if got.NextCheckAt.IsZero() {
			t.Fatal("pending order has no next check")
		}
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		got, _ = te.Payment(context.Background(), o.No)
		if got.Status != posbridge.StatusCanceled || got.Reason != posbridge.ReasonExpired {
			t.Fatalf("after every check: %s (%s), want canceled (expired)", got.Status, got.Reason)
		}
		if gw.Status(o.No) != posbridge.GatewayFailed {
			t.Fatalf("gateway still %s", gw.Status(o.No))
		}
		if got.ScheduledChecks != len(posbridge.DefaultSchedule) {
			t.Fatalf("scheduled checks = %d, want %d", got.ScheduledChecks, len(posbridge.DefaultSchedule))
		}
		if got.Checks <= got.ScheduledChecks {
			t.Fatalf("checks = %d: every gateway query (%d scheduled, more while the cashier waited) must count", got.Checks, got.ScheduledChecks)
		}
	})
}

func TestEngine_CancelRefusedBecausePaid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te, o := newPendingOrder(t, "5.00")
		gw := te.gw
		// The customer's payment lands just before the last check: the final
		// query still says created, the cancel is refused because paid.
		time.Sleep(49 * time.Minute)
		gw.Set(o.No, o.Amount, posbridge.GatewayPaid)
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		got, _ := te.Payment(context.Background(), o.No)
		if got.Status != posbridge.StatusPaid {
			t.Fatalf("status %s, want paid", got.Status)
		}
	})
}

func TestEngine_LaneBusyAndIdempotency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{{Result: posbridge.TerminalResult{Outcome: posbridge.OutcomeApproved}, Charge: true, Delay: 30 * time.Second}}})
		ctx := context.Background()
		req := posbridge.PayRequest{Lane: "1", Amount: mustAED(t, "9.99"), IdempotencyKey: "k1", Reference: "r1", By: cashier}
		first, replayed, err := te.Pay(ctx, req)
		if err != nil || replayed {
			t.Fatalf("first: replayed %v, %v", replayed, err)
		}
		again, replayed, err := te.Pay(ctx, req)
		if err != nil || again.No != first.No || !replayed {
			t.Fatalf("replay = %s (replayed %v), %v; want %s replayed", again.No, replayed, err, first.No)
		}
		req2 := req
		req2.Amount = mustAED(t, "10.00")
		if _, _, err := te.Pay(ctx, req2); posbridge.ErrorCode(err) != posbridge.EIDEMPOTENCY {
			t.Fatalf("same key, other amount: %v, want idempotency_conflict", err)
		}
		req3 := req2
		req3.IdempotencyKey = "k2"
		if _, _, err := te.Pay(ctx, req3); posbridge.ErrorCode(err) != posbridge.ELANEBUSY {
			t.Fatalf("second payment on a busy lane: %v, want lane_busy", err)
		}
		if _, _, err := te.Pay(ctx, posbridge.PayRequest{Lane: "9", Amount: mustAED(t, "1"), By: cashier}); posbridge.ErrorCode(err) != posbridge.EINVALID {
			t.Fatalf("unknown lane: %v", err)
		}
		if got := await(t, te, first.No); got.Status != posbridge.StatusPaid {
			t.Fatalf("first payment %s", got.Status)
		}
		synctest.Wait() // the lane is freed right after the paid commit
		if _, _, err := te.Pay(ctx, req3); err != nil {
			t.Fatalf("payment after the lane freed: %v", err)
		}
	})
}

func TestEngine_ReplacePending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te, first := newPendingOrder(t, "7.00", posbridgetest.SaleScript{Result: posbridge.TerminalResult{Outcome: posbridge.OutcomeApproved}, Charge: true})
		gw := te.gw
		ctx := context.Background()
		_, _, err := te.Pay(ctx, posbridge.PayRequest{Lane: "1", Amount: mustAED(t, "7.00"), By: cashier})
		if posbridge.ErrorCode(err) != posbridge.ELANEBUSY {
			t.Fatalf("new payment while one is pending: %v, want lane_busy", err)
		}
		second, _, err := te.Pay(ctx, posbridge.PayRequest{Lane: "1", Amount: mustAED(t, "7.00"), Replaces: first.No, By: cashier})
		if err != nil {
			t.Fatalf("replace: %v", err)
		}
		prev, _ := te.Payment(ctx, first.No)
		if prev.Status != posbridge.StatusCanceled || gw.Status(first.No) != posbridge.GatewayFailed {
			t.Fatalf("replaced order %s, gateway %s; want both closed", prev.Status, gw.Status(first.No))
		}
		if got := await(t, te, second.No); got.Status != posbridge.StatusPaid {
			t.Fatalf("replacement %s", got.Status)
		}
	})
}

func TestEngine_ReplaceRefusedWhenPaid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te, first := newPendingOrder(t, "7.00")
		gw, term := te.gw, te.term
		ctx := context.Background()
		gw.Set(first.No, first.Amount, posbridge.GatewayPaid)
		_, _, err := te.Pay(ctx, posbridge.PayRequest{Lane: "1", Amount: mustAED(t, "7.00"), Replaces: first.No, By: cashier})
		if posbridge.ErrorCode(err) != posbridge.ECONFLICT {
			t.Fatalf("replacing a paid order: %v, want conflict", err)
		}
		if got, _ := te.Payment(ctx, first.No); got.Status != posbridge.StatusPaid {
			t.Fatalf("first order %s, want paid", got.Status)
		}
		if term.SalesOf(first.No) != 1 {
			t.Fatal("a second sale reached the terminal")
		}
	})
}

func TestEngine_Notifications(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te, o := newPendingOrder(t, "20.00")
		ctx := context.Background()

		bad := posbridge.Notification{Gateway: "fake", ID: "n1", Kind: posbridge.NotifyOrder, OrderNo: o.No, Status: posbridge.GatewayPaid, Amount: mustAED(t, "2.00")}
		if err := te.ApplyNotification(ctx, bad); err != nil {
			t.Fatalf("mismatched notification: %v", err)
		}
		got, _ := te.Payment(ctx, o.No)
		if got.Status == posbridge.StatusPaid || !got.NeedsAttention {
			t.Fatalf("an amount-mismatched notification was applied: %s attention=%v", got.Status, got.NeedsAttention)
		}

		good := bad
		good.ID, good.Amount = "n2", o.Amount
		for i := 0; i < 3; i++ { // duplicated delivery
			if err := te.ApplyNotification(ctx, good); err != nil {
				t.Fatalf("notification: %v", err)
			}
		}
		got, _ = te.Payment(ctx, o.No)
		if got.Status != posbridge.StatusPaid {
			t.Fatalf("verified notification not applied: %s", got.Status)
		}
		late := good
		late.ID, late.Status = "n3", posbridge.GatewayFailed
		if err := te.ApplyNotification(ctx, late); err != nil {
			t.Fatalf("late notification: %v", err)
		}
		if got, _ = te.Payment(ctx, o.No); got.Status != posbridge.StatusPaid {
			t.Fatalf("a late FAILURE notification moved a paid order to %s", got.Status)
		}
		unknown := good
		unknown.ID, unknown.OrderNo = "n4", "NOSUCHORDER"
		if err := te.ApplyNotification(ctx, unknown); err != nil {
			t.Fatalf("notification for an unknown order must be recorded and acknowledged: %v", err)
		}
		pending, err := te.db.UnappliedNotifications(ctx, 10)
		if err != nil || len(pending) != 0 {
			t.Fatalf("unapplied notifications after acknowledging: %d, %v", len(pending), err)
		}
	})
}

func TestEngine_CrashRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gw := posbridgetest.NewFakeGateway()
		// The sale hangs: the daemon dies while the terminal has it.
		term := posbridgetest.NewFakeTerminal(gw, posbridgetest.SaleScript{Result: posbridge.TerminalResult{Outcome: posbridge.OutcomeApproved}, Charge: true, Delay: time.Hour})
		te := newTestEngine(t, engineOpts{Gateway: gw, Terminal: term})
		o := pay(t, te, "3.30")
		time.Sleep(time.Second)
		te.close(t) // the process stops; the order is at_terminal in the database

		term2 := posbridgetest.NewFakeTerminal(gw)
		te2 := newTestEngine(t, engineOpts{Path: te.path, Gateway: gw, Terminal: term2})
		got := await(t, te2, o.No)
		if got.Status != posbridge.StatusPaid {
			t.Fatalf("after restart: %s, want paid (verified with the gateway)", got.Status)
		}
		if closes, queries := term2.Counts(); queries == 0 || closes == 0 {
			t.Fatalf("restart did not ask the terminal (close %d, query %d)", closes, queries)
		}
		if term2.SalesOf(o.No) != 0 {
			t.Fatal("restart sent the sale again")
		}
	})
}

func TestEngine_CancelAndRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gw := posbridgetest.NewFakeGateway()
		term := posbridgetest.NewFakeTerminal(gw,
			posbridgetest.SaleScript{Result: posbridge.TerminalResult{Outcome: posbridge.OutcomeTimeout}},
			posbridgetest.SaleScript{Result: posbridge.TerminalResult{Outcome: posbridge.OutcomeApproved}, Charge: true})
		te := newTestEngine(t, engineOpts{Gateway: gw, Terminal: term})
		ctx := context.Background()
		o := pay(t, te, "4.00")
		await(t, te, o.No)
		// Never reached the gateway (the sale was lost before the acquirer):
		// a retry reuses the order number.
		if _, err := te.Retry(ctx, o.No, cashier); err != nil {
			t.Fatalf("Retry: %v", err)
		}
		if got := await(t, te, o.No); got.Status != posbridge.StatusPaid || got.Attempts != 2 {
			t.Fatalf("after retry: %s attempts %d", got.Status, got.Attempts)
		}
		if _, err := te.Retry(ctx, o.No, cashier); posbridge.ErrorCode(err) != posbridge.EFINAL {
			t.Fatalf("retry of a paid order: %v", err)
		}
		if _, err := te.Cancel(ctx, o.No, cashier); posbridge.ErrorCode(err) != posbridge.EFINAL {
			t.Fatalf("cancel of a paid order: %v", err)
		}
		if _, _, err := te.Refund(ctx, o.No, posbridge.RefundParams{Amount: mustAED(t, "5.00")}, cashier); posbridge.ErrorCode(err) != posbridge.EINVALID {
			t.Fatalf("refund above the paid amount: %v", err)
		}
		r, _, err := te.Refund(ctx, o.No, posbridge.RefundParams{Amount: mustAED(t, "1.50")}, posbridge.By{Actor: posbridge.ActorCashier, Who: "amal", Reason: "damaged"})
		if err != nil || r.Status != posbridge.RefundSucceeded {
			t.Fatalf("refund: %+v, %v", r, err)
		}
		got, _ := te.Payment(ctx, o.No)
		if got.Refunded.Decimal() != "1.50" {
			t.Fatalf("refunded %s", got.Refunded.Decimal())
		}
		if _, _, err := te.Refund(ctx, o.No, posbridge.RefundParams{Amount: mustAED(t, "2.51")}, cashier); posbridge.ErrorCode(err) != posbridge.EINVALID {
			t.Fatalf("refund above what is left: %v", err)
		}
	})
}

func TestEngine_CashierCancelPending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te, o := newPendingOrder(t, "4.00")
		gw := te.gw
		ctx := context.Background()
		gw.SetErr(posbridge.ErrUnknownOutcome)
		if _, err := te.Cancel(ctx, o.No, cashier); posbridge.ErrorCode(err) != posbridge.EUNAVAILABLE {
			t.Fatalf("cancel during a gateway outage: %v, want unavailable", err)
		}
		gw.SetErr(nil)
		got, err := te.Cancel(ctx, o.No, cashier)
		if err != nil || got.Status != posbridge.StatusCanceled {
			t.Fatalf("cancel: %s, %v", got.Status, err)
		}
		if gw.Count("query") == 0 || gw.Status(o.No) != posbridge.GatewayFailed {
			t.Fatal("cancel did not query first and close at the gateway")
		}
	})
}

func TestEngine_OverrideStillVerified(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te, o := newPendingOrder(t, "4.00")
		gw := te.gw
		ctx := context.Background()
		if _, err := te.Override(ctx, o.No, cashier); posbridge.ErrorCode(err) != posbridge.EINVALID {
			t.Fatalf("override without a reason: %v", err)
		}
		by := cashier
		by.Reason = "terminal screen shows APPROVED"
		got, err := te.Override(ctx, o.No, by)
		if err != nil || got.Override == nil || got.Override.By != "amal" || !got.NeedsAttention || got.Status != posbridge.StatusPending {
			t.Fatalf("override: %+v, %v", got, err)
		}
		gw.Set(o.No, o.Amount, posbridge.GatewayPaid)
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		got, _ = te.Payment(ctx, o.No)
		if got.Status != posbridge.StatusPaid || got.NeedsAttention {
			t.Fatalf("after the gateway confirmed: %s attention=%v", got.Status, got.NeedsAttention)
		}
	})
}

func TestEngine_GatewayOutageKeepsSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gw := posbridgetest.NewFakeGateway()
		term := posbridgetest.NewFakeTerminal(gw, posbridgetest.SaleScript{Result: posbridge.TerminalResult{Outcome: posbridge.OutcomeApproved}, Charge: true})
		gw.SetErr(errors.Join(posbridge.ErrUnknownOutcome))
		te := newTestEngine(t, engineOpts{Gateway: gw, Terminal: term})
		o := pay(t, te, "8.00")
		got := await(t, te, o.No)
		if got.Status != posbridge.StatusPending {
			t.Fatalf("during an outage: %s, want pending", got.Status)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		got, _ = te.Payment(context.Background(), o.No)
		if got.Status != posbridge.StatusPending || got.NextCheckAt.IsZero() {
			t.Fatalf("an hour into the outage: %s next=%v; want pending with a check scheduled", got.Status, got.NextCheckAt)
		}
		gw.SetErr(nil)
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if got, _ = te.Payment(context.Background(), o.No); got.Status != posbridge.StatusPaid {
			t.Fatalf("after the outage: %s, want paid", got.Status)
		}
	})
}

// A cashier's cancel while the sale is on the terminal closes it there;
// the terminal answers the closed sale 102, which terminal.Conn reports as
// closed_on_request: the operator's cancellation, proof like 110. When the
// gateway knows the order it is canceled there too; when it has not heard
// of it, the terminal's word closes it, watched for a late payment.
//
// A plain decline is not proof: a cancel after a decline the gateway has
// not heard of is refused (a late acquirer could still charge it after the
// cashier took a new payment), and the order is closed only at the end of
// its schedule, flagged.
func TestEngine_CancelWhileOnTerminal(t *testing.T) {
	decline := posbridge.TerminalResult{Outcome: posbridge.OutcomeDeclined, Code: "106"}
	tests := []struct {
		name          string
		script        posbridgetest.SaleScript
		wantErr       string
		wantAfter     posbridge.Status
		wantAttention bool
	}{
		{name: "gateway knows the order", script: posbridgetest.SaleScript{Result: posbridge.TerminalResult{Outcome: posbridge.OutcomeApproved}, Delay: time.Minute, ChargeLate: true, CloseEnds: true, Create: true},
			wantAfter: posbridge.StatusCanceled},
		{name: "gateway has not heard of it", script: posbridgetest.SaleScript{Result: posbridge.TerminalResult{Outcome: posbridge.OutcomeApproved}, Delay: time.Minute, ChargeLate: true, CloseEnds: true},
			wantAfter: posbridge.StatusCanceled},
		{name: "after a decline the gateway has not heard of", script: posbridgetest.SaleScript{Result: decline, Delay: 2 * time.Second},
			wantErr: posbridge.EUNAVAILABLE, wantAfter: posbridge.StatusCanceled, wantAttention: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{tt.script}})
				gw, term := te.gw, te.term
				ctx := context.Background()
				o := pay(t, te, "15.00")
				time.Sleep(3 * time.Second)
				got, err := te.Cancel(ctx, o.No, cashier)
				if code := posbridge.ErrorCode(err); code != tt.wantErr {
					t.Fatalf("cancel: %s (%s), %v; want error code %q", got.Status, got.Reason, err, tt.wantErr)
				}
				if closes, _ := term.Counts(); closes == 0 {
					t.Fatal("the sale was not closed on the terminal")
				}
				if err != nil && !got.Open() {
					t.Fatalf("a refused cancel left the order %s", got.Status)
				}
				if err == nil && (got.Status != posbridge.StatusCanceled || got.Reason != posbridge.ReasonCanceledByClerk || got.NeedsAttention) {
					t.Fatalf("cancel: %s (%s) attention=%v; want canceled by the cashier, not flagged", got.Status, got.Reason, got.NeedsAttention)
				}
				time.Sleep(3 * time.Hour)
				synctest.Wait()
				if s := gw.Status(o.No); s == posbridge.GatewayPaid {
					t.Fatal("the customer was charged after the cancel")
				}
				got, _ = te.Payment(ctx, o.No)
				if got.Status != tt.wantAfter || got.NeedsAttention != tt.wantAttention || got.NextCheckAt.IsZero() {
					t.Fatalf("after a while: %s (%s) attention=%v next %v; want %s attention=%v and still watched",
						got.Status, got.Reason, got.NeedsAttention, got.NextCheckAt, tt.wantAfter, tt.wantAttention)
				}
			})
		})
	}
}

// The gateway's "failed" notification can arrive while the terminal is still
// answering a decline (the acquirer is quicker than the cable): the order is
// failed at once, and the terminal's decline then says why.
func TestEngine_FailedNotificationBeforeTheDecline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		te := newTestEngine(t, engineOpts{Sales: []posbridgetest.SaleScript{{Result: posbridge.TerminalResult{Outcome: posbridge.OutcomeDeclined, Code: "115"}, Decline: true, Delay: 2 * time.Second}}})
		ctx := context.Background()
		o := pay(t, te, "8.00")
		time.Sleep(time.Second)
		n := posbridge.Notification{Gateway: "fake", ID: "n-failed", Kind: posbridge.NotifyOrder, OrderNo: o.No, Status: posbridge.GatewayFailed, Amount: o.Amount}
		if err := te.ApplyNotification(ctx, n); err != nil {
			t.Fatalf("notification: %v", err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		got, err := te.Payment(ctx, o.No)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != posbridge.StatusFailed || got.Reason != posbridge.ReasonDeclined || got.NeedsAttention {
			t.Fatalf("got %s (%s) attention=%v, want failed (declined), not flagged", got.Status, got.Reason, got.NeedsAttention)
		}
	})
}
