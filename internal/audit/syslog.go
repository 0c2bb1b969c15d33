//go:build !windows && !plan9

package audit

import (
	"fmt"
	"log/syslog"
)

// SyslogOptions configure a SyslogSink.
type SyslogOptions struct {
	// Network is "local" (the machine's syslog socket), "udp", "tcp",
	// "unix" or "unixgram".
	Network string
	Address string // host:port, or a socket path; empty for local
	Tag     string // default "gatekeeper"
}

// SyslogSink sends each line as one syslog message (facility auth,
// severity info). log/syslog reconnects once on a failed write before
// reporting it.
type SyslogSink struct {
	w *syslog.Writer
}

// NewSyslogSink connects to the syslog server: a bad address, or a TCP or
// stream socket nobody listens on, fails now rather than at the first
// decision.
func NewSyslogSink(o SyslogOptions) (*SyslogSink, error) {
	network := o.Network
	if network == "local" {
		network = ""
	}
	tag := o.Tag
	if tag == "" {
		tag = "gatekeeper"
	}
	w, err := syslog.Dial(network, o.Address, syslog.LOG_AUTH|syslog.LOG_INFO, tag)
	if err != nil {
		return nil, fmt.Errorf("connecting to syslog: %w", err)
	}
	return &SyslogSink{w: w}, nil
}

func (s *SyslogSink) Name() string { return "syslog" }

func (s *SyslogSink) Write(line []byte) error { return s.w.Info(string(line)) }

func (s *SyslogSink) Close() error { return s.w.Close() }
