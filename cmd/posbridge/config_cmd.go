package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/posbridge/posbridge/packaging"
)

// errConfigMistakes is returned by "config check" after printing the mistakes.
// It exits with ExitConfig.
var errConfigMistakes error = configMistakes{}

type configMistakes struct{}

func (configMistakes) Error() string        { return "config has mistakes" }
func (configMistakes) Is(target error) bool { return target == errConfig }

const configUsage = `Usage:
  posbridge config check [--connect] FILE
  posbridge config example

example prints the example config, every key with its default and the
placeholders a till must replace (the packages install it as
/usr/share/doc/posbridge/posbridge.example.toml).

check reads FILE, then the drop-in files FILE.d/*.toml (posbridge.d/ for
posbridge.toml) in lexical order, then the POSBRIDGE_* environment variables.

Checks the config file: syntax, unknown keys, values, key files, listen
addresses and serial ports. Prints every mistake as FILE:LINE: KEY: message
and exits with status 78 (EX_CONFIG) if there is any, or if FILE cannot be
read; prints "FILE: ok" and exits 0 otherwise. Warnings
(a private key file readable by group or others) are printed the same way,
with "warning:" before the message, and do not fail the check.

--connect also connects to the [outbox] NATS server with the configured
credentials and TLS, and checks that the stream takes this till's subjects
(or says it will be created); a failure is reported as outbox.url.
`

// runConfig runs "posbridge config SUBCOMMAND".
func (m *Main) runConfig(ctx context.Context, args []string) error {
	fs := m.flagSet("config", configUsage)
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if fs.NArg() == 1 && fs.Arg(0) == "example" {
		_, err := io.WriteString(m.Stdout, packaging.ExampleConfig)
		return err
	}
	if fs.NArg() < 1 || fs.Arg(0) != "check" {
		fs.Usage()
		return errUsage
	}
	check := flag.NewFlagSet("config check", flag.ContinueOnError)
	check.SetOutput(m.Stderr)
	check.Usage = fs.Usage
	connect := check.Bool("connect", false, "also connect to the [outbox] server")
	if err := check.Parse(fs.Args()[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if check.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	path := check.Arg(0)
	c, err := LoadConfig(path)
	if err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}
	errs := c.Check()
	if *connect && len(errs) == 0 {
		msg, err := c.checkOutboxConnect(ctx)
		if err != nil {
			f, line := c.where("outbox.url")
			errs = append(errs, ConfigError{File: f, Line: line, Key: "outbox.url", Message: err.Error()})
		} else if msg != "" {
			fmt.Fprintln(m.Stdout, msg)
		}
	}
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
