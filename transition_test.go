package posbridge_test

import (
	"errors"
	"math/rand"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
)

// transitionTable holds the expected result of every (status, input) pair:
// "to" is the next status ("=" for unchanged), "!" appended means
// needs_attention is set (a change even when the status stays); "final" and "no" are refusals with ErrOrderFinal
// and ErrNotAllowed.
var transitionTable = map[posbridge.Status]map[string]string{
	posbridge.StatusCreated: {
		"send": "at_terminal", "terminal:approved": "no", "terminal:declined": "no", "terminal:canceled_by_user": "no",
		"terminal:unknown": "no", "terminal:timeout": "no", "terminal:closed_on_request": "no", "gateway_paid": "paid", "gateway_failed": "failed",
		"gateway_unpaid": "=", "wait_over": "no", "canceled": "canceled", "retry": "no", "resume": "failed", "terminal_unavailable": "no", "gateway_partial": "pending!", "hosted_open": "no",
	},
	posbridge.StatusAtTerminal: {
		"send": "no", "terminal:approved": "verifying", "terminal:declined": "verifying", "terminal:canceled_by_user": "failed",
		"terminal:unknown": "verifying", "terminal:timeout": "verifying", "terminal:closed_on_request": "verifying", "gateway_paid": "paid", "gateway_failed": "failed",
		"gateway_unpaid": "=", "wait_over": "no", "canceled": "canceled", "retry": "no", "resume": "verifying", "terminal_unavailable": "failed", "gateway_partial": "pending!", "hosted_open": "verifying",
	},
	posbridge.StatusVerifying: {
		"send": "no", "terminal:approved": "=", "terminal:declined": "=", "terminal:canceled_by_user": "=",
		"terminal:unknown": "=", "terminal:timeout": "=", "terminal:closed_on_request": "=", "gateway_paid": "paid", "gateway_failed": "failed",
		"gateway_unpaid": "=", "wait_over": "pending", "canceled": "canceled", "retry": "at_terminal", "resume": "=", "terminal_unavailable": "no", "gateway_partial": "pending!", "hosted_open": "=",
	},
	posbridge.StatusPending: {
		"send": "no", "terminal:approved": "=", "terminal:declined": "=", "terminal:canceled_by_user": "=",
		"terminal:unknown": "=", "terminal:timeout": "=", "terminal:closed_on_request": "=", "gateway_paid": "paid", "gateway_failed": "failed",
		"gateway_unpaid": "=", "wait_over": "=", "canceled": "canceled", "retry": "at_terminal", "resume": "=", "terminal_unavailable": "no", "gateway_partial": "=!", "hosted_open": "=",
	},
	posbridge.StatusPaid: {
		"send": "final", "terminal:approved": "final", "terminal:declined": "final", "terminal:canceled_by_user": "final",
		"terminal:unknown": "final", "terminal:timeout": "final", "terminal:closed_on_request": "final", "gateway_paid": "=", "gateway_failed": "final",
		"gateway_unpaid": "final", "wait_over": "final", "canceled": "final", "retry": "final", "resume": "final", "terminal_unavailable": "final", "gateway_partial": "final", "hosted_open": "final",
	},
	posbridge.StatusFailed: {
		"send": "final", "terminal:approved": "final", "terminal:declined": "final", "terminal:canceled_by_user": "final",
		"terminal:unknown": "final", "terminal:timeout": "final", "terminal:closed_on_request": "final", "gateway_paid": "paid!", "gateway_failed": "=",
		"gateway_unpaid": "final", "wait_over": "final", "canceled": "=", "retry": "final", "resume": "final", "terminal_unavailable": "final", "gateway_partial": "=!", "hosted_open": "final",
	},
	posbridge.StatusCanceled: {
		"send": "final", "terminal:approved": "final", "terminal:declined": "final", "terminal:canceled_by_user": "final",
		"terminal:unknown": "final", "terminal:timeout": "final", "terminal:closed_on_request": "final", "gateway_paid": "paid!", "gateway_failed": "=",
		"gateway_unpaid": "final", "wait_over": "final", "canceled": "=", "retry": "final", "resume": "final", "terminal_unavailable": "final", "gateway_partial": "=!", "hosted_open": "final",
	},
}

