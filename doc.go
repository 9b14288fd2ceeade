// Package posbridge is the core of the posbridge daemon: it takes card payments
// on a terminal beside a shop's checkout without ever getting the money wrong.
//
// A sale is an Order with a merchant OrderNo. The Engine writes the order ahead
// of every terminal exchange, sends the sale to the lane's Terminal, turns the
// terminal's answer (or its silence) into one Outcome, and confirms everything
// that is not a clear "not charged" with the payment Gateway. Orders that stay
// unconfirmed are checked again on a persisted schedule; the gateway's signed
// notifications are applied through the same pure Transition function, and
// every change is stored with an Event and an audit row.
//
// This package holds the domain and the engine and imports only the standard
// library. Adapters live in subpackages named after what they talk to
// (terminal, gateway, store, ui) and import this package, never each other;
// cmd/posbridge wires them together.
//
// The promise every part keeps: a customer is never charged twice, a charge is
// never shown as "not paid", and nothing acknowledged is ever lost.
package posbridge
