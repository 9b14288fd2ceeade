package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
)

const runUsage = `Usage:
  posbridge run --config FILE

Runs the daemon in the foreground until interrupted (Ctrl-C or SIGTERM), then
shuts down cleanly: the API first, the terminal ports and the database last.
Logs go to stderr. "posbridge config check FILE" finds mistakes in FILE first.
`

// runRun runs "posbridge run --config FILE".
func (m *Main) runRun(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() { fmt.Fprint(m.Stderr, runUsage) }
	cfgPath := fs.String("config", "", "config file (TOML)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if *cfgPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	return m.serveDaemon(withStderr(ctx, m.Stderr), *cfgPath)
}
