package posbridge

import (
	"fmt"
	"time"
)

// Reconcile modes.
const (
	ReconcileProgressive = "progressive" // each pending order is checked on its own schedule
	ReconcileSweep       = "sweep"       // every SweepEvery, the orders of the last SweepWindow are checked
)

// Defaults of ReconcileConfig (docs/architecture.md).
var (
	DefaultSchedule = []time.Duration{5 * time.Second, 30 * time.Second, time.Minute, 3 * time.Minute,
		5 * time.Minute, 10 * time.Minute, 30 * time.Minute}
)

const (
	DefaultSweepEvery     = 30 * time.Second
	DefaultSweepWindow    = 10 * time.Minute
	DefaultSweepMaxChecks = 10
	DefaultFastPollEvery  = 2 * time.Second
	DefaultFastPollFor    = 60 * time.Second
)

// ReconcileConfig sets how unconfirmed orders are verified.
type ReconcileConfig struct {
	Mode           string          // ReconcileProgressive or ReconcileSweep
	Schedule       []time.Duration // progressive: delays between checks, counted from the previous check
	SweepEvery     time.Duration   // sweep: how often
	SweepWindow    time.Duration   // sweep: orders created within this window are checked
	SweepMaxChecks int             // sweep: checks per order before it is canceled
	FastPollEvery  time.Duration   // while the cashier waits: how often the gateway is asked
	FastPollFor    time.Duration   // while the cashier waits: for how long
}

// DefaultReconcileConfig returns the defaults: progressive mode.
func DefaultReconcileConfig() ReconcileConfig {
	return ReconcileConfig{
		Mode:           ReconcileProgressive,
		Schedule:       append([]time.Duration(nil), DefaultSchedule...),
		SweepEvery:     DefaultSweepEvery,
		SweepWindow:    DefaultSweepWindow,
		SweepMaxChecks: DefaultSweepMaxChecks,
		FastPollEvery:  DefaultFastPollEvery,
		FastPollFor:    DefaultFastPollFor,
	}
}

// Validate reports the first setting that cannot work.
func (c ReconcileConfig) Validate() error {
	switch c.Mode {
	case ReconcileProgressive:
		if len(c.Schedule) == 0 {
			return fmt.Errorf("reconcile schedule is empty")
		}
		for i, d := range c.Schedule {
			if d <= 0 {
				return fmt.Errorf("reconcile schedule[%d] = %s: must be positive", i, d)
			}
		}
	case ReconcileSweep:
		if c.SweepEvery <= 0 || c.SweepWindow <= 0 || c.SweepMaxChecks <= 0 {
			return fmt.Errorf("reconcile sweep settings must be positive")
		}
	default:
		return fmt.Errorf("reconcile mode %q: want %q or %q", c.Mode, ReconcileProgressive, ReconcileSweep)
	}
	if c.FastPollEvery <= 0 || c.FastPollFor < 0 {
		return fmt.Errorf("fast poll settings must be positive")
	}
	return nil
}
