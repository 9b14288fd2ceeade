package fleet

// SetAfterCommit makes the consumer run fn after each batch's commit and
// before its acks; an error from fn stops the consumer there, as a crash would.
func SetAfterCommit(c *Consumer, fn func() error) { c.cfg.afterCommit = fn }
