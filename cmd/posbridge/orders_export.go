package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/posbridge/posbridge"
)

// csvHeader is the export's header row; csvRow writes the same columns.
var csvHeader = []string{
	"order_no", "lane", "amount", "currency", "status", "reason", "terminal_outcome",
	"needs_attention", "attention", "reference", "refunded", "checks", "attempts",
	"card_brand", "card_last4", "gateway_no", "terminal_no",
	"created_at", "updated_at", "paid_at",
}

// csvTimeLayout is RFC 3339 with milliseconds, the store's precision.
const csvTimeLayout = "2006-01-02T15:04:05.000Z07:00"

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(csvTimeLayout)
}

// csvText keeps a spreadsheet from running free text (the POS's reference)
// as a formula: a cell starting with = + - @ or a control character gets a
// leading apostrophe, as OWASP recommends for CSV exports.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func csvRow(o posbridge.Order) []string {
	refunded := o.Refunded
	if refunded.Currency == "" {
		refunded.Currency = o.Amount.Currency
	}
	return []string{
		string(o.No), csvText(o.Lane), o.Amount.Decimal(), o.Amount.Currency, string(o.Status), string(o.Reason),
		string(o.TerminalOutcome), strconv.FormatBool(o.NeedsAttention), csvText(o.Attention), csvText(o.Reference),
		refunded.Decimal(), strconv.Itoa(o.Checks), strconv.Itoa(o.Attempts),
		csvText(o.Card.Brand), o.Card.Last4, csvText(o.GatewayNo), csvText(o.TerminalNo),
		csvTime(o.CreatedAt), csvTime(o.UpdatedAt), csvTime(o.PaidAt),
	}
}

// exportOrders writes every order matching f (at most limit when > 0) as CSV
// to stdout, or to the file out: written beside it first and renamed into
// place, so a failed export never leaves half a file where a whole one was.
func exportOrders(ctx context.Context, stdout io.Writer, s posbridge.Store, f posbridge.OrderFilter, limit int, out string) (err error) {
	w := stdout
	var tmp *os.File
	if out != "" {
		tmp, err = os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.tmp")
		if err != nil {
			return fmt.Errorf("export to %s: %w", out, err)
		}
		defer func() {
			if err != nil {
				tmp.Close()
				os.Remove(tmp.Name())
			}
		}()
		w = tmp
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	n := 0
	err = eachOrder(ctx, s, f, func(o posbridge.Order) error {
		if limit > 0 && n == limit {
			return errStopPaging
		}
		n++
		return cw.Write(csvRow(o))
	})
	if err != nil {
		return err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	if tmp == nil {
		return nil
	}
	// CreateTemp made it 0600: the export holds order history like the database.
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("export to %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("export to %s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("export to %s: %w", out, err)
	}
	return nil
}
