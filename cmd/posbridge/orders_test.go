package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/store"
)

// ordersFixture is a database with three orders made through the store API
// the way the engine makes them, and a valid config file that names it.
type ordersFixture struct {
	dir, config, db string
	t0              time.Time
	// paid is paid and partly refunded; declined failed on the terminal;
	// late was canceled, then proved paid (needs attention).
	paid, declined, late posbridge.Order
}

// testConfig is a complete, valid config (as "config check" wants it) with
// the given [api] and [store] lines; its key files are created beside it.
func writeTestConfig(t *testing.T, dir, api, storePath string) string {
	t.Helper()
	copyTestKeys(t, dir)
	cfg := "[api]\n" + api + "\n\n[notify]\nlisten = \"127.0.0.1:0\"\n\n[store]\npath = \"" + storePath + "\"\n\n" +
		"[gateway]\nkind = \"payby\"\nbase_url = \"https://uat.test2pay.com/sgs/api\"\npartner_id = \"200000000123\"\n" +
		"merchant_private_key = \"merchant.pem\"\ngateway_public_key = \"gateway.pem\"\n\n" +
		"[[lane]]\nid = \"1\"\nport = \"auto\"\nvid = \"1a86\"\napp_id = \"P1\"\n"
	path := filepath.Join(dir, "posbridge.toml")
	mustWrite(t, path, cfg)
	if _, err := LoadCheckedConfig(path); err != nil {
		t.Fatalf("test config is not valid: %v", err)
	}
	return path
}

