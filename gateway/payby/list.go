package payby

import (
	"context"
	"fmt"
	"time"

	"github.com/posbridge/posbridge"
)

// List API paths (acquire2Query), relative to the base URL.
const (
	PathQueryOrderPage  = "/acquire2Query/queryOrderPage"
	PathQueryRefundPage = "/acquire2Query/queryRefundOrderPage"
)

// MaxPageSize is the largest page the client asks for.
const MaxPageSize = 100

var _ posbridge.DayLister = (*Client)(nil)

// pageRequest is the bizContent of both list calls.
type pageRequest struct {
	StartDate         string    `json:"startDate"`
	EndDate           string    `json:"endDate"`
	DeviceIDList      []string  `json:"deviceIdList"`
	IncludeStatusList []string  `json:"includeStatusList"`
	SortPageParam     pageParam `json:"sortPageParam"`
}

type pageParam struct {
	Number int `json:"number"`
	Size   int `json:"size"`
}

// ListedOrder is an item of queryOrderPage: an acquireOrder without the
// fields the list leaves out.
type ListedOrder struct {
	AcquireOrder
}

// ListedRefund is an item of queryRefundOrderPage. PayBy's documented item
// has no originMerchantOrderNo; it is read when present.
type ListedRefund struct {
	RefundOrder
	DeviceID string `json:"deviceId"`
}

// Page is the body of a list answer (PayBy's Pagination).
type Page[T any] struct {
	TotalElements int       `json:"totalElements"`
	TotalPages    int       `json:"totalPages"`
	SortPageParam pageParam `json:"sortPageParam"`
	Items         []T       `json:"items"`
}

func (c *Client) pageRequest(path string, q posbridge.DayQuery) (pageRequest, error) {
	for _, d := range []string{q.From, q.To} {
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			return pageRequest{}, c.invalid(path, fmt.Sprintf("date %q is not YYYY-MM-DD", d))
		}
	}
	if q.Page < 0 || q.Size < 1 || q.Size > MaxPageSize {
		return pageRequest{}, c.invalid(path, fmt.Sprintf("page %d of size %d: want page ≥ 0 and size 1 to %d", q.Page, q.Size, MaxPageSize))
	}
	devices := q.DeviceIDs
	if devices == nil {
		devices = []string{}
	}
	return pageRequest{StartDate: q.From, EndDate: q.To, DeviceIDList: devices, IncludeStatusList: []string{},
		SortPageParam: pageParam{Number: q.Page, Size: q.Size}}, nil
}

// ListOrders calls queryOrderPage for one page of the orders created in
// [q.From, q.To] (dates in PayBy's day). An item that cannot be read makes
// the whole page an unknown outcome: a reconciliation must not miss an order.
func (c *Client) ListOrders(ctx context.Context, q posbridge.DayQuery) (posbridge.OrderListPage, error) {
	req, err := c.pageRequest(PathQueryOrderPage, q)
	if err != nil {
		return posbridge.OrderListPage{}, err
	}
	var p Page[ListedOrder]
	if err := c.call(ctx, PathQueryOrderPage, req, &p, nil); err != nil {
		return posbridge.OrderListPage{}, err
	}
	out := posbridge.OrderListPage{Total: p.TotalElements, TotalPages: p.TotalPages}
	for i := range p.Items {
		it := &p.Items[i]
		g, err := it.Gateway()
		if err != nil {
			return posbridge.OrderListPage{}, c.unknown(PathQueryOrderPage, 0, fmt.Sprintf("item %d", i), err)
		}
		created, err := parseTime(it.RequestTime)
		if err != nil {
			return posbridge.OrderListPage{}, c.unknown(PathQueryOrderPage, 0, fmt.Sprintf("item %d requestTime", i), err)
		}
		out.Orders = append(out.Orders, posbridge.ListedOrder{GatewayOrder: g, DeviceID: it.DeviceID, CreatedAt: created})
	}
	return out, nil
}

// ListRefunds calls queryRefundOrderPage for one page of the refunds of
// [q.From, q.To]. The refunded order is known only when the answer names it.
func (c *Client) ListRefunds(ctx context.Context, q posbridge.DayQuery) (posbridge.RefundListPage, error) {
	req, err := c.pageRequest(PathQueryRefundPage, q)
	if err != nil {
		return posbridge.RefundListPage{}, err
	}
	var p Page[ListedRefund]
	if err := c.call(ctx, PathQueryRefundPage, req, &p, nil); err != nil {
		return posbridge.RefundListPage{}, err
	}
	out := posbridge.RefundListPage{Total: p.TotalElements, TotalPages: p.TotalPages}
	for i := range p.Items {
		g, err := p.Items[i].Gateway()
		if err != nil {
			return posbridge.RefundListPage{}, c.unknown(PathQueryRefundPage, 0, fmt.Sprintf("item %d", i), err)
		}
		out.Refunds = append(out.Refunds, posbridge.ListedRefund{GatewayRefund: g, DeviceID: p.Items[i].DeviceID})
	}
	return out, nil
}
