package payprotocol_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/posbridge/posbridge/gateway/payprotocol"
)

// The expected signatures were computed once, outside Go, with
//
//	printf '%s' "$ts$method$path$body" | openssl dgst -sha256 -hmac "$secret" -binary | base64
func TestSign_Vectors(t *testing.T) {
	tests := []struct {
		name, secret, ts, method, path, body, want string
	}{
		{"post create", "s3cr3t", "1723971200", "POST", "/api/mer/payment/createPaymentOrder", `{"outTradeNo":"A1","quoteAmount":10.00}`,
			"ZkS7isjcU2Qmj9mcHqs1e5sDcew/MsvvGbhNkyZBlAs="},
		{"get detail with query, empty body", "s3cr3t", "1723971260", "GET", "/api/mer/payment/detail?outTradeNo=A1", "",
			"60pR8jbLhfZO+n/DXse7HoxMUBfTF5M/WsTmVuy6qRU="},
		{"callback", "another-secret-0123456789", "1700000000", "POST", "/notify/payprotocol", `{"outTradeNo":"P-42","paymentStatus":"partially paid"}`,
			"BJzmzSuMsAKTUCGU6a93rC0mrR+cfGhYVEH5uUAEMN0="},
		{"method in lower case is signed upper", "s3cr3t", "1723971200", "post", "/api/mer/payment/createPaymentOrder", `{"outTradeNo":"A1","quoteAmount":10.00}`,
			"ZkS7isjcU2Qmj9mcHqs1e5sDcew/MsvvGbhNkyZBlAs="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := payprotocol.Sign([]byte(tt.secret), tt.ts, tt.method, tt.path, []byte(tt.body)); got != tt.want {
				t.Fatalf("Sign = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	secret := []byte("s3cr3t")
	body := []byte(`{"outTradeNo":"A1","quoteAmount":10.00}`)
	path := "/api/mer/payment/createPaymentOrder"
	signedAt := time.Unix(1723971200, 0)
	h := http.Header{}
	payprotocol.SetHeaders(h, "key-1", secret, signedAt, "POST", path, body)
	if got := h.Get(payprotocol.HeaderSign); got != "ZkS7isjcU2Qmj9mcHqs1e5sDcew/MsvvGbhNkyZBlAs=" {
		t.Fatalf("SetHeaders signed %s", got)
	}
	flipped := append([]byte(nil), body...)
	flipped[len(flipped)-3] ^= 1
	tests := []struct {
		name string
		key  string
		body []byte
		now  time.Time
		path string
		want error
	}{
		{"good", "key-1", body, signedAt.Add(60 * time.Second), path, nil},
		{"good, clock behind", "key-1", body, signedAt.Add(-60 * time.Second), path, nil},
		{"61 s old", "key-1", body, signedAt.Add(61 * time.Second), path, payprotocol.ErrStaleStamp},
		{"61 s ahead", "key-1", body, signedAt.Add(-61 * time.Second), path, payprotocol.ErrStaleStamp},
		{"one body byte changed", "key-1", flipped, signedAt, path, payprotocol.ErrBadSignature},
		{"other path", "key-1", body, signedAt, "/api/mer/refund/createRefundOrder", payprotocol.ErrBadSignature},
		{"other key", "key-2", body, signedAt, path, payprotocol.ErrWrongKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := payprotocol.Verify(h, tt.key, secret, tt.now, payprotocol.Window, "POST", tt.path, tt.body)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
	_, err := payprotocol.Verify(http.Header{}, "key-1", secret, signedAt, payprotocol.Window, "POST", path, body)
	if !errors.Is(err, payprotocol.ErrNoSignature) {
		t.Fatalf("no headers: %v, want ErrNoSignature", err)
	}
}
