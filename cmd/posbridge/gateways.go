package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway"
	"github.com/posbridge/posbridge/gateway/codepay"
	"github.com/posbridge/posbridge/gateway/payby"
	"github.com/posbridge/posbridge/gateway/payprotocol"
)

// notifyHandler is a gateway's notification endpoint with its counters.
type notifyHandler interface {
	http.Handler
	Stats() gateway.NotifyStats
}

// openGateway makes the client of the [gateway] the config names.
func openGateway(cfg *Config, opt daemonOptions, log *slog.Logger) (posbridge.Gateway, error) {
	g := cfg.Gateway
	switch g.Kind {
	case "payby":
		return payby.New(payby.Config{
			BaseURL: g.BaseURL, PartnerID: g.PartnerID,
			MerchantKeyFile: g.MerchantPrivateKey, GatewayKeyFile: g.GatewayPublicKey,
			NotifyURL: cfg.Notify.PublicURL, Timeout: g.Timeout.Std(), RatePerSecond: g.RateLimit,
			HTTPClient: opt.gatewayHTTP, Logger: log,
		})
	case "codepay":
		return codepay.New(codepay.Config{
			BaseURL: g.BaseURL, AppID: g.AppID, MerchantNo: g.MerchantNo, StoreNo: g.StoreNo,
			AppKeyFile: g.MerchantPrivateKey, GatewayKeyFile: g.GatewayPublicKey,
			NotifyURL: cfg.Notify.PublicURL, Timeout: g.Timeout.Std(), RatePerSecond: g.RateLimit,
			HTTPClient: opt.gatewayHTTP, Logger: log,
		})
	case "payprotocol":
		return payprotocol.New(payprotocol.Config{
			BaseURL: g.BaseURL, PageURL: g.PageURL, APIKey: g.APIKey, SecretFile: g.APISecretFile, ChainID: g.ChainID,
			NotifyURL: cfg.Notify.PublicURL, RedirectURL: g.RedirectURL, Timeout: g.Timeout.Std(), RatePerSecond: g.RateLimit,
			HTTPClient: opt.gatewayHTTP, Logger: log,
		})
	}
	return nil, fmt.Errorf("gateway kind %q is not supported yet", g.Kind)
}

// notifyPath is where the notification handler of the gateway kind is
// served.
func notifyPath(kind string) string {
	switch kind {
	case "codepay":
		return "/notify/codepay"
	case "payprotocol":
		return payprotocol.DefaultNotifyPath
	}
	return "/notify/payby"
}

// openNotifyHandler makes the notification handler of the configured
// gateway; it is served at notifyPath.
func openNotifyHandler(cfg *Config, svc posbridge.NotificationService, log *slog.Logger) (notifyHandler, error) {
	g := cfg.Gateway
	switch g.Kind {
	case "payby":
		return payby.NewNotifyHandler(payby.NotifyConfig{
			GatewayKeyFile: g.GatewayPublicKey, Window: g.NotifyWindow.Std(), Logger: log,
		}, svc)
	case "codepay":
		return codepay.NewNotifyHandler(codepay.NotifyConfig{
			GatewayKeyFile: g.GatewayPublicKey, MerchantNo: g.MerchantNo, Window: g.NotifyWindow.Std(), Logger: log,
		}, svc)
	case "payprotocol":
		return payprotocol.NewNotifyHandler(payprotocol.NotifyConfig{
			APIKey: g.APIKey, SecretFile: g.APISecretFile, SignPath: payProtocolSignPath(cfg.Notify.PublicURL), Logger: log,
		}, svc)
	}
	return nil, fmt.Errorf("gateway kind %q is not supported yet", g.Kind)
}

// openCloudLane makes the terminal of a lane with mode = "cloud": sales go
// through CodePay's cloud to the lane's terminal_sn.
func openCloudLane(gw posbridge.Gateway, l LaneConfig, log *slog.Logger) (posbridge.Terminal, error) {
	cp, ok := gw.(*codepay.Client)
	if !ok {
		return nil, fmt.Errorf("a cloud lane needs the CodePay gateway, not %s", gw.Name())
	}
	return codepay.NewCloudTerminal(cp, codepay.CloudConfig{
		TerminalSN: l.TerminalSN, RejectOffline: true, PollEvery: l.PollEvery.Std(), PollFor: l.PollFor.Std(), Logger: log,
	})
}

// payProtocolSignPath is the requestPath Pay Protocol signs its callbacks
// with: the path of the public notify URL it posts to (behind a proxy it
// may differ from the local /notify/payprotocol), or the local path.
func payProtocolSignPath(public string) string {
	if u, err := url.Parse(public); err == nil && public != "" && u.EscapedPath() != "" {
		return u.EscapedPath()
	}
	return payprotocol.DefaultNotifyPath
}