func newOrdersFixture(t *testing.T) *ordersFixture {
	t.Helper()
	dir := t.TempDir()
	f := &ordersFixture{
		dir: dir,
		db:  filepath.Join(dir, "posbridge.db"),
		t0:  time.Date(2025, 3, 10, 9, 0, 0, 0, time.Local),
	}
	now := f.t0
	db, err := store.OpenOptions(f.db, store.Options{Now: func() time.Time { return now }, Logger: NewLogger(LogConfig{Level: "error"}, io.Discard, false)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	step := func(d time.Duration) { now = now.Add(d) }
	aed := func(s string) posbridge.Money {
		m, err := posbridge.ParseAmount(s, "AED")
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	create := func(no, lane, amount, ref string) {
		o := posbridge.Order{No: posbridge.OrderNo(no), Lane: lane, Amount: aed(amount), Reference: ref, CreatedAt: now}
		if _, err := db.CreateOrder(ctx, &o, posbridge.Cause{Actor: posbridge.ActorAPI, Who: "127.0.0.1:50000", Action: "pay"}); err != nil {
			t.Fatalf("create %s: %v", no, err)
		}
	}
	apply := func(no string, actor posbridge.Actor, detail string, in posbridge.Input, edit func(*posbridge.Order)) posbridge.Order {
		step(time.Second)
		o, _, err := db.UpdateOrder(ctx, posbridge.OrderNo(no), posbridge.Cause{Actor: actor, Action: in.String(), Detail: detail},
			func(o *posbridge.Order) error {
				if _, err := o.Apply(in, now); err != nil {
					return err
				}
				if edit != nil {
					edit(o)
				}
				return nil
			})
		if err != nil {
			t.Fatalf("%s on %s: %v", in, no, err)
		}
		return o
	}
	check := func(no string, kind posbridge.CheckKind, result string, failed bool) {
		step(time.Second)
		if err := db.RecordCheck(ctx, posbridge.Check{OrderNo: posbridge.OrderNo(no), Kind: kind, At: now,
			Request: "query " + no, Result: result, Err: failed, Latency: 120 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}

	// Paid, then 5.00 of it refunded.
	create("20250310090000000A1PAID", "1", "12.50", "R-1001")
	apply("20250310090000000A1PAID", posbridge.ActorEngine, "sent", posbridge.Input{Kind: posbridge.InputSend}, func(o *posbridge.Order) { o.Attempts = 1 })
	apply("20250310090000000A1PAID", posbridge.ActorTerminal, "code 0", posbridge.Input{Kind: posbridge.InputTerminal, Outcome: posbridge.OutcomeApproved},
		func(o *posbridge.Order) { o.Card = posbridge.Card{Brand: "VISA", Last4: "4242"} })
	check("20250310090000000A1PAID", posbridge.CheckQuery, "SETTLED", false)
	apply("20250310090000000A1PAID", posbridge.ActorGatewayQuery, "SETTLED", posbridge.Input{Kind: posbridge.InputGatewayPaid},
		func(o *posbridge.Order) { o.Checks = 1; o.GatewayNo = "PB123" })
	step(time.Second)
	ref := posbridge.Refund{No: "20250310090005000RF1", OrderNo: "20250310090000000A1PAID", Amount: aed("5.00"), Actor: "cashier:Mona", Reason: "returned item"}
	if _, err := db.CreateRefund(ctx, &ref, posbridge.Cause{Actor: posbridge.ActorCashier, Who: "Mona", Action: "refund", Detail: "returned item"}); err != nil {
		t.Fatal(err)
	}
	step(time.Second)
	if _, _, err := db.UpdateRefund(ctx, ref.No, posbridge.Cause{Actor: posbridge.ActorGatewayQuery, Action: "refund query", Detail: "SUCCESS"},
		func(r *posbridge.Refund) error { r.Status = posbridge.RefundSucceeded; return nil }); err != nil {
		t.Fatal(err)
	}

	// Declined on lane 2, a minute later.
	now = f.t0.Add(time.Minute)
	create("20250310090100000A2DECL", "2", "7.25", "R-1002")
	apply("20250310090100000A2DECL", posbridge.ActorEngine, "sent", posbridge.Input{Kind: posbridge.InputSend}, nil)
	apply("20250310090100000A2DECL", posbridge.ActorTerminal, "code 51", posbridge.Input{Kind: posbridge.InputTerminal, Outcome: posbridge.OutcomeDeclined}, nil)
	apply("20250310090100000A2DECL", posbridge.ActorGatewayQuery, "gateway says failed", posbridge.Input{Kind: posbridge.InputGatewayFailed, Reason: posbridge.ReasonDeclined}, nil)

	// Lost, canceled when the checks ran out, then proved paid. Its
	// reference would run as a formula in a spreadsheet.
	now = f.t0.Add(2 * time.Minute)
	create("20250310090200000A1LATE", "1", "100", "=HYPERLINK(\"x\")")
	apply("20250310090200000A1LATE", posbridge.ActorEngine, "sent", posbridge.Input{Kind: posbridge.InputSend}, nil)
	apply("20250310090200000A1LATE", posbridge.ActorTerminal, "no answer", posbridge.Input{Kind: posbridge.InputTerminal, Outcome: posbridge.OutcomeTimeout}, nil)
	check("20250310090200000A1LATE", posbridge.CheckQuery, "gateway timeout", true)
	apply("20250310090200000A1LATE", posbridge.ActorEngine, "cashier wait over", posbridge.Input{Kind: posbridge.InputWaitOver}, nil)
	check("20250310090200000A1LATE", posbridge.CheckCancel, "CLOSED", false)
	apply("20250310090200000A1LATE", posbridge.ActorReconciler, "checks ran out", posbridge.Input{Kind: posbridge.InputCanceled, Reason: posbridge.ReasonExpired}, nil)
	apply("20250310090200000A1LATE", posbridge.ActorNotification, "PAID notification", posbridge.Input{Kind: posbridge.InputGatewayPaid}, nil)

	for _, p := range []struct {
		no  posbridge.OrderNo
		dst *posbridge.Order
	}{{"20250310090000000A1PAID", &f.paid}, {"20250310090100000A2DECL", &f.declined}, {"20250310090200000A1LATE", &f.late}} {
		if *p.dst, err = db.Order(ctx, p.no); err != nil {
			t.Fatal(err)
		}
	}
	if f.paid.Status != posbridge.StatusPaid || f.paid.Refunded != aed("5.00") || f.declined.Status != posbridge.StatusFailed ||
		f.late.Status != posbridge.StatusPaid || !f.late.NeedsAttention {
		t.Fatalf("fixture orders are not as meant: %+v\n%+v\n%+v", f.paid, f.declined, f.late)
	}
	f.config = writeTestConfig(t, dir, `listen = "127.0.0.1:8080"`, "posbridge.db")
	return f
}

// run runs posbridge with args and returns its stdout, stderr and error.
func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errOut}
	err := m.Run(context.Background(), args)
	return out.String(), errOut.String(), err
}

// listedOrders returns the first column of the table's rows.
func listedOrders(out string) []string {
	var nos []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] == "ORDER_NO" || strings.HasPrefix(fields[0], "(") || line == "no orders match" {
			continue
		}
		nos = append(nos, fields[0])
	}
	return nos
}

func TestOrders_List(t *testing.T) {
	f := newOrdersFixture(t)
	paid, decl, late := string(f.paid.No), string(f.declined.No), string(f.late.No)
	day := f.t0.Format(time.DateOnly)
	for _, tt := range []struct {
		name string
		args []string
		want []string
		more bool
	}{
		{"all, newest first", nil, []string{late, decl, paid}, false},
		{"one status", []string{"--status", "paid"}, []string{late, paid}, false},
		{"two statuses", []string{"--status", "failed,canceled"}, []string{decl}, false},
		{"lane", []string{"--lane", "2"}, []string{decl}, false},
		{"unknown lane", []string{"--lane", "9"}, nil, false},
		{"attention", []string{"--attention"}, []string{late}, false},
		{"from RFC 3339", []string{"--from", f.t0.Add(30 * time.Second).Format(time.RFC3339)}, []string{late, decl}, false},
		{"to RFC 3339 is exclusive", []string{"--to", f.t0.Add(time.Minute).Format(time.RFC3339)}, []string{paid}, false},
		{"to a date includes the day", []string{"--from", day, "--to", day}, []string{late, decl, paid}, false},
		{"the day before", []string{"--to", f.t0.AddDate(0, 0, -1).Format(time.DateOnly)}, nil, false},
		{"limit", []string{"--limit", "2"}, []string{late, decl}, true},
		{"limit and filter", []string{"--status", "paid", "--limit", "1"}, []string{late}, true},
		{"db instead of config", []string{"--db", f.db, "--lane", "1"}, []string{late, paid}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"orders", "list"}, tt.args...)
			if !slices.Contains(tt.args, "--db") {
				args = append(args, "--config", f.config)
			}
			out, errOut, err := run(t, args...)
			if err != nil {
				t.Fatalf("orders list %v: %v\n%s", tt.args, err, errOut)
			}
			if got := listedOrders(out); !slices.Equal(got, tt.want) {
				t.Errorf("listed %v, want %v\n%s", got, tt.want, out)
			}
			if got := strings.Contains(out, "more orders match"); got != tt.more {
				t.Errorf("more-orders note shown = %v, want %v\n%s", got, tt.more, out)
			}
			if len(tt.want) == 0 && !strings.Contains(out, "no orders match") {
				t.Errorf("empty list printed %q, want \"no orders match\"", out)
			}
		})
	}
}

