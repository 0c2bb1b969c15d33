package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/clientauth"
	"github.com/gatekeeper-mcp/gatekeeper/internal/config"
)

// tokenCmd mints a development HS256 JWT with the secret serve also reads.
func tokenCmd(args []string, sys IO) error {
	fs := flags("token", "Mint a development HS256 JWT for an agent, signed with $GATEKEEPER_JWT_SECRET (or\n"+
		"auth.jwt.hs256_secret_file), with the issuer and audience serve expects. Prints the token.", sys)
	sub := fs.String("sub", "", "the agent (JWT sub), required")
	scope := fs.String("scope", "", "comma-separated scopes, e.g. read,list,write")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	configFile := fs.String("config", "", "YAML config file (default $GATEKEEPER_CONFIG)")
	envFile := envFileFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	env, err := environ(sys, *envFile)
	if err != nil {
		return err
	}
	cfg, err := config.Load(env, *configFile)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	var scopes []string
	for _, s := range strings.Split(*scope, ",") {
		if s = strings.TrimSpace(s); s != "" {
			scopes = append(scopes, s)
		}
	}
	var errs []error
	if !clientauth.ValidAgent(*sub) {
		errs = append(errs, fmt.Errorf("--sub %q is not an agent name (lower-case letters, digits, - and _)", *sub))
	}
	if cfg.JWTSecret.IsZero() {
		errs = append(errs, errors.New("GATEKEEPER_JWT_SECRET (or auth.jwt.hs256_secret_file) is not set"))
	}
	switch {
	case *ttl <= 0:
		errs = append(errs, errors.New("--ttl must be positive"))
	case *ttl > cfg.Auth.JWT.MaxLifetime:
		errs = append(errs, fmt.Errorf("--ttl %s is longer than auth.jwt.max_lifetime (%s): the server would refuse the token", *ttl, cfg.Auth.JWT.MaxLifetime))
	}
	for _, s := range scopes {
		if !slices.Contains(config.Scopes, s) {
			errs = append(errs, fmt.Errorf("unknown scope %q (known: %s)", s, strings.Join(config.Scopes, ", ")))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	tok, err := clientauth.MintHS256(cfg.JWTSecret, cfg.JWTIssuer(), cfg.Auth.JWT.Audience, *sub, scopes, *ttl, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(sys.Stdout, tok)
	return nil
}

// apikeyCmd makes a new API key: the key for the agent, the hash for the
// config file. Gatekeeper never stores the key itself.
func apikeyCmd(args []string, sys IO) error {
	fs := flags("apikey", "Generate an API key. Prints the key (give it to the agent once) and the sha256 line\n"+
		"for auth.api_keys in the config file.", sys)
	if err := parse(fs, args); err != nil {
		return err
	}
	key, err := clientauth.NewKey()
	if err != nil {
		return err
	}
	fmt.Fprintf(sys.Stdout, "key:    %s\nsha256: %s\n", key, clientauth.HashKey(key))
	return nil
}
