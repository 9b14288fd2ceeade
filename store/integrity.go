package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
)

// Integrity is what the store knows of its file's integrity.
type Integrity struct {
	Checking bool      // a check is running
	Checked  time.Time // when the last check ended; zero if none ran
	Err      error     // the last check's finding (wraps ErrCorrupt when damaged), nil if whole
}

// Integrity returns what the store knows of its file's integrity.
func (db *DB) Integrity() Integrity {
	db.integMu.Lock()
	defer db.integMu.Unlock()
	return db.integ
}

func (db *DB) setIntegrity(i Integrity) {
	db.integMu.Lock()
	defer db.integMu.Unlock()
	db.integ = i
}

// CheckIntegrity runs SQLite's quick check over the whole file (seconds on a
// large one) and records its finding for Integrity. A damaged file gives an
// error wrapping ErrCorrupt that names the file.
func (db *DB) CheckIntegrity(ctx context.Context) error {
	if err := db.reading(); err != nil {
		return err
	}
	db.setIntegrity(Integrity{Checking: true, Checked: db.Integrity().Checked, Err: db.Integrity().Err})
	err := db.quickCheck(ctx)
	if ctx.Err() != nil {
		db.setIntegrity(Integrity{})
		return ctx.Err()
	}
	if err != nil {
		err = fmt.Errorf("store %s: %w", db.path, err)
	}
	db.setIntegrity(Integrity{Checked: db.now(), Err: err})
	return err
}

// quickCheck runs SQLite's quick check over the whole file.
func (db *DB) quickCheck(ctx context.Context) error {
	rows, err := db.db.QueryContext(ctx, "PRAGMA quick_check")
	if err != nil {
		return fmt.Errorf("check integrity: %w", asCorrupt(err))
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("check integrity: %w", asCorrupt(err))
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("check integrity: %w", asCorrupt(err))
	}
	if len(problems) > 0 {
		if len(problems) > 3 {
			problems = append(problems[:3], fmt.Sprintf("and %d more", len(problems)-3))
		}
		return fmt.Errorf("check integrity: %w: %s", ErrCorrupt, strings.Join(problems, "; "))
	}
	return nil
}

// asCorrupt marks SQLite's "malformed" and "not a database" as ErrCorrupt,
// keeping SQLite's error in the chain.
func asCorrupt(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB) {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return err
}

// ErrCorrupt is wrapped by CheckIntegrity when SQLite's quick check finds damage.
var ErrCorrupt = errors.New("database is corrupt")
