package sandbox

import (
	"encoding/json"
	"sort"
	"time"
)

// maxPageSize is the largest page the sandbox serves; a larger one is 400.
const maxPageSize = 500

// listRequest is the bizContent of queryOrderPage and queryRefundOrderPage.
type listRequest struct {
	StartDate         string   `json:"startDate"`
	EndDate           string   `json:"endDate"`
	DeviceIDList      []string `json:"deviceIdList"`
	IncludeStatusList []string `json:"includeStatusList"`
	SortPageParam     *struct {
		Number int `json:"number"`
		Size   int `json:"size"`
	} `json:"sortPageParam"`
}

// listFilter is a checked listRequest.
type listFilter struct {
	from, to time.Time // [from, to) in the sandbox's day zone
	devices  map[string]bool
	statuses map[string]bool
	page     int
	size     int
}

func (f listFilter) keep(created time.Time, device, status string) bool {
	if created.Before(f.from) || !created.Before(f.to) {
		return false
	}
	if len(f.devices) > 0 && !f.devices[device] {
		return false
	}
	return len(f.statuses) == 0 || f.statuses[status]
}

// parseList checks a list request against known statuses.
func (s *Sandbox) parseList(biz json.RawMessage, known map[string]bool) (listFilter, answer, bool) {
	var req listRequest
	if err := json.Unmarshal(biz, &req); err != nil {
		return listFilter{}, failure("400", "INVALID_PARAMETER: bizContent"), false
	}
	from, err1 := time.ParseInLocation(time.DateOnly, req.StartDate, s.dayLoc)
	to, err2 := time.ParseInLocation(time.DateOnly, req.EndDate, s.dayLoc)
	if err1 != nil || err2 != nil || to.Before(from) {
		return listFilter{}, failure("400", "INVALID_PARAMETER: startDate and endDate must be YYYY-MM-DD, start not after end"), false
	}
	if req.SortPageParam == nil || req.SortPageParam.Size < 1 || req.SortPageParam.Size > maxPageSize || req.SortPageParam.Number < 0 {
		return listFilter{}, failure("400", "INVALID_PARAMETER: sortPageParam"), false
	}
	f := listFilter{from: from, to: to.AddDate(0, 0, 1), devices: map[string]bool{}, statuses: map[string]bool{},
		page: req.SortPageParam.Number, size: req.SortPageParam.Size}
	for _, d := range req.DeviceIDList {
		f.devices[d] = true
	}
	for _, st := range req.IncludeStatusList {
		if !known[st] {
			return listFilter{}, failure("400", "INVALID_PARAMETER: includeStatusList"), false
		}
		f.statuses[st] = true
	}
	return f, answer{}, true
}

// page cuts one page out of n items and returns its bounds.
func (f listFilter) bounds(n int) (int, int, int) {
	pages := (n + f.size - 1) / f.size
	lo := f.page * f.size
	if lo > n {
		lo = n
	}
	hi := min(lo+f.size, n)
	return lo, hi, pages
}

type pageParamOut struct {
	Number int `json:"number"`
	Size   int `json:"size"`
}

type wireListedRefund struct {
	wireRefundOrder
	DeviceID    string    `json:"deviceId,omitempty"`
	FeeRefunded wireMoney `json:"feeRefunded"`
}

// queryOrderPage serves acquire2Query/queryOrderPage: the orders created on
// the dates asked (in the sandbox's day zone), oldest first, one page.
func (s *Sandbox) queryOrderPage(biz json.RawMessage, _ int64) answer {
	f, a, ok := s.parseList(biz, map[string]bool{StatusCreated: true, StatusPaid: true, StatusSettled: true, StatusFailure: true})
	if !ok {
		return a
	}
	var all []*order
	for _, o := range s.orders {
		if f.keep(o.created, o.deviceID, o.status) {
			all = append(all, o)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].orderNo < all[j].orderNo }) // orderNo grows with creation
	lo, hi, pages := f.bounds(len(all))
	items := make([]wireAcquireOrder, 0, hi-lo)
	for _, o := range all[lo:hi] {
		items = append(items, s.wireOrder(o))
	}
	return success(map[string]any{"totalElements": len(all), "totalPages": pages,
		"sortPageParam": pageParamOut{f.page, f.size}, "items": items})
}

// queryRefundPage serves acquire2Query/queryRefundOrderPage: the refunds
// created on the dates asked. Each item also names the refunded order
// (originMerchantOrderNo), which PayBy's documented item does not, unless
// ListRefundsWithoutOrigin; the client reads it when present. Internal
// refunds (of a revoke) are listed.
func (s *Sandbox) queryRefundPage(biz json.RawMessage, _ int64) answer {
	f, a, ok := s.parseList(biz, map[string]bool{RefundCreated: true, RefundSettled: true, RefundSuccess: true, RefundFailure: true})
	if !ok {
		return a
	}
	var all []*refund
	for _, r := range s.refunds {
		if f.keep(r.created, r.origin.deviceID, r.status) {
			all = append(all, r)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].orderNo < all[j].orderNo })
	lo, hi, pages := f.bounds(len(all))
	items := make([]wireListedRefund, 0, hi-lo)
	for _, r := range all[lo:hi] {
		item := wireListedRefund{wireRefundOrder: wireRefundOf(r), DeviceID: r.origin.deviceID,
			FeeRefunded: wireMoney{Currency: r.amount.Currency, Amount: "0"}}
		if s.noOrigin {
			item.OriginMerchantOrderNo, item.OriginOrderNo = "", ""
		}
		items = append(items, item)
	}
	return success(map[string]any{"totalElements": len(all), "totalPages": pages,
		"sortPageParam": pageParamOut{f.page, f.size}, "items": items})
}