func TestOrders_ListColumns(t *testing.T) {
	f := newOrdersFixture(t)
	out, _, err := run(t, "orders", "list", "--config", f.config, "--lane", "2")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want a header and one row, got:\n%s", out)
	}
	if got, want := strings.Fields(lines[0]), []string{"ORDER_NO", "LANE", "AMOUNT", "CURRENCY", "STATUS", "REASON", "NEEDS_ATTENTION", "CREATED_AT"}; !slices.Equal(got, want) {
		t.Errorf("header %v, want %v", got, want)
	}
	created := f.declined.CreatedAt.Local().Format(localLayout)
	want := []string{string(f.declined.No), "2", "7.25", "AED", "failed", "declined", "no"}
	want = append(want, strings.Fields(created)...)
	if got := strings.Fields(lines[1]); !slices.Equal(got, want) {
		t.Errorf("row %v, want %v", got, want)
	}
}

func TestOrders_Show(t *testing.T) {
	f := newOrdersFixture(t)
	// The order number after the flags and before them both work.
	for _, args := range [][]string{
		{"orders", "show", string(f.paid.No), "--config", f.config},
		{"orders", "show", "--config", f.config, string(f.paid.No)},
	} {
		out, errOut, err := run(t, args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errOut)
		}
		for _, want := range []string{
			"Order              " + string(f.paid.No),
			"Instruction        Payment successful",
			"Amount             12.50 AED",
			"Reference          R-1001",
			"Status             paid",
			"Terminal outcome   approved",
			"Card               VISA ending 4242",
			"Refunded           5.00 AED",
			"Gateway order      PB123",
			"Refunds (1)",
			"20250310090005000RF1  5.00 AED  succeeded  cashier:Mona  returned item",
			"History (7 changes, 1 checks)",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("show lacks %q:\n%s", want, out)
			}
		}
		// The history is in time order: the query comes before the change it
		// caused. Columns are compared with single spaces.
		flat := flatten(out)
		var order []string
		for _, marker := range []string{"api (127.0.0.1:50000)", "created → at_terminal", "at_terminal → verifying",
			"check query query " + string(f.paid.No) + " SETTLED 120ms", "verifying → paid", "refund 20250310090005000RF1 requested cashier (Mona)",
			"refund 20250310090005000RF1 requested → succeeded"} {
			i := strings.Index(flat, marker)
			if i < 0 {
				t.Fatalf("history lacks %q:\n%s", marker, out)
			}
			order = append(order, flat[i:])
		}
		for i := 1; i < len(order); i++ {
			if len(order[i]) >= len(order[i-1]) {
				t.Errorf("history out of order near %q:\n%s", strings.SplitN(order[i], "\n", 2)[0], out)
			}
		}
	}
}

