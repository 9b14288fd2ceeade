package main

// checkEventsKeep checks [store] events_keep, and that [outbox] max_backlog
// fits in it: events older than events_keep are deleted from the database,
// shipped or not, so a longer backlog would promise what is already gone.
func (c *Config) checkEventsKeep(add func(key, format string, args ...any), reported func(string) bool) {
	keep := c.Store.EventsKeep
	if keep <= 0 {
		if !reported("store.events_keep") {
			add("store.events_keep", "%s: must be positive", keep.Std())
		}
		return
	}
	if c.Outbox.Kind != "" && c.Outbox.MaxBacklog > keep && !reported("outbox.max_backlog") {
		add("outbox.max_backlog", "%s is longer than store.events_keep (%s): events older than events_keep are deleted, shipped or not",
			c.Outbox.MaxBacklog.Std(), keep.Std())
	}
}
