package store

import (
	"sync"

	"github.com/posbridge/posbridge"
)

// recentOrdersMax bounds how many orders recentOrders keeps: a till has a
// handful of orders in play at once, a burst of notifications a few hundred.
const recentOrdersMax = 1024

// recentOrders keeps the orders this process last read or committed, so
// that UpdateOrder can decide a change before its write's turn without
// reading the order again (the engine has nearly always just read it). A
// kept order may be stale (another process wrote it, or a write of this one
// is still in its batch): it is only ever used for that early decision,
// whose write is conditional on the version and which is made again inside
// the turn when the version moved. Reads never answer from it.
type recentOrders struct {
	mu sync.Mutex
	m  map[posbridge.OrderNo]posbridge.Order
}

// get returns a copy of the kept order no, if any.
func (r *recentOrders) get(no posbridge.OrderNo) (posbridge.Order, bool) {
	r.mu.Lock()
	o, ok := r.m[no]
	r.mu.Unlock()
	return copyOrder(o), ok
}

// put keeps a copy of o, unless a later version of it is kept already (a
// read that started before a write may end after it). When full, it first
// forgets an arbitrary kept order.
func (r *recentOrders) put(o posbridge.Order) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[posbridge.OrderNo]posbridge.Order)
	}
	if kept, ok := r.m[o.No]; ok && kept.Version > o.Version {
		return
	}
	if _, ok := r.m[o.No]; !ok && len(r.m) >= recentOrdersMax {
		for no := range r.m {
			delete(r.m, no)
			break
		}
	}
	r.m[o.No] = copyOrder(o)
}

// copyOrder is o with an Override of its own.
func copyOrder(o posbridge.Order) posbridge.Order {
	if o.Override != nil {
		ov := *o.Override
		o.Override = &ov
	}
	return o
}
