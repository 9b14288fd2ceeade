package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/posbridge/posbridge"
)

// CreateOrderThen writes the creation and its next step in one commit, each
// with its own event and audit row; a step that fails writes nothing at all,
// not even the creation.
func TestDB_CreateOrderThen(t *testing.T) {
	send := posbridge.Cause{Actor: posbridge.ActorEngine, Action: "send"}
	toTerminal := func(o *posbridge.Order) error {
		o.Status = posbridge.StatusAtTerminal
		o.Attempts++
		return nil
	}
	refuse := errors.New("refused")
	tests := []struct {
		name       string
		key        string
		step       func(*posbridge.Order) error
		wantErr    error
		wantCode   string // the *posbridge.Error code wanted, when wantErr is nil
		wantStatus posbridge.Status
		wantEvents int
	}{
		{name: "both-written", step: toTerminal, wantStatus: posbridge.StatusAtTerminal, wantEvents: 2},
		{name: "step-fails-nothing-written", step: func(*posbridge.Order) error { return refuse }, wantErr: refuse},
		{name: "step-changes-nothing-creation-alone", step: func(*posbridge.Order) error { return posbridge.ErrNoChange }, wantStatus: posbridge.StatusCreated, wantEvents: 1},
		{name: "step-breaks-a-rule-nothing-written", step: func(o *posbridge.Order) error { o.Amount.Minor++; return nil }, wantCode: posbridge.EINVALID},
		{name: "idempotency-key-used-nothing-written", key: "used", step: toTerminal, wantErr: posbridge.ErrIdempotencyKeyUsed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, _, _ := MustOpen(t)
			ctx := context.Background()
			first := newOrder("1")
			first.IdempotencyKey = "used"
			MustCreate(t, db, first)
			before, err := db.LastSeq(ctx)
			if err != nil {
				t.Fatal(err)
			}
			o := newOrder("1")
			o.IdempotencyKey = tt.key
			created, changed, err := db.CreateOrderThen(ctx, o, cause, posbridge.OrderStep{Cause: send, Apply: tt.step})
			if tt.wantErr != nil || tt.wantCode != "" {
				var pe *posbridge.Error
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) || tt.wantCode != "" && (!errors.As(err, &pe) || pe.Code != tt.wantCode) {
					t.Fatalf("err %v, want %v%s", err, tt.wantErr, tt.wantCode)
				}
				if _, err := db.Order(ctx, o.No); !errors.Is(err, posbridge.ErrNotFound) {
					t.Fatalf("the order was stored although the write failed: %v", err)
				}
				if seq, _ := db.LastSeq(ctx); seq != before {
					t.Fatalf("events written although the write failed: seq %d → %d", before, seq)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := db.Order(ctx, o.No)
			if err != nil || got.Status != tt.wantStatus || o.Status != tt.wantStatus {
				t.Fatalf("stored %s (%v), returned %s, want %s", got.Status, err, o.Status, tt.wantStatus)
			}
			if created.Seq != before+1 {
				t.Fatalf("creation event seq %d, want %d", created.Seq, before+1)
			}
			seq, _ := db.LastSeq(ctx)
			audit, _ := db.Audit(ctx, o.No)
			if int(seq-before) != tt.wantEvents || len(audit) != tt.wantEvents {
				t.Fatalf("%d events and %d audit rows, want %d of each", seq-before, len(audit), tt.wantEvents)
			}
			if tt.wantEvents == 2 && (changed.Seq != before+2 || audit[1].Cause.Action != "send" || audit[1].To != posbridge.StatusAtTerminal) {
				t.Fatalf("second event seq %d, audit %+v", changed.Seq, audit)
			}
		})
	}
}
