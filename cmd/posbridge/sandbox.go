package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/sandbox"
)

const sandboxUsage = `Usage:
  posbridge sandbox --listen ADDR --dir DIR [--notify-url URL] [--gateway payby|codepay]

Runs the local sandbox gateway on ADDR (port 0 picks a free port): PayBy's
API under /sgs/api and CodePay's at /api/entry, over the same orders, and
Pay Protocol's under /api/mer (hosted pages under /pay/, its own orders). It
creates its key pairs in DIR if absent and, once it is listening, writes
DIR/sandbox.json with the base URLs, partner id, app id, merchant number,
key files, Pay Protocol's API key and secret file, and control URLs that a
client needs. --gateway says whose orders
the terminal's sales are, and so the form of their notifications (default
payby). It runs until interrupted.

The control API (under control_url) is documented in "go doc
github.com/posbridge/posbridge/gateway/sandbox".
`

// sandboxInfo is DIR/sandbox.json.
type sandboxInfo struct {
	PayBy struct {
		BaseURL            string `json:"base_url"`
		PartnerID          string `json:"partner_id"`
		MerchantPrivateKey string `json:"merchant_private_key"`
		GatewayPublicKey   string `json:"gateway_public_key"`
	} `json:"payby"`
	CodePay struct {
		BaseURL          string `json:"base_url"`
		AppID            string `json:"app_id"`
		MerchantNo       string `json:"merchant_no"`
		AppPrivateKey    string `json:"app_private_key"`
		GatewayPublicKey string `json:"gateway_public_key"`
	} `json:"codepay"`
	// PayProtocol is the Pay Protocol sandbox (its own orders: its
	// customers pay on the hosted page, not on the terminal).
	PayProtocol sandboxPayProtocolInfo `json:"payprotocol"`
	// Gateway is whose orders the terminal's sales are.
	Gateway    string `json:"gateway"`
	ControlURL string `json:"control_url"`
}

// runSandbox runs "posbridge sandbox".
func (m *Main) runSandbox(ctx context.Context, args []string) error {
	fs := m.flagSet("sandbox", sandboxUsage)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	dir := fs.String("dir", "", "directory for the key pairs and sandbox.json")
	notifyURL := fs.String("notify-url", "", "where to send notifications of orders made on a terminal")
	gw := fs.String("gateway", "payby", "whose orders the terminal's sales are: payby or codepay")
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if *dir == "" || fs.NArg() > 0 || *gw != "payby" && *gw != "codepay" {
		fmt.Fprint(m.Stderr, sandboxUsage)
		return errUsage
	}
	absDir, err := filepath.Abs(*dir)
	if err != nil {
		return fmt.Errorf("sandbox dir %s: %w", *dir, err)
	}
	keys, err := sandbox.LoadOrCreateKeys(absDir)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(m.Stderr, nil))
	sb, err := sandbox.New(sandbox.Config{Keys: keys, NotifyURL: *notifyURL, Gateway: *gw, Logger: log})
	if err != nil {
		return err
	}
	defer sb.Close()
	pp, handler, err := startSandboxPayProtocol(absDir, *notifyURL, sb.Handler(), log)
	if err != nil {
		return err
	}
	defer pp.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", *listen, err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	addr := ln.Addr().String()
	// A QR lane's code opens the payment page here.
	sb.SetPayPageURL("http://" + addr)
	var info sandboxInfo
	info.PayBy.BaseURL = "http://" + addr + "/sgs/api"
	info.PayBy.PartnerID = sb.PartnerID()
	info.PayBy.MerchantPrivateKey = filepath.Join(absDir, sandbox.MerchantPrivateKeyFile)
	info.PayBy.GatewayPublicKey = filepath.Join(absDir, sandbox.GatewayPublicKeyFile)
	info.CodePay.BaseURL = "http://" + addr
	info.CodePay.AppID = sb.CodePayAppID()
	info.CodePay.MerchantNo = sb.CodePayMerchantNo()
	info.CodePay.AppPrivateKey = info.PayBy.MerchantPrivateKey
	info.CodePay.GatewayPublicKey = info.PayBy.GatewayPublicKey
	info.Gateway = *gw
	info.PayProtocol = payProtocolInfo(addr, absDir, pp)
	info.ControlURL = "http://" + addr + "/_sandbox"
	if err := writeSandboxInfo(filepath.Join(absDir, "sandbox.json"), info); err != nil {
		srv.Close()
		<-served
		return err
	}
	log.Info("sandbox listening", posbridge.LogKeyAddr, addr, posbridge.LogKeyGateway, *gw)

	select {
	case err := <-served:
		return fmt.Errorf("serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
	}
	<-served
	return nil
}

// writeSandboxInfo writes file atomically, so a reader never sees half of it.
func writeSandboxInfo(file string, info sandboxInfo) error {
	data, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", file, err)
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return nil
}
