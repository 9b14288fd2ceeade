package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/posbridge/posbridge"
)

// localLayout is how times are shown to a person: local time, to the second.
const localLayout = "2006-01-02 15:04:05"

func localTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(localLayout)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// termText makes stored text safe to print on a terminal: every control
// character (C0, DEL, C1), other unprintable rune (such as a bidirectional
// override) and invalid byte is written escaped, strconv.Quote style (ESC as
// \x1b, a newline as \n), so a reference or a name cannot move the cursor,
// recolour or retitle the operator's terminal or forge a line.
func termText(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case !unicode.IsPrint(r):
			q := strconv.QuoteRune(r) // e.g. '\x1b', '\n', '\u009b'
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// textOrDash is termText(s), or "-" for empty s.
func textOrDash(s string) string { return orDash(termText(s)) }

func writeOrderTable(w io.Writer, orders []posbridge.Order, more bool) error {
	if len(orders) == 0 {
		_, err := fmt.Fprintln(w, "no orders match")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ORDER_NO\tLANE\tAMOUNT\tCURRENCY\tSTATUS\tREASON\tNEEDS_ATTENTION\tCREATED_AT")
	for _, o := range orders {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", termText(string(o.No)), termText(o.Lane), o.Amount.Decimal(), termText(o.Amount.Currency),
			termText(string(o.Status)), textOrDash(string(o.Reason)), yesNo(o.NeedsAttention), localTime(o.CreatedAt))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	if more {
		_, err := fmt.Fprintf(w, "(more orders match: raise --limit, narrow the filters, or use \"orders export --csv\")\n")
		return err
	}
	return nil
}

// showOrder writes everything known about one order.
func showOrder(ctx context.Context, w io.Writer, s posbridge.Store, no posbridge.OrderNo) error {
	o, err := s.Order(ctx, no)
	if errors.Is(err, posbridge.ErrNotFound) {
		return fmt.Errorf("no such order %s", no)
	}
	if err != nil {
		return fmt.Errorf("read order %s: %w", no, err)
	}
	refunds, err := s.Refunds(ctx, no)
	if err != nil {
		return fmt.Errorf("read refunds of %s: %w", no, err)
	}
	audit, err := s.Audit(ctx, no)
	if err != nil {
		return fmt.Errorf("read audit of %s: %w", no, err)
	}
	for _, r := range refunds {
		ra, err := s.Audit(ctx, r.No)
		if err != nil {
			return fmt.Errorf("read audit of refund %s: %w", r.No, err)
		}
		audit = append(audit, ra...)
	}
	checks, err := s.Checks(ctx, no)
	if err != nil {
		return fmt.Errorf("read checks of %s: %w", no, err)
	}

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	field := func(name, value string) { fmt.Fprintf(tw, "%s\t%s\n", name, termText(value)) }
	field("Order", string(o.No))
	field("Instruction", posbridge.Instruction(o))
	field("Lane", o.Lane)
	field("Amount", o.Amount.String())
	field("Reference", orDash(o.Reference))
	field("Status", string(o.Status))
	field("Reason", orDash(string(o.Reason)))
	field("Terminal outcome", orDash(string(o.TerminalOutcome)))
	attention := yesNo(o.NeedsAttention)
	if o.NeedsAttention && o.Attention != "" {
		attention += ": " + o.Attention
	}
	field("Needs attention", attention)
	field("Gateway checks", strconv.Itoa(o.Checks))
	field("Terminal attempts", strconv.Itoa(o.Attempts))
	field("Next check", localTime(o.NextCheckAt))
	field("Verify until", localTime(o.VerifyUntil))
	field("Created", localTime(o.CreatedAt))
	field("Updated", localTime(o.UpdatedAt))
	field("Paid", localTime(o.PaidAt))
	card := "-"
	if o.Card.Brand != "" || o.Card.Last4 != "" {
		card = strings.TrimSpace(o.Card.Brand + " ending " + o.Card.Last4)
	}
	field("Card", card)
	refunded := o.Refunded
	if refunded.Currency == "" {
		refunded.Currency = o.Amount.Currency
	}
	field("Refunded", refunded.String())
	field("Gateway order", orDash(o.GatewayNo))
	field("Terminal txn", orDash(o.TerminalNo))
	field("Idempotency key", orDash(o.IdempotencyKey))
	if o.Override != nil {
		field("Override", fmt.Sprintf("by %s at %s: %s", termText(o.Override.By), localTime(o.Override.At), termText(o.Override.Reason)))
	}
	field("Version", strconv.FormatInt(o.Version, 10))
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write order: %w", err)
	}

	fmt.Fprintf(w, "\nRefunds (%d)\n", len(refunds))
	if len(refunds) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  REFUND_NO\tAMOUNT\tSTATUS\tBY\tREASON\tCREATED\tUPDATED")
		for _, r := range refunds {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", termText(string(r.No)), r.Amount, termText(string(r.Status)), textOrDash(r.Actor), textOrDash(r.Reason),
				localTime(r.CreatedAt), localTime(r.UpdatedAt))
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write refunds: %w", err)
		}
	}

	// One timeline: a status change reads best right after the check that
	// caused it.
	type entry struct {
		at   time.Time
		kind int // 0 audit, 1 check: at the same millisecond the check came first
		id   int64
		line string
	}
	var hist []entry
	for _, a := range audit {
		subject := ""
		if a.OrderNo != o.No {
			subject = "refund " + termText(string(a.OrderNo)) + " "
		}
		who := termText(string(a.Cause.Actor))
		if a.Cause.Who != "" {
			who += " (" + termText(a.Cause.Who) + ")"
		}
		move := termText(string(a.To))
		if a.From != "" && a.From != a.To {
			move = termText(string(a.From)) + " → " + move
		}
		hist = append(hist, entry{a.At, 1, a.ID, fmt.Sprintf("change\t%s%s\t%s\t%s\t%s",
			subject, move, who, textOrDash(a.Cause.Action), textOrDash(a.Cause.Detail))})
	}
	for _, c := range checks {
		result := c.Result
		if c.Err {
			result = "error: " + result
		}
		hist = append(hist, entry{c.At, 0, c.ID, fmt.Sprintf("check\t%s\t%s\t%s\t%s",
			termText(string(c.Kind)), textOrDash(c.Request), textOrDash(result), c.Latency.Round(time.Millisecond))})
	}
	slices.SortStableFunc(hist, func(a, b entry) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.kind, b.kind), cmp.Compare(a.id, b.id))
	})
	fmt.Fprintf(w, "\nHistory (%d changes, %d checks)\n", len(audit), len(checks))
	if len(hist) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  TIME\tWHAT\tCHANGE / CHECK\tBY / REQUEST\tACTION / RESULT\tWHY / LATENCY")
		for _, h := range hist {
			fmt.Fprintf(tw, "  %s\t%s\n", h.at.Local().Format("2006-01-02 15:04:05.000"), h.line)
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write history: %w", err)
		}
	}
	return nil
}
