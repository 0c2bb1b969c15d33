package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/clientauth"
	"github.com/gatekeeper-mcp/gatekeeper/internal/config"
	"github.com/gatekeeper-mcp/gatekeeper/internal/doctor"
	"github.com/gatekeeper-mcp/gatekeeper/internal/httpserver"
	"github.com/gatekeeper-mcp/gatekeeper/internal/mcptools"
	"github.com/gatekeeper-mcp/gatekeeper/internal/metrics"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
)

// serveHTTP serves many agents over Streamable HTTP. Each authenticated
// agent is its own principal with its own namespace, accounts and tokens.
//
// onListen, if set, is told the base URL once the server listens. load,
// if set, reads the configuration again for a reload (a hangup, the status
// page); without it the configuration is fixed.
func serveHTTP(ctx context.Context, cfg config.Config, sys IO, load func() (config.Config, error), onListen func(url string)) error {
	var m *metrics.Metrics
	var mgr *access.Manager
	m = metrics.New(func() map[access.Tier]int { return mgr.LiveGrants() })
	recent, statusRecorders := statusFeed(cfg)
	c, err := newCore(ctx, cfg, sys, coreOptions{
		agentOf:   func(p access.Principal) setup.Agent { return setup.Agent(p) },
		recorders: append([]access.Recorder{m}, statusRecorders...),
		transport: m.InstrumentVault,
	})
	if err != nil {
		return err
	}
	mgr = c.access
	defer c.close()

	tlsCfg, err := tlsConfig(cfg.HTTP)
	if err != nil {
		return err
	}
	var reload func(context.Context) error
	if load != nil {
		reload = func(ctx context.Context) error { return c.reloadConfig(ctx, load) }
	}
	stopStatus, err := startStatusPage(ctx, cfg, c, recent, reload, sys.Stdout)
	if err != nil {
		return err
	}
	defer stopStatus()
	rest, err := c.restAPI()
	if err != nil {
		return err
	}
	var authServers []string
	if cfg.Auth.JWT.OIDCIssuer != "" {
		authServers = []string{cfg.Auth.JWT.OIDCIssuer}
	}
	srv, err := httpserver.New(httpserver.Options{
		Addr: cfg.HTTP.Listen,
		TLS:  tlsCfg,
		Auth: liveAuth{c},
		Agents: func(name string) ([]string, bool) {
			a, ok := c.settings().cfg.FindAgent(name)
			return a.Scopes, ok
		},
		MCPServer: func(agent string, scopes []string) *mcp.Server {
			return c.mcpServer(c.toolsFor(access.Principal(agent), mcptools.ToolsFor(scopes)), httpCaller)
		},
		REST:                rest,
		Stateless:           cfg.HTTP.Stateless,
		SessionTimeout:      cfg.HTTP.SessionTimeout,
		MaxSessionsPerAgent: cfg.HTTP.MaxSessionsPerAgent,
		// A new session costs a tool call of the agent's rate.
		AllowSession:         func(agent string) (time.Duration, bool) { return c.limits.Allow(agent) },
		MaxBodyBytes:         cfg.HTTP.MaxBodyBytes,
		AllowedOrigins:       cfg.HTTP.AllowedOrigins,
		PublicURL:            cfg.HTTP.PublicURL,
		AuthorizationServers: authServers,
		Ready:                readiness(c),
		Metrics:              m.Handler(),
		MetricsToken:         cfg.HTTP.MetricsToken,
		Instrument: func(name string, h http.Handler) http.Handler {
			return m.InstrumentHandler(name, c.tracing.Handler(name, h))
		},
		WriteTimeout: writeTimeout(cfg),
		Audit:        c.audit,
		Logger:       c.logger,
	})
	if err != nil {
		return err
	}
	if load != nil {
		c.reloading.Lock() // the status page may be reloading already
		c.forget = srv.Forget
		c.reloading.Unlock()
		rctx, stopReloads := context.WithCancel(ctx)
		defer stopReloads()
		go c.watchReload(rctx, sys.Hangup, load)
	}
	c.logger.Info("serving MCP over HTTP", "url", srv.URL()+"/mcp", "rest", srv.URL()+"/v1/", "vault", cfg.VaultAddr,
		"auth", cfg.AuthMethods(), "agents", len(cfg.Agents), "stateless", cfg.HTTP.Stateless)
	// The first line on stdout says where to connect (useful with port 0).
	fmt.Fprintf(sys.Stdout, "gatekeeper: listening on %s/mcp\n", srv.URL())
	if onListen != nil {
		onListen(srv.URL())
	}
	runErr := srv.Run(ctx)
	stopStatus()
	c.close() // revoke every grant before saying so

	if runErr != nil {
		return runErr
	}
	if c.state != nil {
		c.logger.Info("stopped") // the access model said whether it revoked
		return nil
	}
	c.logger.Info("stopped; all grants revoked")
	return nil
}

