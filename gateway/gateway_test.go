package gateway_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway"
	"github.com/posbridge/posbridge/posbridgetest"
)

func TestError_IsExactlyOneClass(t *testing.T) {
	sentinels := []error{posbridge.ErrUnknownOutcome, posbridge.ErrRetryable, posbridge.ErrGatewayNotFound,
		posbridge.ErrGatewayFinal, posbridge.ErrOrderPaid, posbridge.ErrOrderClosed}
	tests := []struct {
		class gateway.Class
		want  []error
		label string
	}{
		{gateway.ClassUnknownOutcome, []error{posbridge.ErrUnknownOutcome}, "unknown_outcome"},
		{gateway.ClassRetryable, []error{posbridge.ErrRetryable}, "retryable"},
		{gateway.ClassNotFound, []error{posbridge.ErrGatewayNotFound}, "not_found"},
		{gateway.ClassFinal, []error{posbridge.ErrGatewayFinal}, "final"},
		{gateway.ClassOrderPaid, []error{posbridge.ErrGatewayFinal, posbridge.ErrOrderPaid}, "final"},
		{gateway.ClassOrderClosed, []error{posbridge.ErrGatewayFinal, posbridge.ErrOrderClosed}, "final"},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			err := error(&gateway.Error{Class: tt.class, Code: "62001", Op: "payby cancelOrder", Err: context.DeadlineExceeded})
			err = errors.Join(errors.New("context"), err) // still found through wrapping
			for _, s := range sentinels {
				want := false
				for _, w := range tt.want {
					want = want || w == s
				}
				if got := errors.Is(err, s); got != want {
					t.Errorf("errors.Is(%v, %v) = %v, want %v", err, s, got, want)
				}
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("cause lost: %v", err)
			}
			if got := gateway.ClassOf(err); got != tt.label {
				t.Errorf("ClassOf = %q, want %q", got, tt.label)
			}
		})
	}
}

func TestLimiter_WaitsOnClock(t *testing.T) {
	clock := posbridgetest.NewManualClock(time.Unix(1_700_000_000, 0))
	l := gateway.NewLimiter(clock, 2, 2) // 2 per second, burst 2
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := l.Wait(ctx); err != nil {
			t.Fatalf("burst wait %d: %v", i, err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx) }()
	waitTimer(t, clock)
	select {
	case err := <-done:
		t.Fatalf("third call passed without a token: %v", err)
	default:
	}
	clock.Advance(500 * time.Millisecond)
	if err := <-done; err != nil {
		t.Fatalf("wait after refill: %v", err)
	}

	// A canceled wait gives its token back and reports ctx.Err().
	cctx, cancel := context.WithCancel(ctx)
	go func() { done <- l.Wait(cctx) }()
	waitTimer(t, clock)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled wait = %v, want context.Canceled", err)
	}
	clock.Advance(500 * time.Millisecond)
	if err := l.Wait(ctx); err != nil {
		t.Fatalf("token not returned: %v", err)
	}
}

// waitTimer waits until a goroutine has armed a timer on clock.
func waitTimer(t *testing.T, clock *posbridgetest.ManualClock) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := clock.NextTimer(); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no timer armed")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLoadKeys(t *testing.T) {
	dir := t.TempDir()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	privPEM, _ := gateway.EncodePrivateKeyPEM(k)
	pubPEM, _ := gateway.EncodePublicKeyPEM(&k.PublicKey)
	smallPub, _ := gateway.EncodePublicKeyPEM(&small.PublicKey)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	priv := write("priv.pem", privPEM)
	pub := write("pub.pem", pubPEM)
	if _, err := gateway.LoadPrivateKey(priv); err != nil {
		t.Fatalf("load private: %v", err)
	}
	if _, err := gateway.LoadPublicKey(pub); err != nil {
		t.Fatalf("load public: %v", err)
	}
	tests := []struct {
		name string
		load func() error
		want error
	}{
		{"missing", func() error { _, err := gateway.LoadPrivateKey(filepath.Join(dir, "nope.pem")); return err }, os.ErrNotExist},
		{"public-as-private", func() error { _, err := gateway.LoadPrivateKey(pub); return err }, gateway.ErrKeyFormat},
		{"private-as-public", func() error { _, err := gateway.LoadPublicKey(priv); return err }, gateway.ErrKeyFormat},
		{"garbage", func() error { _, err := gateway.LoadPublicKey(write("junk.pem", []byte("hello"))); return err }, gateway.ErrKeyFormat},
		{"small", func() error { _, err := gateway.LoadPublicKey(write("small.pem", smallPub)); return err }, gateway.ErrKeyTooSmall},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.load()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), dir) {
				t.Fatalf("error %q does not name the file", err)
			}
		})
	}
}

func TestSignVerify(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte(`{"requestTime":1,"bizContent":{}}`)
	sig, err := gateway.SignSHA256(k, msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := gateway.VerifySHA256(&k.PublicKey, msg, sig); err != nil {
		t.Fatalf("verify: %v", err)
	}
	changed := append([]byte(nil), msg...)
	changed[len(changed)-2] = ' '
	if err := gateway.VerifySHA256(&k.PublicKey, changed, sig); !errors.Is(err, gateway.ErrBadSignature) {
		t.Fatalf("changed body: %v", err)
	}
	if err := gateway.VerifySHA256(&k.PublicKey, msg, ""); !errors.Is(err, gateway.ErrNoSignature) {
		t.Fatalf("no sig: %v", err)
	}
	if err := gateway.VerifySHA256(&k.PublicKey, msg, "!!"); !errors.Is(err, gateway.ErrBadSignature) {
		t.Fatalf("bad base64: %v", err)
	}
}
