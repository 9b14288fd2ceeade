package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/posbridge/posbridge/gateway/payprotocol"
)

// Pay Protocol's production addresses, the defaults of base_url and page_url.
const (
	DefaultPayProtocolBaseURL = "https://api.payprotocol.network/api/mer"
	DefaultPayProtocolPageURL = "https://payment.payprotocol.network"
)

// maxSecretFileSize bounds what the secret check reads.
const maxSecretFileSize = 4 << 10

// PayProtocolKeys are the [gateway] keys only Pay Protocol has.
type PayProtocolKeys struct {
	APIKey        string `toml:"api_key"`         // X-PAY-KEY
	APISecretFile string `toml:"api_secret_file"` // the HMAC secret, one line
	ChainID       int    `toml:"chain_id"`        // Pay Protocol's own id of the chain customers pay on
	PageURL       string `toml:"page_url"`        // joined with an order's paymentUrl
	RedirectURL   string `toml:"redirect_url"`    // where the page sends the customer after paying
}

func (c *Config) applyPayProtocolDefaults() {
	if c.Gateway.Kind != "payprotocol" {
		return
	}
	if c.Gateway.BaseURL == "" {
		c.Gateway.BaseURL = DefaultPayProtocolBaseURL
	}
	if c.Gateway.PageURL == "" {
		c.Gateway.PageURL = DefaultPayProtocolPageURL
	}
}

// checkPayProtocol checks [gateway] for kind = "payprotocol": the API key,
// the secret file, the chain, the two URLs, and no key of another gateway.
func (c *Config) checkPayProtocol(add func(key, format string, args ...any), reported func(string) bool) {
	g := c.Gateway
	for _, k := range []string{"partner_id", "app_id", "merchant_no", "store_no", "merchant_private_key", "gateway_public_key"} {
		if c.index.has("gateway." + k) {
			add("gateway."+k, "is not a Pay Protocol key; Pay Protocol uses api_key and api_secret_file")
		}
	}
	if c.index.has("gateway.notify_window") {
		add("gateway.notify_window", "Pay Protocol's callback window is fixed at 60 s; remove this key")
	}
	for _, u := range []struct{ key, v string }{{"gateway.base_url", g.BaseURL}, {"gateway.page_url", g.PageURL}} {
		if err := checkURL(u.v, true); err != nil {
			add(u.key, "%v", err)
		}
	}
	if g.BaseURL != "" && !strings.HasSuffix(strings.TrimSuffix(g.BaseURL, "/"), "/api/mer") {
		add("gateway.base_url", "%q: Pay Protocol's API base ends in /api/mer (it is part of every signature)", g.BaseURL)
	}
	if g.RedirectURL != "" {
		if err := checkURL(g.RedirectURL, false); err != nil {
			add("gateway.redirect_url", "%v", err)
		}
	}
	switch {
	case g.APIKey == "":
		add("gateway.api_key", "missing: the API key (X-PAY-KEY) from the Pay Protocol merchant platform")
	case strings.ContainsAny(g.APIKey, " \t\r\n"):
		add("gateway.api_key", "%q: no spaces", g.APIKey)
	}
	if g.APISecretFile == "" {
		add("gateway.api_secret_file", "missing: the file holding the API secret from the Pay Protocol merchant platform")
	} else if err := checkSecretFile(g.APISecretFile); err != nil {
		add("gateway.api_secret_file", "%v", err)
	}
	if g.ChainID <= 0 && !reported("gateway.chain_id") {
		add("gateway.chain_id", "missing: Pay Protocol's own id of the chain customers pay on (from its chain list), a positive number")
	}
	if g.Timeout <= 0 && !reported("gateway.timeout") {
		add("gateway.timeout", "%s: must be positive", g.Timeout.Std())
	}
	if g.RateLimit <= 0 && !reported("gateway.rate_limit") {
		add("gateway.rate_limit", "%g: must be a positive number of requests per second", g.RateLimit)
	}
}

// checkSecretFile reads the secret file as the client will: a regular
// file, not empty once trimmed.
func checkSecretFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("read secret file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Size() > maxSecretFileSize {
		return fmt.Errorf("%s is %d bytes: a secret is one line", path, fi.Size())
	}
	_, err = payprotocol.LoadSecret(path)
	return err
}
