package main

import (
	"log/slog"
	"net/http"
	"path/filepath"

	"github.com/posbridge/posbridge/gateway/sandbox"
)

// sandboxPayProtocolInfo is the "payprotocol" part of DIR/sandbox.json.
type sandboxPayProtocolInfo struct {
	BaseURL    string `json:"base_url"`
	PageURL    string `json:"page_url"`
	APIKey     string `json:"api_key"`
	SecretFile string `json:"api_secret_file"`
	ControlURL string `json:"control_url"`
}

// startSandboxPayProtocol makes the Pay Protocol sandbox that "posbridge
// sandbox" serves beside PayBy and CodePay, its secret kept in dir, and the
// handler serving both: Pay Protocol's paths (/api/mer, /pay,
// /_sandbox/payprotocol) to it, the rest to next.
func startSandboxPayProtocol(dir, notifyURL string, next http.Handler, log *slog.Logger) (*sandbox.PayProtocol, http.Handler, error) {
	secret, err := demoPayProtocolSecret(dir)
	if err != nil {
		return nil, nil, err
	}
	pp, err := sandbox.NewPayProtocol(sandbox.PayProtocolConfig{Secret: secret, NotifyURL: notifyURL, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/", next)
	for _, p := range []string{sandbox.PayProtocolAPIPath + "/", "/pay/", "/_sandbox/payprotocol/"} {
		mux.Handle(p, pp.Handler())
	}
	return pp, mux, nil
}

// payProtocolInfo is what a client of the Pay Protocol sandbox at addr needs.
func payProtocolInfo(addr, dir string, pp *sandbox.PayProtocol) sandboxPayProtocolInfo {
	return sandboxPayProtocolInfo{
		BaseURL: "http://" + addr + sandbox.PayProtocolAPIPath, PageURL: "http://" + addr, APIKey: pp.APIKey(),
		SecretFile: filepath.Join(dir, demoPayProtocolSecretFile), ControlURL: "http://" + addr + "/_sandbox/payprotocol",
	}
}
