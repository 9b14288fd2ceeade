package main

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/sandbox"
)

// demoControl is the demo's scenario: it serves the page's picker
// (GET/POST /demo/scenario) and sets up the gateway's part of each sale.
type demoControl struct {
	w *demoWorld

	mu       sync.Mutex
	scenario demoScenario
	timers   []*time.Timer
}

// set makes sc the scenario of the next sales and ends the previous one's
// gateway faults.
func (c *demoControl) set(sc demoScenario) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scenario = sc
	c.w.Sim.SetDefault(sc.script)
	c.w.Sandbox.SetCloudCustomer(cloudCustomer(sc.script))
	c.healLocked()
}

// healLocked ends every fault: the gateway answers and delivers what it held.
func (c *demoControl) healLocked() {
	for _, t := range c.timers {
		t.Stop()
	}
	c.timers = nil
	c.w.Sandbox.ClearFaults()
	c.w.Sandbox.SetNotifier(sandbox.NotifierOptions{})
	c.w.Sandbox.FlushNotifications()
}

// onEvent sets up the gateway's outage when a sale reaches the terminal.
func (c *demoControl) onEvent(e posbridge.Event, started map[posbridge.OrderNo]bool) {
	p := e.Payment
	if p == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	sc := c.scenario
	if !sc.outage || p.Status != posbridge.StatusAtTerminal || started[p.No] {
		return
	}
	started[p.No] = true
	// The gateway answers 504 and holds its notifications, then delivers
	// them late: the payment is checked, then not confirmed, then paid.
	c.w.Sandbox.SetNotifier(sandbox.NotifierOptions{OutOfOrder: true})
	c.w.Sandbox.SetFault("*", sandbox.Fault{Kind: sandbox.FaultCode, Code: "504", Msg: "SERVICE_TIMEOUT", Unsigned: true, Times: 1 << 20})
	c.timers = append(c.timers, time.AfterFunc(demoOutage, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.healLocked()
	}))
}

// watch follows the engine's events until sub closes or ctx ends.
func (c *demoControl) watch(ctx context.Context, sub *posbridge.Subscription) {
	started := map[posbridge.OrderNo]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-sub.C:
			if !ok {
				return
			}
			c.onEvent(e, started)
		}
	}
}

// ServeHTTP answers GET /demo/scenario with the scenario and the list, and
// POST /demo/scenario {"scenario":NAME} by switching to it.
func (c *demoControl) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Path != "/demo/scenario" {
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": "not_found", "message": "No such demo route."}})
		return
	}
	if r.Method == http.MethodPost {
		var req struct {
			Scenario string `json:"scenario"`
		}
		sc, ok := demoScenario{}, false
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10)).Decode(&req); err == nil {
			sc, ok = findScenario(req.Scenario)
		}
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": "invalid", "field": "scenario", "message": "No such scenario."}})
			return
		}
		c.set(sc)
	}
	c.mu.Lock()
	name := c.scenario.Name
	c.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]any{"scenario": name, "scenarios": demoScenarios})
}