// flatten collapses the runs of spaces tabwriter pads columns with.
func flatten(out string) string {
	var norm []string
	for _, line := range strings.Split(out, "\n") {
		norm = append(norm, strings.Join(strings.Fields(line), " "))
	}
	return strings.Join(norm, "\n")
}

func TestOrders_ShowAttention(t *testing.T) {
	f := newOrdersFixture(t)
	out, _, err := run(t, "orders", "show", string(f.late.No), "--config", f.config)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Instruction Payment successful — it was confirmed late; tell the supervisor",
		"Needs attention yes: paid_after_close",
		"Refunds (0)",
		"check query query " + string(f.late.No) + " error: gateway timeout 120ms",
		"change pending → canceled reconciler canceled checks ran out",
		"change canceled → paid notification gateway_paid PAID notification",
	} {
		if !strings.Contains(flatten(out), want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
}

// readCSV parses an export back and returns its header and rows.
func readCSV(t *testing.T, data string) ([]string, [][]string) {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("export is not CSV: %v\n%s", err, data)
	}
	if len(recs) == 0 {
		t.Fatal("export is empty, want at least a header")
	}
	return recs[0], recs[1:]
}

func TestOrders_ExportCSV(t *testing.T) {
	f := newOrdersFixture(t)
	// Pages of two make three orders take two ListOrders calls.
	defer func(n int) { ordersPageSize = n }(ordersPageSize)
	ordersPageSize = 2

	out, errOut, err := run(t, "orders", "export", "--csv", "--config", f.config)
	if err != nil {
		t.Fatalf("export: %v\n%s", err, errOut)
	}
	header, rows := readCSV(t, out)
	if !slices.Equal(header, csvHeader) {
		t.Fatalf("header %v, want %v", header, csvHeader)
	}
	want := []posbridge.Order{f.late, f.declined, f.paid}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d:\n%s", len(rows), len(want), out)
	}
	col := func(row []string, name string) string { return row[slices.Index(header, name)] }
	for i, o := range want {
		row := rows[i]
		if got := col(row, "order_no"); got != string(o.No) {
			t.Errorf("row %d is %s, want %s", i, got, o.No)
			continue
		}
		m, err := posbridge.ParseMoney(col(row, "amount"), col(row, "currency"))
		if err != nil || m != o.Amount {
			t.Errorf("%s: amount %q %q = %v (%v), want %v", o.No, col(row, "amount"), col(row, "currency"), m, err, o.Amount)
		}
		created, err := time.Parse(time.RFC3339, col(row, "created_at"))
		if err != nil || !created.Equal(o.CreatedAt) || !strings.HasSuffix(col(row, "created_at"), "Z") {
			t.Errorf("%s: created_at %q, want %s in UTC", o.No, col(row, "created_at"), o.CreatedAt)
		}
		if got := col(row, "paid_at"); (got == "") != o.PaidAt.IsZero() {
			t.Errorf("%s: paid_at %q, order paid at %v", o.No, got, o.PaidAt)
		}
		if col(row, "status") != string(o.Status) || col(row, "reason") != string(o.Reason) ||
			col(row, "needs_attention") != map[bool]string{true: "true", false: "false"}[o.NeedsAttention] {
			t.Errorf("%s: status/reason/attention %v, want %s %s %v", o.No, row, o.Status, o.Reason, o.NeedsAttention)
		}
	}
	if got := col(rows[2], "refunded"); got != "5.00" {
		t.Errorf("refunded %q, want 5.00", got)
	}
	if got := col(rows[0], "reference"); got != `'=HYPERLINK("x")` {
		t.Errorf("a formula-like reference was exported as %q, want it quoted with '", got)
	}
}