// writeTimeout bounds a response to /mcp: a call may wait for an approval,
// then for http_request's destination.
func writeTimeout(cfg config.Config) time.Duration {
	d := cfg.ApprovalTimeout + time.Minute
	if cfg.HTTPRequestEnabled() {
		d += cfg.HTTPRequest.Timeout
	}
	return d
}

// httpCaller is the agent the HTTP layer authenticated for this request,
// with its effective scopes, as handed to the SDK.
func httpCaller(_ context.Context, req *mcp.CallToolRequest) (mcptools.Caller, error) {
	var ti *auth.TokenInfo
	if req.Extra != nil {
		ti = req.Extra.TokenInfo
	}
	if ti == nil || ti.UserID == "" {
		return mcptools.Caller{}, errors.New("no authenticated caller on an HTTP request")
	}
	return mcptools.Caller{Principal: access.Principal(ti.UserID), Scopes: slices.Clip(append([]string{}, ti.Scopes...))}, nil
}

// liveAuth authenticates with the methods of the live settings, taken once
// per request.
type liveAuth struct{ c *core }

func (l liveAuth) Name() string { return l.c.settings().auth.Name() }

func (l liveAuth) Authenticate(r *http.Request) (*clientauth.Identity, error) {
	return l.c.settings().auth.Authenticate(r)
}

// authMethods builds the configured client authentication methods. mTLS
// goes first so that an identity header from an untrusted address is
// refused whatever else the request carries. ctx bounds the JWKS refresh.
func authMethods(ctx context.Context, cfg config.Config, logger *slog.Logger) (clientauth.Method, error) {
	var methods []clientauth.Method
	if cfg.HTTP.ClientCAFile != "" || len(cfg.Auth.MTLS.TrustedProxies) > 0 {
		var proxies []netip.Prefix
		for _, p := range cfg.Auth.MTLS.TrustedProxies {
			proxies = append(proxies, netip.MustParsePrefix(p)) // validated with the configuration
		}
		m, err := clientauth.NewMTLS(clientauth.MTLSOptions{
			SPIFFE: cfg.Auth.MTLS.SPIFFE,
			ScopesFor: func(agent string) []string {
				a, _ := cfg.FindAgent(agent)
				return a.Scopes
			},
			TrustedProxies: proxies,
			ProxyHeader:    cfg.Auth.MTLS.ProxyHeader,
		})
		if err != nil {
			return nil, err
		}
		methods = append(methods, m)
	}
	if len(cfg.Auth.APIKeys) > 0 {
		var keys []clientauth.APIKey
		for _, k := range cfg.Auth.APIKeys {
			keys = append(keys, clientauth.APIKey{ID: k.ID, Agent: k.Agent, SHA256: k.SHA256, Scopes: k.Scopes, Revoked: k.Revoked})
		}
		m, err := clientauth.NewAPIKeys(keys)
		if err != nil {
			return nil, err
		}
		methods = append(methods, m)
	}
	if !cfg.JWTSecret.IsZero() || cfg.Auth.JWT.JWKSURL != "" || cfg.Auth.JWT.OIDCIssuer != "" {
		j := cfg.Auth.JWT
		m, err := clientauth.NewJWT(ctx, clientauth.JWTOptions{
			HS256Secret: cfg.JWTSecret,
			JWKSURL:     j.JWKSURL,
			OIDCIssuer:  j.OIDCIssuer,
			Issuer:      cfg.JWTIssuer(),
			Audience:    j.Audience,
			Algorithms:  j.Algorithms,
			Leeway:      j.Leeway,
			MaxLifetime: j.MaxLifetime,
			Logger:      logger,
		})
		if err != nil {
			return nil, err
		}
		methods = append(methods, m)
	}
	return clientauth.Chain(methods...), nil
}

func tlsConfig(h config.HTTP) (*tls.Config, error) {
	if h.TLSCertFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(h.TLSCertFile, h.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("loading the TLS certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if h.ClientCAFile != "" {
		pool, err := certPool(h.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("the client CA: %w", err)
		}
		// Verified if given: agents with keys or tokens need no certificate.
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// readiness: Vault reachable and unsealed, Gatekeeper's own credential
// valid (gatekeeper doctor's checks), the approver able to start a login,
// and with replicas the shared store usable.
func readiness(c *core) []httpserver.Check {
	var checks []httpserver.Check
	for _, d := range []doctor.Check{doctor.Unsealed(c.vault), ownTokenCheck(c.settings().cfg, c.vault, c.ownToken)} {
		checks = append(checks, httpserver.Check{Name: d.Name, Run: func(ctx context.Context) error {
			_, err := d.Run(ctx)
			return err
		}})
	}
	checks = append(checks, httpserver.Check{Name: "approver", Run: c.approverReady})
	if c.state != nil {
		// Replicas: the shared store answers and its key seals.
		checks = append(checks, httpserver.Check{Name: "state", Run: c.state.Check})
	}
	return checks
}