func TestTransition_EveryPair(t *testing.T) {
	pairs := 0
	for _, from := range posbridge.Statuses {
		row, ok := transitionTable[from]
		if !ok {
			t.Fatalf("table has no row for %s", from)
		}
		if len(row) != len(posbridge.Inputs()) {
			t.Fatalf("row %s has %d entries, want %d (one per input)", from, len(row), len(posbridge.Inputs()))
		}
		for _, in := range posbridge.Inputs() {
			pairs++
			want, ok := row[in.String()]
			if !ok {
				t.Fatalf("table has no entry for (%s, %s)", from, in)
			}
			got, err := posbridge.Transition(from, in)
			switch want {
			case "final", "no":
				wantErr := posbridge.ErrOrderFinal
				if want == "no" {
					wantErr = posbridge.ErrNotAllowed
				}
				var te *posbridge.TransitionError
				if !errors.Is(err, wantErr) || !errors.As(err, &te) || te.From != from || te.Input != in {
					t.Errorf("(%s, %s) = %+v, %v; want refusal %v", from, in, got, err, wantErr)
				}
				continue
			}
			if err != nil {
				t.Errorf("(%s, %s) refused: %v; want %s", from, in, err, want)
				continue
			}
			attention := false
			if want[len(want)-1] == '!' {
				attention, want = true, want[:len(want)-1]
			}
			to := posbridge.Status(want)
			if want == "=" {
				to = from
			}
			// A flag is a change even where the status stays.
			if changed := to != from || attention; got.To != to || got.NeedsAttention != attention || got.Changed != changed {
				t.Errorf("(%s, %s) = %+v; want to=%s attention=%v changed=%v", from, in, got, to, attention, changed)
			}
		}
	}
	if want := len(posbridge.Statuses) * len(posbridge.Inputs()); pairs != want {
		t.Fatalf("checked %d pairs, want %d", pairs, want)
	}
}

func TestTransition_UnknownStatus(t *testing.T) {
	_, err := posbridge.Transition("bogus", posbridge.Input{Kind: posbridge.InputSend})
	if !errors.Is(err, posbridge.ErrNotAllowed) {
		t.Fatalf("unknown status: %v, want ErrNotAllowed", err)
	}
	_, err = posbridge.Transition(posbridge.StatusPending, posbridge.Input{Kind: "bogus"})
	if !errors.Is(err, posbridge.ErrNotAllowed) {
		t.Fatalf("unknown input: %v, want ErrNotAllowed", err)
	}
}

func TestTransition_Reasons(t *testing.T) {
	tests := []struct {
		from posbridge.Status
		in   posbridge.Input
		want posbridge.Reason
	}{
		{posbridge.StatusVerifying, posbridge.Input{Kind: posbridge.InputGatewayFailed, Reason: posbridge.ReasonDeclined}, posbridge.ReasonDeclined},
		{posbridge.StatusAtTerminal, posbridge.Input{Kind: posbridge.InputTerminal, Outcome: posbridge.OutcomeCanceledByUser}, posbridge.ReasonCanceledByUser},
		{posbridge.StatusPending, posbridge.Input{Kind: posbridge.InputCanceled}, posbridge.ReasonCanceledByClerk},
		{posbridge.StatusPending, posbridge.Input{Kind: posbridge.InputCanceled, Reason: posbridge.ReasonExpired}, posbridge.ReasonExpired},
		{posbridge.StatusPending, posbridge.Input{Kind: posbridge.InputGatewayFailed}, posbridge.ReasonGatewayFailed},
		{posbridge.StatusCreated, posbridge.Input{Kind: posbridge.InputResume}, posbridge.ReasonNotSent},
		{posbridge.StatusCanceled, posbridge.Input{Kind: posbridge.InputGatewayPaid}, posbridge.ReasonPaidAfterClose},
	}
	for _, tt := range tests {
		got, err := posbridge.Transition(tt.from, tt.in)
		if err != nil || got.Reason != tt.want {
			t.Errorf("(%s, %s) reason = %q, %v; want %q", tt.from, tt.in, got.Reason, err, tt.want)
		}
	}
}