func TestOrders_ExportFiltersAndFile(t *testing.T) {
	f := newOrdersFixture(t)
	defer func(n int) { ordersPageSize = n }(ordersPageSize)
	ordersPageSize = 1
	outFile := filepath.Join(f.dir, "export.csv")
	stdout, errOut, err := run(t, "orders", "export", "--csv", "--status", "paid", "--out", outFile, "--config", f.config)
	if err != nil {
		t.Fatalf("export: %v\n%s", err, errOut)
	}
	if stdout != "" {
		t.Errorf("export to a file printed %q", stdout)
	}
	data, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	_, rows := readCSV(t, string(data))
	var got []string
	for _, r := range rows {
		got = append(got, r[0])
	}
	if want := []string{string(f.late.No), string(f.paid.No)}; !slices.Equal(got, want) {
		t.Errorf("exported %v, want %v", got, want)
	}
	if fi, err := os.Stat(outFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("export file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(f.dir, ".export.csv.*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestOrders_Errors(t *testing.T) {
	f := newOrdersFixture(t)
	missing := filepath.Join(f.dir, "nothing-here.db")
	for _, tt := range []struct {
		name  string
		args  []string
		usage bool   // a command-line mistake: errUsage, exit status 2
		want  string // in the error or on stderr
	}{
		{"unknown order", []string{"show", "20250101000000000X1ABCDEFGHIJ", "--config", f.config}, false, "no such order 20250101000000000X1ABCDEFGHIJ"},
		{"invalid order number", []string{"show", "no/such", "--config", f.config}, true, "invalid order number"},
		{"show without a number", []string{"show", "--config", f.config}, true, "want one ORDER_NO"},
		{"bad status", []string{"list", "--status", "paid,refunded", "--config", f.config}, true, `unknown status "refunded"`},
		{"bad from", []string{"list", "--from", "yesterday", "--config", f.config}, true, `--from "yesterday": want an RFC 3339 time`},
		{"from after to", []string{"list", "--from", "2025-03-11", "--to", "2025-03-10", "--config", f.config}, true, "is not before --to"},
		{"negative limit", []string{"list", "--limit", "-1", "--config", f.config}, true, "must not be negative"},
		{"no config", []string{"list"}, true, "--config FILE or --db PATH is required"},
		{"export without --csv", []string{"export", "--config", f.config}, true, "--csv is required"},
		{"unknown subcommand", []string{"delete", "--config", f.config}, true, `unknown subcommand "delete"`},
		{"missing database", []string{"list", "--db", missing}, false, "no database at " + missing},
		{"missing config", []string{"list", "--config", filepath.Join(f.dir, "nope.toml")}, false, "open config"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, err := run(t, append([]string{"orders"}, tt.args...)...)
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, errUsage); got != tt.usage {
				t.Errorf("usage error = %v, want %v (%v)", got, tt.usage, err)
			}
			if !strings.Contains(err.Error()+errOut, tt.want) {
				t.Errorf("error %q, stderr %q; want %q", err, errOut, tt.want)
			}
		})
	}
	// Reading never creates a database where none was.
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("orders created %s (%v)", missing, err)
	}
}

// TestOrders_ConfigMistakesElsewhere: a mistake outside [store] (a lane
// whose terminal is unplugged) does not keep IT from reading the orders, but
// one in [store] does, with its line.
func TestOrders_ConfigMistakesElsewhere(t *testing.T) {
	f := newOrdersFixture(t)
	data, err := os.ReadFile(f.config)
	if err != nil {
		t.Fatal(err)
	}
	unplugged := strings.Replace(string(data), `port = "auto"`, `port = "/dev/no-such-terminal"`, 1)
	mustWrite(t, f.config, unplugged)
	if _, err := LoadCheckedConfig(f.config); err == nil {
		t.Fatal("the config with a missing port should have a mistake")
	}
	out, _, err := run(t, "orders", "list", "--config", f.config)
	if err != nil || len(listedOrders(out)) != 3 {
		t.Fatalf("list with an unplugged lane: %v\n%s", err, out)
	}

	mustWrite(t, f.config, strings.Replace(unplugged, `path = "posbridge.db"`, `path = 42`, 1))
	_, _, err = run(t, "orders", "list", "--config", f.config)
	var ce ConfigErrors
	if !errors.As(err, &ce) || len(ce) != 1 || ce[0].Key != "store.path" || ce[0].Line == 0 {
		t.Fatalf("list with a bad [store] path: %v, want one mistake at store.path with its line", err)
	}
}

