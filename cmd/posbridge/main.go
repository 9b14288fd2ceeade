// Command posbridge is the payment daemon beside a card terminal at a
// checkout, and its command-line tools. Run "posbridge help" for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := NewMain()
	err := m.Run(ctx, os.Args[1:])
	stop()
	os.Exit(exitCode(err))
}

// exitCode maps Run's error to the process exit status: 0 for success, 2 for
// a usage mistake, 1 for anything else (already printed by Run).
func exitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintln(os.Stderr, "posbridge:", err)
		return 1
	}
}