func TestOrder_Apply(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	o := posbridge.Order{Status: posbridge.StatusCreated, NextCheckAt: now}
	steps := []posbridge.Input{
		{Kind: posbridge.InputSend},
		{Kind: posbridge.InputTerminal, Outcome: posbridge.OutcomeTimeout},
		{Kind: posbridge.InputWaitOver},
		{Kind: posbridge.InputCanceled, Reason: posbridge.ReasonExpired},
		{Kind: posbridge.InputGatewayPaid},
	}
	for _, in := range steps {
		if _, err := o.Apply(in, now); err != nil {
			t.Fatalf("Apply(%s): %v", in, err)
		}
	}
	if o.Status != posbridge.StatusPaid || !o.NeedsAttention || o.PaidAt != now || o.TerminalOutcome != posbridge.OutcomeTimeout {
		t.Fatalf("after a late payment: %+v", o)
	}
	if !o.NextCheckAt.IsZero() {
		t.Fatalf("final order still has a next check at %v", o.NextCheckAt)
	}
	changed, err := o.Apply(posbridge.Input{Kind: posbridge.InputCanceled}, now)
	if changed || !errors.Is(err, posbridge.ErrOrderFinal) {
		t.Fatalf("cancel of a paid order: changed=%v err=%v", changed, err)
	}
}

// FuzzTransition applies random input sequences and checks the invariants of
// docs/architecture.md: a final status never goes back to an open one, and paid is
// never lost.
func FuzzTransition(f *testing.F) {
	f.Add([]byte{0, 1, 6, 9, 5})
	f.Add([]byte{0, 2, 5, 6, 7, 7, 4})
	f.Add([]byte{12, 8, 3, 1, 0})
	inputs := posbridge.Inputs()
	f.Fuzz(func(t *testing.T, seq []byte) {
		o := posbridge.Order{Status: posbridge.StatusCreated}
		wasPaid, wasFinal := false, false
		for _, b := range seq {
			in := inputs[int(b)%len(inputs)]
			before := o.Status
			_, err := o.Apply(in, time.Unix(0, 0))
			if err != nil && before != o.Status {
				t.Fatalf("refused %s changed %s to %s", in, before, o.Status)
			}
			if wasFinal && !o.Status.Final() {
				t.Fatalf("final %s went back to %s on %s", before, o.Status, in)
			}
			if wasPaid && o.Status != posbridge.StatusPaid {
				t.Fatalf("paid lost: %s on %s", o.Status, in)
			}
			wasPaid = wasPaid || o.Status == posbridge.StatusPaid
			wasFinal = wasFinal || o.Status.Final()
		}
	})
}

func TestTransition_RandomWalks(t *testing.T) {
	// A deterministic stand-in for the fuzz target, so every run covers many sequences.
	r := rand.New(rand.NewSource(1))
	inputs := posbridge.Inputs()
	for walk := 0; walk < 5000; walk++ {
		o := posbridge.Order{Status: posbridge.Statuses[r.Intn(len(posbridge.Statuses))]}
		wasPaid, wasFinal := o.Status == posbridge.StatusPaid, o.Status.Final()
		for i := 0; i < 20; i++ {
			in := inputs[r.Intn(len(inputs))]
			o.Apply(in, time.Unix(0, 0))
			if wasFinal && !o.Status.Final() || wasPaid && o.Status != posbridge.StatusPaid {
				t.Fatalf("walk %d: invariant broken at %s after %s", walk, o.Status, in)
			}
			wasPaid = wasPaid || o.Status == posbridge.StatusPaid
			wasFinal = wasFinal || o.Status.Final()
		}
	}
}

// TestOrder_ApplyPaidAfterCloseOutranksOverride: a capture after the order
// was closed names itself as the attention, even over a cashier's override
// note, which a later gateway "paid" would clear.
func TestOrder_ApplyPaidAfterCloseOutranksOverride(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name, before, want string
	}{
		{"no-note", "", string(posbridge.ReasonPaidAfterClose)},
		{"override-note", string(posbridge.ReasonCashierOverride), string(posbridge.ReasonPaidAfterClose)},
		{"other-note", "gateway reports 1.00 AED paid for an order of 2.00 AED", "gateway reports 1.00 AED paid for an order of 2.00 AED"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := posbridge.Order{Status: posbridge.StatusCanceled, NeedsAttention: tt.before != "", Attention: tt.before}
			if _, err := o.Apply(posbridge.Input{Kind: posbridge.InputGatewayPaid}, now); err != nil {
				t.Fatal(err)
			}
			if o.Status != posbridge.StatusPaid || !o.NeedsAttention || o.Attention != tt.want {
				t.Fatalf("after a capture of a canceled order: %+v", o)
			}
		})
	}
}
