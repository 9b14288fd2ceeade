//go:build !linux && !windows

package main

import (
	"io"

	"github.com/kardianos/service"
)

func platformServiceConfig(c *service.Config) {}

func prepareInstall(s service.Service, cfgPath string, out io.Writer) error { return nil }

// systemLogWriter returns nil: the service manager collects stderr.
func systemLogWriter(s service.Service) (io.Writer, error) { return nil, nil }
