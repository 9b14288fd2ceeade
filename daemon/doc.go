// Package daemon assembles one running posbridge from parts already built: a
// store, a gateway client, the lanes' terminals, listeners. It makes the
// engine over them and what needs the engine (the gateway's notification
// endpoint, the day closer, settlement, the outbox shipper, the local API and
// its monitoring listener), and closes all of it in order.
//
// It is a wiring package, like cmd/posbridge: it may import the adapters,
// and no adapter imports it. cmd/posbridge turns a config file into parts;
// the demo and the simulation build their parts by hand; all of them run the
// same Daemon.
package daemon
