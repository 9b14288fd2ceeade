// Package outbox ships a till's committed events to head office over NATS
// JetStream (github.com/nats-io/nats.go).
//
// The store writes every event to an outbox table in the same transaction as
// the change itself (see Source). A Shipper owns one goroutine that reads the
// outbox in seq order, publishes each event, once the previous one is
// acknowledged (so the stream holds a till's events in order), to
// "<prefix>.<merchant>.<store>.<till>.<type>" with Nats-Msg-Id "<till>:<seq>",
// and deletes rows only after the server has acknowledged them. A crash
// between the server's ack and the delete republishes the same ids, which
// JetStream drops as duplicates within the stream's duplicate window; the
// consumer (package outbox/fleet) keeps one row per till and seq for the rest.
// While the uplink is down the rows wait in SQLite, bounded by MaxBacklog.
//
// The body of every message is a Message, JSON, versioned by SchemaVersion.
package outbox
