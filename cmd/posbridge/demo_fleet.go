package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/posbridge/posbridge/outbox"
	"github.com/posbridge/posbridge/outbox/embedded"
	"github.com/posbridge/posbridge/outbox/fleet"
)

// demoFleet is what `demo --fleet` runs beside the demo: an embedded NATS
// server with JetStream (head office's), and `posbridge fleet run` folding
// the demo till's events into DIR/fleet.db.
type demoFleet struct {
	Server   *embedded.Server
	DB       *fleet.DB
	Consumer *fleet.Consumer
	DBPath   string
}

// startDemoNATS starts the embedded server, its files in dir/nats.
func startDemoNATS(dir string) (*embedded.Server, error) {
	natsDir := filepath.Join(dir, "nats")
	if err := os.MkdirAll(natsDir, 0o700); err != nil {
		return nil, fmt.Errorf("demo fleet: %w", err)
	}
	srv, err := embedded.Start(natsDir, 0)
	if err != nil {
		return nil, fmt.Errorf("demo fleet: %w", err)
	}
	return srv, nil
}

// startDemoConsumer opens dir/fleet.db and starts folding into it.
func startDemoConsumer(ctx context.Context, dir string, srv *embedded.Server, f *demoFleet) error {
	f.Server, f.DBPath = srv, filepath.Join(dir, "fleet.db")
	db, err := fleet.OpenDB(f.DBPath)
	if err != nil {
		return err
	}
	f.DB = db
	f.Consumer = fleet.New(db, fleet.Config{Conn: outbox.ConnConfig{URL: srv.URL()}, AckWait: 5 * time.Second})
	if err := f.Consumer.Open(ctx); err != nil {
		db.Close()
		return err
	}
	return nil
}

// Close stops the consumer, the database and the server.
func (f *demoFleet) Close(context.Context) error {
	if f.Consumer != nil {
		f.Consumer.Close()
	}
	if f.DB != nil {
		f.DB.Close()
	}
	if f.Server != nil {
		f.Server.Stop()
	}
	return nil
}

// reportFleet prints what head office sees each time it changes, until ctx ends.
func reportFleet(ctx context.Context, w io.Writer, f *demoFleet, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		orders, err := f.DB.Orders(ctx, fleet.Filter{})
		if err != nil {
			continue
		}
		paid, attention := 0, 0
		for _, o := range orders {
			if o.Status == "paid" {
				paid++
			}
			if o.NeedsAttention {
				attention++
			}
		}
		line := fmt.Sprintf("head office (fleet.db): %d orders, %d paid, %d need attention", len(orders), paid, attention)
		if line != last {
			fmt.Fprintln(w, line)
			last = line
		}
	}
}
