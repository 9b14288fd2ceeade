package store

import (
	"testing"

	"github.com/posbridge/posbridge"
)

func TestRecentOrders(t *testing.T) {
	var r recentOrders
	if _, ok := r.get("A"); ok {
		t.Fatal("an empty set returned an order")
	}
	r.put(posbridge.Order{No: "A", Version: 3, Override: &posbridge.Override{By: "ann"}})
	r.put(posbridge.Order{No: "A", Version: 2}) // a read that began before the write of 3
	got, ok := r.get("A")
	if !ok || got.Version != 3 {
		t.Fatalf("get = %d, %v; want version 3 kept over the older 2", got.Version, ok)
	}
	got.Override.By = "changed by a caller"
	if again, _ := r.get("A"); again.Override.By != "ann" {
		t.Errorf("a caller's change reached the kept order: %q", again.Override.By)
	}
	for i := range recentOrdersMax + 10 {
		r.put(posbridge.Order{No: posbridge.OrderNo(string(rune('a'+i%26)) + string(rune(i))), Version: 1})
	}
	if n := len(r.m); n > recentOrdersMax {
		t.Errorf("%d orders kept; want at most %d", n, recentOrdersMax)
	}
}
