package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
)

// errConfigMistakes is returned by "config check" after printing the mistakes.
var errConfigMistakes = errors.New("config has mistakes")

const configUsage = `Usage:
  posbridge config check FILE

Checks the config file: syntax, unknown keys, values, key files, listen
addresses and serial ports. Prints every mistake as FILE:LINE: KEY: message
and exits non-zero if there is any; prints "FILE: ok" otherwise. Warnings
(a private key file readable by group or others) are printed the same way,
with "warning:" before the message, and do not fail the check.
`

// runConfig runs "posbridge config SUBCOMMAND".
func (m *Main) runConfig(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("config", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() { fmt.Fprint(m.Stderr, configUsage) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if fs.NArg() != 2 || fs.Arg(0) != "check" {
		fs.Usage()
		return errUsage
	}
	path := fs.Arg(1)
	c, err := LoadConfig(path)
	if err != nil {
		return err
	}
	errs := c.Check()
	for _, e := range errs {
		fmt.Fprintln(m.Stdout, e.Error())
	}
	for _, w := range c.Warnings() {
		fmt.Fprintln(m.Stdout, w.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: %d mistake(s): %w", path, len(errs), errConfigMistakes)
	}
	fmt.Fprintf(m.Stdout, "%s: ok\n", path)
	return nil
}
