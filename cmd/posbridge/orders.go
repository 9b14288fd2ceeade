package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/store"
)

const ordersUsage = `Usage:
  posbridge orders list   [filters] [--limit N] (--config FILE | --db PATH)
  posbridge orders show   ORDER_NO              (--config FILE | --db PATH)
  posbridge orders export --csv [--out FILE] [filters] (--config FILE | --db PATH)

Reads the order database named by the config's [store] path (or --db) and
never writes to it, so it is safe while the daemon runs.

  list    orders newest first as a table (at most --limit, default 50)
  show    one order: its fields, the cashier's instruction, its refunds, and
          its history (audit trail and gateway/terminal checks) in time order
  export  every order matching the filters as CSV with a header row; amounts
          are decimal strings, times RFC 3339 in UTC (--limit N: at most N)

Filters:
  --status S[,S]   only these statuses (created, at_terminal, verifying,
                   pending, paid, failed, canceled)
  --lane L         only lane L
  --from T         created at or after T
  --to T           created before T; T is RFC 3339 (2025-01-31T09:00:00Z) or a
                   local date (2025-01-31): --from starts at its midnight,
                   --to includes the whole day
  --attention      only orders that need a person's attention
`

// ordersPageSize is how many orders one ListOrders call asks for; tests
// lower it to exercise paging.
var ordersPageSize = store.MaxListLimit

// defaultOrdersLimit is how many orders "orders list" shows by default.
const defaultOrdersLimit = 50

// ordersFlags are the flags every "orders" subcommand accepts.
type ordersFlags struct {
	config    string
	db        string
	status    string
	lane      string
	from      string
	to        string
	attention bool
	limit     int
	csv       bool
	out       string
}

// runOrders runs "posbridge orders list|show|export".
func (m *Main) runOrders(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, ordersUsage)
		return errUsage
	}
	sub := args[0]
	switch sub {
	case "list", "show", "export":
	case "-h", "--help", "help":
		fmt.Fprint(m.Stdout, ordersUsage)
		return nil
	default:
		fmt.Fprintf(m.Stderr, "posbridge orders: unknown subcommand %q\n\n%s", sub, ordersUsage)
		return errUsage
	}
	var of ordersFlags
	fs := m.flagSet("orders "+sub, ordersUsage)
	fs.StringVar(&of.config, "config", "", "config file whose [store] path names the database")
	fs.StringVar(&of.db, "db", "", "database file to read instead of the config's")
	fs.StringVar(&of.status, "status", "", "only these statuses, comma-separated")
	fs.StringVar(&of.lane, "lane", "", "only this lane")
	fs.StringVar(&of.from, "from", "", "created at or after (RFC 3339 or YYYY-MM-DD)")
	fs.StringVar(&of.to, "to", "", "created before (RFC 3339) or on (YYYY-MM-DD)")
	fs.BoolVar(&of.attention, "attention", false, "only orders that need attention")
	fs.IntVar(&of.limit, "limit", 0, "at most this many orders (list: 50 by default; export: all)")
	fs.BoolVar(&of.csv, "csv", false, "export as CSV")
	fs.StringVar(&of.out, "out", "", "write the export to this file instead of stdout")
	pos, done, err := parseFlagsAnywhere(fs, args[1:])
	if done {
		return err
	}
	usageErr := m.usageError("orders " + sub)
	wantArgs := 0
	if sub == "show" {
		wantArgs = 1
	}
	if len(pos) != wantArgs {
		if wantArgs == 1 {
			return usageErr("want one ORDER_NO, got %d arguments (see \"posbridge orders -h\")", len(pos))
		}
		return usageErr("unexpected argument %q (see \"posbridge orders -h\")", pos[0])
	}
	if of.config == "" && of.db == "" {
		return usageErr("--config FILE or --db PATH is required")
	}
	f, err := of.filter(time.Local)
	if err != nil {
		return usageErr("%v", err)
	}
	if sub == "export" && !of.csv {
		return usageErr("--csv is required (CSV is the only export format)")
	}
	if sub != "export" && (of.csv || of.out != "") {
		return usageErr("--csv and --out belong to \"orders export\"")
	}
	var no posbridge.OrderNo
	if sub == "show" {
		if no, err = posbridge.ParseOrderNo(pos[0]); err != nil {
			return usageErr("%q: %v", pos[0], err)
		}
	}

	path := of.db
	if path == "" {
		c, err := loadConfigSections(of.config, "store")
		if err != nil {
			return err
		}
		path = c.Store.Path
	}
	db, err := openStoreForReading(path)
	if err != nil {
		return err
	}
	defer db.Close()

	switch sub {
	case "list":
		limit := of.limit
		if limit == 0 {
			limit = defaultOrdersLimit
		}
		orders, more, err := collectOrders(ctx, db, f, limit)
		if err != nil {
			return err
		}
		return writeOrderTable(m.Stdout, orders, more)
	case "show":
		return showOrder(ctx, m.Stdout, db, no)
	default:
		return exportOrders(ctx, m.Stdout, db, f, of.limit, of.out)
	}
}

