package posbridge

import (
	"context"
	"time"
)

// Open starts the scheduled run when CloseAt is not negative: at once it
// closes the days missed while posbridge was down, then each day at CloseAt.
func (d *DayCloser) Open() {
	if d.cfg.CloseAt < 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.wg.Go(func() { d.loop(ctx) })
}

// Close stops the scheduled run and waits for it.
func (d *DayCloser) Close() error {
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
	return nil
}

// DueDays returns the dates a scheduled run at now must close, oldest
// first: every day after last (the latest closed, "" for none) up to the
// latest day whose close time has passed, at most catchUp of them. With no
// day closed yet only the latest due day is closed.
func DueDays(now time.Time, loc *time.Location, closeAt time.Duration, last string, catchUp int) []string {
	now = now.In(loc)
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	latest := midnight.AddDate(0, 0, -1)
	if !now.Before(midnight.Add(closeAt)) {
		latest = midnight
	}
	first := latest
	if last != "" {
		l, err := time.ParseInLocation(time.DateOnly, last, loc)
		if err == nil {
			first = l.AddDate(0, 0, 1)
		}
	}
	if earliest := latest.AddDate(0, 0, -(catchUp - 1)); first.Before(earliest) {
		first = earliest
	}
	var days []string
	for t := first; !t.After(latest); t = t.AddDate(0, 0, 1) {
		days = append(days, t.Format(time.DateOnly))
	}
	return days
}

// nextRun returns the next time of day closeAt after now.
func nextRun(now time.Time, loc *time.Location, closeAt time.Duration) time.Time {
	now = now.In(loc)
	t := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc).Add(closeAt)
	for !t.After(now) {
		t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc).Add(closeAt)
	}
	return t
}

func (d *DayCloser) loop(ctx context.Context) {
	for {
		d.runDue(ctx)
		wait := nextRun(d.e.Clock.Now(), d.cfg.Location, d.cfg.CloseAt).Sub(d.e.Clock.Now())
		t := d.e.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// runDue closes every due day; a day whose close fails is tried again at
// the next run (the days after it wait, so none is skipped).
func (d *DayCloser) runDue(ctx context.Context) {
	last, err := d.ds.LastDayClose(ctx)
	if err != nil {
		d.log.Warn("day close schedule", LogKeyError, err)
		return
	}
	for _, day := range DueDays(d.e.Clock.Now(), d.cfg.Location, d.cfg.CloseAt, last, d.cfg.CatchUp) {
		if _, err := d.CloseDay(ctx, day, By{Actor: ActorReconciler, Who: "schedule"}); err != nil {
			if ctx.Err() == nil {
				d.log.Warn("scheduled day close", LogKeyDate, day, LogKeyError, err)
			}
			return
		}
	}
}
