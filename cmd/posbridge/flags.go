package main

import (
	"errors"
	"flag"
	"fmt"
)

// Every sub-command parses its flags the same way: errors and usage go to
// Main's stderr, -h prints the usage and succeeds, and a bad flag is a usage
// error (exit status 2).

// flagSet returns an empty flag set for the sub-command name whose -h
// prints usage to m.Stderr.
func (m *Main) flagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() { fmt.Fprint(m.Stderr, usage) }
	return fs
}

// parseFlags parses args into fs. done is true when the command must stop
// now and return err: nil after -h, errUsage after a bad flag.
func parseFlags(fs *flag.FlagSet, args []string) (done bool, err error) {
	return flagsDone(fs.Parse(args))
}

// parseFlagsAnywhere is parseFlags for commands whose flags may follow their
// positional arguments; it returns those arguments.
func parseFlagsAnywhere(fs *flag.FlagSet, args []string) (pos []string, done bool, err error) {
	pos, err = parseInterspersed(fs, args)
	done, err = flagsDone(err)
	return pos, done, err
}

func flagsDone(err error) (bool, error) {
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, flag.ErrHelp):
		return true, nil
	default:
		return true, errUsage
	}
}

// usageError returns a function printing "posbridge CMD: message" to
// m.Stderr and returning errUsage.
func (m *Main) usageError(cmd string) func(format string, a ...any) error {
	return func(format string, a ...any) error {
		fmt.Fprintf(m.Stderr, "posbridge %s: %s\n", cmd, fmt.Sprintf(format, a...))
		return errUsage
	}
}
