package main

import (
	"context"
	"fmt"
	"time"
)

const dbUsage = `Usage:
  posbridge db check --config FILE   check the whole database file (SQLite's quick check)
  posbridge db check --db PATH

The daemon never reads the whole file on start-up; after an unclean shutdown
it runs this check in the background and reports it in its log, /status and
/metrics. Run it by hand when in doubt; it reads a large file for seconds and
exits 1 when the file is damaged.
`

// runDB runs "posbridge db check".
func (m *Main) runDB(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "check" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(m.Stdout, dbUsage)
			return nil
		}
		fmt.Fprint(m.Stderr, dbUsage)
		return errUsage
	}
	fs := m.flagSet("db check", dbUsage)
	config := fs.String("config", "", "config file whose [store] path names the database")
	path := fs.String("db", "", "database file to check instead of the config's")
	if done, err := parseFlags(fs, args[1:]); done {
		return err
	}
	if (*config == "") == (*path == "") {
		fmt.Fprintln(m.Stderr, "posbridge db check: give --config FILE or --db PATH")
		return errUsage
	}
	if *path == "" {
		c, err := loadConfigSections(*config, "store")
		if err != nil {
			return err
		}
		*path = c.Store.Path
	}
	db, err := openStoreForReading(*path)
	if err != nil {
		return err
	}
	defer db.Close()
	start := time.Now()
	if err := db.CheckIntegrity(ctx); err != nil {
		return fmt.Errorf("database check: %w", err)
	}
	fmt.Fprintf(m.Stdout, "%s: ok (checked in %s)\n", *path, time.Since(start).Round(time.Millisecond))
	return nil
}
