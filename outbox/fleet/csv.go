package fleet

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"
)

// CSVHeader is the first row of WriteCSV: one column per field, money in
// minor units beside its currency, times RFC 3339 UTC.
var CSVHeader = []string{"merchant", "store", "till", "order_no", "lane", "status", "reason", "amount_minor", "currency",
	"refunded_minor", "reference", "card_brand", "card_last4", "gateway_no", "needs_attention", "attention",
	"created_at", "updated_at", "paid_at", "version"}

// WriteCSV writes orders as CSV for the accountant. A field starting with
// '=', '+', '-' or '@' (a formula to a spreadsheet) is written with a
// leading apostrophe.
func WriteCSV(w io.Writer, orders []Order) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	for _, o := range orders {
		paid := ""
		if o.PaidAt != nil {
			paid = ts(*o.PaidAt)
		}
		row := []string{o.Merchant, o.Store, o.Till, o.No, o.Lane, o.Status, o.Reason,
			strconv.FormatInt(o.AmountMinor, 10), o.Currency, strconv.FormatInt(o.RefundedMinor, 10),
			o.Reference, o.CardBrand, o.CardLast4, o.GatewayNo, strconv.FormatBool(o.NeedsAttention), o.Attention,
			ts(o.CreatedAt), ts(o.UpdatedAt), paid, strconv.FormatInt(o.Version, 10)}
		for i, f := range row {
			if f != "" && (f[0] == '=' || f[0] == '+' || f[0] == '-' || f[0] == '@') {
				row[i] = "'" + f
			}
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}
