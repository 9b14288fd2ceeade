package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/sandbox"
)

// demoPayProtocolSecretFile holds the demo's Pay Protocol API secret, made
// once in the demo's directory.
const demoPayProtocolSecretFile = "payprotocol.secret"

// demoCardGateway is the form the card sandbox takes: Pay Protocol has no
// card terminals, so with it the PayBy sandbox stays behind the scenario
// controls and only the Pay Protocol sandbox is the daemon's gateway.
func demoCardGateway(gw string) string {
	if gw == "payprotocol" {
		return "payby"
	}
	return gw
}

// acquirer is where the simulated terminal reports its sales: the daemon's
// gateway sandbox.
func (w *demoWorld) acquirer() posbridge.Acquirer {
	if w.PayProtocol != nil {
		return w.PayProtocol
	}
	return w.Sandbox
}

// startDemoPayProtocol starts the Pay Protocol sandbox on loopback with the
// secret kept in dir, and returns its base URL (without /api/mer).
func startDemoPayProtocol(dir string, w *demoWorld, logger *slog.Logger, cleanups *[]func(context.Context) error) (string, error) {
	secret, err := demoPayProtocolSecret(dir)
	if err != nil {
		return "", err
	}
	w.PayProtocol, err = sandbox.NewPayProtocol(sandbox.PayProtocolConfig{Secret: secret, Logger: logger.With(posbridge.LogKeyComponent, "sandbox")})
	if err != nil {
		return "", err
	}
	*cleanups = append(*cleanups, func(context.Context) error { return w.PayProtocol.Close() })
	u, stopPP, err := serveLoopback(w.PayProtocol.Handler())
	if err != nil {
		return "", err
	}
	*cleanups = append(*cleanups, stopPP)
	return u, nil
}

// demoPayProtocolSecret reads the demo's secret, or makes and keeps a new one.
func demoPayProtocolSecret(dir string) ([]byte, error) {
	path := filepath.Join(dir, demoPayProtocolSecretFile)
	b, err := os.ReadFile(path)
	if err == nil && strings.TrimSpace(string(b)) != "" {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("demo: %w", err)
	}
	raw := make([]byte, 24)
	rand.Read(raw)
	secret := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return []byte(secret), nil
}