// TestOrders_ReadOnly: listing, showing and exporting leave the database as
// it was: no event, no audit row, no changed order.
func TestOrders_ReadOnly(t *testing.T) {
	f := newOrdersFixture(t)
	state := func() (int64, []posbridge.AuditEntry) {
		db, err := store.Open(f.db)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		seq, err := db.LastSeq(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		audit, err := db.Audit(context.Background(), f.late.No)
		if err != nil {
			t.Fatal(err)
		}
		return seq, audit
	}
	seq0, audit0 := state()
	for _, args := range [][]string{
		{"orders", "list", "--config", f.config},
		{"orders", "show", string(f.late.No), "--config", f.config},
		{"orders", "export", "--csv", "--config", f.config},
	} {
		if _, errOut, err := run(t, args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errOut)
		}
	}
	if seq, audit := state(); seq != seq0 || len(audit) != len(audit0) {
		t.Errorf("after reading: last seq %d (was %d), %d audit rows (were %d)", seq, seq0, len(audit), len(audit0))
	}
}

func TestParseTimeBound(t *testing.T) {
	loc := time.FixedZone("GST", 4*3600)
	for _, tt := range []struct {
		in    string
		upper bool
		want  time.Time
		bad   bool
	}{
		{"2025-03-10T09:00:00Z", false, time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC), false},
		{"2025-03-10T09:00:00+04:00", true, time.Date(2025, 3, 10, 5, 0, 0, 0, time.UTC), false},
		{"2025-03-10", false, time.Date(2025, 3, 10, 0, 0, 0, 0, loc), false},
		{"2025-03-10", true, time.Date(2025, 3, 11, 0, 0, 0, 0, loc), false},
		{"2025-02-30", false, time.Time{}, true},
		{"10/03/2025", false, time.Time{}, true},
		{"2025-03-10 09:00", false, time.Time{}, true},
	} {
		got, err := parseTimeBound("--from", tt.in, loc, tt.upper)
		if (err != nil) != tt.bad || !got.Equal(tt.want) {
			t.Errorf("parseTimeBound(%q, upper=%v) = %v, %v; want %v (error %v)", tt.in, tt.upper, got, err, tt.want, tt.bad)
		}
	}
}

// Text stored before the API refused control characters (or written by
// anything else) must not reach the operator's terminal as escape sequences.
func TestOrders_EscapesControlCharacters(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "posbridge.db")
	db, err := store.OpenOptions(dbPath, store.Options{Logger: NewLogger(LogConfig{Level: "error"}, io.Discard, false)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const no = "20250310090000000A1EVIL"
	o := posbridge.Order{No: no, Lane: "1", Amount: posbridge.Money{Minor: 500, Currency: "AED"}, Reference: "R\x1b[2J\x1b[31m1001\nPAID"}
	if _, err := db.CreateOrder(ctx, &o, posbridge.Cause{Actor: posbridge.ActorCashier, Who: "Mo\x1b]0;owned\x07na", Action: "pay", Detail: "x\u009b31my"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.UpdateOrder(ctx, no, posbridge.Cause{Actor: posbridge.ActorEngine, Action: "override"}, func(o *posbridge.Order) error {
		o.Override = &posbridge.Override{By: "Sam\x1b[8m", Reason: "seen\x7f\r"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	cfg := writeTestConfig(t, dir, `listen = "127.0.0.1:8080"`, "posbridge.db")

	for _, args := range [][]string{{"orders", "show", no, "--config", cfg}, {"orders", "list", "--config", cfg}} {
		out, errOut, err := run(t, args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errOut)
		}
		for i, r := range out {
			if (r < 0x20 && r != '\n') || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
				t.Fatalf("%v printed control character %U at byte %d:\n%q", args, r, i, out)
			}
		}
		if args[1] == "show" {
			for _, want := range []string{`R\x1b[2J\x1b[31m1001\nPAID`, `Mo\x1b]0;owned\ana`, `x\u009b31my`, `Sam\x1b[8m`, `seen\x7f\r`} {
				if !strings.Contains(out, want) {
					t.Errorf("show does not print %s escaped:\n%s", want, out)
				}
			}
		}
	}
}
