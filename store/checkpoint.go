package store

import (
	"context"
	"database/sql"

	"github.com/posbridge/posbridge"
)

// Checkpoints. SQLite copies the write-ahead log into the database file
// (a checkpoint) on the commit that takes the log past 1,000 pages, and
// that commit waits for it: on a large file the copy writes pages all over
// it and ends with an fsync of the whole file, measured at 600 ms on a
// 2.8 GB database. A payment whose commit drew the short straw waited that
// long. So the writer's connection never checkpoints
// (wal_autocheckpoint=0), and this goroutine does it beside it, PASSIVE: it
// copies what no reader still needs, never blocks the writer, and commits
// go on appending to the log meanwhile. Durability is unchanged: a commit is
// durable once the log is synced, before any checkpoint.

// checkpointAfter is how many commits the writer makes between two
// checkpoints: at a few pages a commit, about SQLite's own 1,000 pages.
const checkpointAfter = 100

// pinWriterConn returns the connection the writer uses for every batch, with
// automatic checkpoints off.
func (db *DB) pinWriterConn(ctx context.Context) (*sql.Conn, error) {
	conn, err := db.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 0`); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// runCheckpointer checkpoints the log each time the writer asks (every
// checkpointAfter commits) until ctx ends. The last connection's close
// checkpoints what is left.
func (db *DB) runCheckpointer(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-db.ckptKick:
			db.checkpoint(ctx)
		}
	}
}

// committed counts a commit and asks for a checkpoint every
// checkpointAfter of them.
func (db *DB) committed() {
	if db.commits.Add(1)%checkpointAfter == 0 {
		select {
		case db.ckptKick <- struct{}{}:
		default: // one is under way or asked for already
		}
	}
}

// checkpoint runs one PASSIVE checkpoint on a pooled connection.
func (db *DB) checkpoint(ctx context.Context) {
	var busy, logFrames, done int
	err := db.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logFrames, &done)
	if err != nil && ctx.Err() == nil {
		db.logger.Warn("checkpoint", posbridge.LogKeyError, classify(err))
	}
}
