package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/outbox"
	"github.com/posbridge/posbridge/outbox/fleet"
)

const fleetUsage = `Usage:
  posbridge fleet run --url URL --db FILE [flags]
  posbridge fleet orders --db FILE [--attention] [--till TILL]
  posbridge fleet tills --db FILE
  posbridge fleet export --db FILE [--till TILL] [--out FILE.csv]

Head office's view of every till. run is a durable JetStream consumer that
folds every till's events ([outbox] on the tills) into the fleet database FILE
(SQLite): the latest state of every order and refund of every till. It
acknowledges a batch only after its own commit, and applies each event (till
and seq) once, so a restart or a redelivery changes nothing twice. It runs
until interrupted.

orders lists the orders (--attention: only those a person must look at),
tills lists every till with its last event and when it arrived, export
writes the orders as CSV for the accountant (to stdout, or --out).

Flags of run:
  --url URL          the NATS server(s), nats:// or tls://
  --creds FILE       a NATS credentials file
  --nkey FILE        a file with an NKey seed
  --tls-ca FILE      a CA to trust; --tls-cert and --tls-key: a client certificate
  --stream NAME      the tills' stream (POSBRIDGE)
  --prefix PREFIX    the tills' subject prefix (posbridge)
  --durable NAME     the consumer's durable name (posbridge-fleet)
`

// runFleet runs "posbridge fleet SUBCOMMAND".
func (m *Main) runFleet(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(m.Stderr, fleetUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	fs := m.flagSet("fleet "+args[0], fleetUsage)
	dbPath := fs.String("db", "", "the fleet database file")
	var (
		cc                  outbox.ConnConfig
		stream, prefix, dur string
		attention           bool
		till, out           string
	)
	switch args[0] {
	case "run":
		fs.StringVar(&cc.URL, "url", "", "")
		fs.StringVar(&cc.CredsFile, "creds", "", "")
		fs.StringVar(&cc.NKeySeedFile, "nkey", "", "")
		fs.StringVar(&cc.CAFile, "tls-ca", "", "")
		fs.StringVar(&cc.CertFile, "tls-cert", "", "")
		fs.StringVar(&cc.KeyFile, "tls-key", "", "")
		fs.StringVar(&stream, "stream", outbox.DefaultStream, "")
		fs.StringVar(&prefix, "prefix", outbox.DefaultPrefix, "")
		fs.StringVar(&dur, "durable", fleet.DefaultDurable, "")
	case "orders":
		fs.BoolVar(&attention, "attention", false, "")
		fs.StringVar(&till, "till", "", "")
	case "tills":
	case "export":
		fs.StringVar(&till, "till", "", "")
		fs.StringVar(&out, "out", "", "")
	default:
		fmt.Fprintf(m.Stderr, "posbridge fleet: unknown subcommand %q\n\n%s", args[0], fleetUsage)
		return errUsage
	}
	if done, err := parseFlags(fs, args[1:]); done {
		return err
	}
	if *dbPath == "" || fs.NArg() != 0 || (args[0] == "run" && cc.URL == "") {
		fmt.Fprintf(m.Stderr, "posbridge fleet %s: --db is required (and --url for run)\n\n%s", args[0], fleetUsage)
		return errUsage
	}
	if args[0] != "run" {
		if _, err := os.Stat(*dbPath); err != nil {
			return fmt.Errorf("fleet db: %w", err)
		}
	}
	db, err := fleet.OpenDB(*dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	switch args[0] {
	case "run":
		return m.runFleetConsumer(ctx, db, fleet.Config{Conn: cc, Stream: stream, Prefix: prefix, Durable: dur})
	case "orders":
		orders, err := db.Orders(ctx, fleet.Filter{Till: till, Attention: attention})
		if err != nil {
			return err
		}
		return writeFleetOrders(m.Stdout, orders)
	case "tills":
		tills, err := db.Tills(ctx)
		if err != nil {
			return err
		}
		return writeFleetTills(m.Stdout, tills, time.Now())
	default: // export
		orders, err := db.Orders(ctx, fleet.Filter{Till: till})
		if err != nil {
			return err
		}
		if out == "" {
			return fleet.WriteCSV(m.Stdout, orders)
		}
		f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if err := fleet.WriteCSV(f, orders); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
}

// runFleetConsumer folds until ctx ends, logging progress every minute.
func (m *Main) runFleetConsumer(ctx context.Context, db *fleet.DB, cfg fleet.Config) error {
	logger := NewLogger(LogConfig{Level: DefaultLogLevel, Format: DefaultLogFormat}, m.Stderr, true)
	cfg.Logger = logger
	c := fleet.New(db, cfg)
	if err := c.Open(ctx); err != nil {
		return err
	}
	logger.Info("fleet consumer running", "stream", cfg.Stream, "durable", cfg.Durable)
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			st := c.Stats()
			logger.Info("fleet consumer stopping", "applied", st.Applied, "duplicates", st.Duplicates, "rejected", st.Rejected)
			return c.Close()
		case <-c.Done():
			c.Close()
			return c.Err()
		case <-tick.C:
			st := c.Stats()
			logger.Info("fleet consumer progress", "applied", st.Applied, "duplicates", st.Duplicates, "rejected", st.Rejected)
		}
	}
}

func writeFleetOrders(w io.Writer, orders []fleet.Order) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TILL\tORDER\tSTATUS\tAMOUNT\tREFUNDED\tCREATED\tATTENTION")
	for _, o := range orders {
		att := ""
		if o.NeedsAttention {
			att = o.Attention
			if att == "" {
				att = "yes"
			}
		}
		fmt.Fprintf(tw, "%s/%s/%s\t%s\t%s\t%s\t%s\t%s\t%s\n", o.Merchant, o.Store, o.Till, o.No, o.Status,
			posbridge.Money{Minor: o.AmountMinor, Currency: o.Currency}, posbridge.Money{Minor: o.RefundedMinor, Currency: o.Currency},
			o.CreatedAt.Format(time.RFC3339), att)
	}
	return tw.Flush()
}

func writeFleetTills(w io.Writer, tills []fleet.Till, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TILL\tLAST SEEN\tEVENTS\tLAST SEQ\tLAST EVENT\tBACKLOG\tTERMINALS\tORDERS\tATTENTION")
	for _, t := range tills {
		backlog, lanes := "?", "?" // no status message yet
		if !t.StatusAt.IsZero() {
			backlog, lanes = fmt.Sprint(t.Backlog), t.Lanes
			if !t.OldestUnshipped.IsZero() {
				backlog += fmt.Sprintf(" (oldest %s)", t.OldestUnshipped.Format(time.RFC3339))
			}
			if lanes == "" {
				lanes = "-"
			}
		}
		lastEvent := "-"
		if t.LastSeq > 0 {
			lastEvent = t.LastEventAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s/%s/%s\t%s ago\t%d\t%d\t%s\t%s\t%s\t%d\t%d\n", t.Merchant, t.Store, t.Till,
			now.Sub(t.LastSeenAt).Round(time.Second), t.Events, t.LastSeq, lastEvent, backlog, lanes, t.Orders, t.Attention)
	}
	return tw.Flush()
}
