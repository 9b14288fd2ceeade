// Command posbridge is the payment daemon beside a card terminal at a
// checkout, and its command-line tools. Run "posbridge help" for the commands.
package main

import (
	"context"
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

// exitCode maps Run's error to the process exit status (exitStatus),
// printing it to stderr.
func exitCode(err error) int { return exitStatus(err, os.Stderr) }
