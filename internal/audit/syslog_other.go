//go:build windows || plan9

package audit

import "errors"

// SyslogOptions configure a SyslogSink.
type SyslogOptions struct {
	Network, Address, Tag string
}

// SyslogSink is not available on this system.
type SyslogSink struct{}

// NewSyslogSink fails: log/syslog does not exist here.
func NewSyslogSink(SyslogOptions) (*SyslogSink, error) {
	return nil, errors.New("syslog is not available on this system")
}

func (*SyslogSink) Name() string       { return "syslog" }
func (*SyslogSink) Write([]byte) error { return errors.New("syslog is not available on this system") }
func (*SyslogSink) Close() error       { return nil }