// parseInterspersed parses flags that may come before or after positional
// arguments ("show NO --config FILE" as well as "show --config FILE NO"),
// which flag.Parse alone does not.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// filter turns the flags into a posbridge.OrderFilter; dates are days in loc.
func (of *ordersFlags) filter(loc *time.Location) (posbridge.OrderFilter, error) {
	var f posbridge.OrderFilter
	if of.status != "" {
		for _, s := range strings.Split(of.status, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			if !posbridge.Status(s).Valid() {
				names := make([]string, len(posbridge.Statuses))
				for i, v := range posbridge.Statuses {
					names[i] = string(v)
				}
				return f, fmt.Errorf("--status: unknown status %q: want one of %s", s, strings.Join(names, ", "))
			}
			f.Statuses = append(f.Statuses, posbridge.Status(s))
		}
	}
	f.Lane = of.lane
	var err error
	if f.From, err = parseTimeBound("--from", of.from, loc, false); err != nil {
		return f, err
	}
	if f.To, err = parseTimeBound("--to", of.to, loc, true); err != nil {
		return f, err
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, fmt.Errorf("--from %s is not before --to %s", of.from, of.to)
	}
	if of.attention {
		t := true
		f.NeedsAttention = &t
	}
	if of.limit < 0 {
		return f, fmt.Errorf("--limit %d: must not be negative", of.limit)
	}
	return f, nil
}

// parseTimeBound parses an RFC 3339 time or a YYYY-MM-DD day in loc. A day
// given as an upper bound means the end of that day, so that "--to
// 2025-01-31" includes the 31st.
func parseTimeBound(name, s string, loc *time.Location, upper bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: want an RFC 3339 time (2025-01-31T09:00:00Z) or a date (2025-01-31)", name, s)
	}
	if upper {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}

// loadConfigSections loads the config file at path and refuses it only for
// mistakes in the named sections (or ones that make the whole file
// unreadable): a tool that reads the database must work while, say, the
// terminal named in [[lane]] is unplugged.
func loadConfigSections(path string, sections ...string) (*Config, error) {
	c, err := LoadConfig(path)
	if err != nil {
		return nil, err
	}
	var errs ConfigErrors
	for _, e := range c.Check() {
		relevant := c.incomplete || e.Key == ""
		for _, s := range sections {
			if e.Key == s || strings.HasPrefix(e.Key, s+".") {
				relevant = true
			}
		}
		if relevant {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

// openStoreForReading opens an existing database. store.Open would create a
// missing file, which would hide a wrong path behind an empty list.
func openStoreForReading(path string) (*store.DB, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("no database at %s: check [store] path or --db", path)
	case err != nil:
		return nil, fmt.Errorf("open database: %w", err)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a database file", path)
	}
	// The store's own logs (migrations) would only be noise on a terminal.
	db, err := store.OpenOptions(path, store.Options{Logger: NewLogger(LogConfig{Level: "error"}, io.Discard, false)})
	if err != nil {
		return nil, err
	}
	return db, nil
}

// collectOrders pages through ListOrders until limit orders (0: all) are
// collected; more reports whether further orders match.
func collectOrders(ctx context.Context, s posbridge.Store, f posbridge.OrderFilter, limit int) (orders []posbridge.Order, more bool, err error) {
	err = eachOrder(ctx, s, f, func(o posbridge.Order) error {
		if limit > 0 && len(orders) == limit {
			more = true
			return errStopPaging
		}
		orders = append(orders, o)
		return nil
	})
	return orders, more, err
}

// errStopPaging ends eachOrder early without an error.
var errStopPaging = errors.New("stop paging")

// eachOrder calls fn for every order matching f, newest first, one page at a
// time. The cursor is a position in (created_at, order_no), so orders the
// daemon creates meanwhile neither shift nor repeat a page.
func eachOrder(ctx context.Context, s posbridge.Store, f posbridge.OrderFilter, fn func(posbridge.Order) error) error {
	f.Limit = ordersPageSize
	f.Cursor = ""
	for {
		page, err := s.ListOrders(ctx, f)
		if err != nil {
			return fmt.Errorf("list orders: %w", err)
		}
		for _, o := range page.Orders {
			if err := fn(o); err != nil {
				if errors.Is(err, errStopPaging) {
					return nil
				}
				return err
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		f.Cursor = page.NextCursor
	}
}
