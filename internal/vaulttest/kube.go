package vaulttest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatekeeper-mcp/gatekeeper/internal/devvault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// KubeAPI stands in for the one Kubernetes API call Vault's Kubernetes auth
// method makes: a TokenReview of the service account token a client logs in
// with. There is no cluster on the build machines, so this is the fake;
// Vault, its Kubernetes auth method and the login are real. Like the API
// server, it signs service account tokens with its own key and, on review,
// accepts only its own unexpired tokens with a requested audience.
type KubeAPI struct {
	URL string // https://127.0.0.1:PORT
	// CACert is the PEM certificate the API serves TLS with, as a
	// cluster's CA certificate is: Vault verifies the TokenReview call
	// against it (kubernetes_ca_cert).
	CACert string
	key    *rsa.PrivateKey
	uids   map[string]string // namespace/name -> uid
}

// ServiceAccount names a service account token.
type ServiceAccount struct {
	Namespace, Name string
	Audience        []string
	TTL             time.Duration // default 10m; negative: already expired
	// Key signs the token instead of the API's own (a forgery).
	Key *rsa.PrivateKey
}

// StartKubeAPI serves the TokenReview endpoint over TLS on 127.0.0.1 until
// cleanup.
func StartKubeAPI(t testing.TB) *KubeAPI {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k := &KubeAPI{key: key, uids: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /apis/authentication.k8s.io/v1/tokenreviews", k.review)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Config.ReadHeaderTimeout = 10 * time.Second
	srv.StartTLS()
	t.Cleanup(srv.Close)
	k.URL = srv.URL
	k.CACert = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	return k
}

// Token mints a projected service account token, as the kubelet mounts it.
func (k *KubeAPI) Token(t testing.TB, sa ServiceAccount) sensitive.String {
	t.Helper()
	uid := "uid-" + sa.Namespace + "-" + sa.Name
	k.uids[sa.Namespace+"/"+sa.Name] = uid
	ttl := sa.TTL
	if ttl == 0 {
		ttl = 10 * time.Minute
	}
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": "https://kubernetes.default.svc.cluster.local",
		"sub": "system:serviceaccount:" + sa.Namespace + ":" + sa.Name,
		"aud": sa.Audience,
		"iat": now.Add(-time.Minute).Unix(),
		"nbf": now.Add(-time.Minute).Unix(),
		"exp": now.Add(ttl).Unix(),
		"kubernetes.io": map[string]any{
			"namespace":      sa.Namespace,
			"serviceaccount": map[string]any{"name": sa.Name, "uid": uid},
			"pod":            map[string]any{"name": sa.Name + "-0", "uid": "pod-uid"},
		},
	}
	key := sa.Key
	if key == nil {
		key = k.key
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return sensitive.New(s)
}

type tokenReview struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		Token     string   `json:"token"`
		Audiences []string `json:"audiences,omitempty"`
	} `json:"spec"`
	Status struct {
		Authenticated bool     `json:"authenticated"`
		Audiences     []string `json:"audiences,omitempty"`
		Error         string   `json:"error,omitempty"`
		User          struct {
			Username string `json:"username,omitempty"`
			UID      string `json:"uid,omitempty"`
		} `json:"user"`
	} `json:"status"`
}

// review answers a TokenReview the way the API server does for service
// account tokens: authenticated with the user and the audiences asked for,
// or not authenticated with an error.
func (k *KubeAPI) review(w http.ResponseWriter, r *http.Request) {
	var tr tokenReview
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&tr); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	tr.APIVersion, tr.Kind = "authentication.k8s.io/v1", "TokenReview"
	ns, name, aud, err := k.verify(tr.Spec.Token, tr.Spec.Audiences)
	if err != nil {
		tr.Status.Error = err.Error()
	} else {
		tr.Status.Authenticated = true
		tr.Status.Audiences = aud
		tr.Status.User.Username = "system:serviceaccount:" + ns + ":" + name
		tr.Status.User.UID = k.uids[ns+"/"+name]
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(tr)
}

func (k *KubeAPI) verify(token string, want []string) (ns, name string, aud []string, err error) {
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return &k.key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired())
	if err != nil {
		return "", "", nil, errors.New("invalid bearer token")
	}
	sub, _ := claims.GetSubject()
	parts := strings.Split(sub, ":")
	if len(parts) != 4 || parts[0] != "system" || parts[1] != "serviceaccount" {
		return "", "", nil, errors.New("not a service account token")
	}
	have, _ := claims.GetAudience()
	if len(want) > 0 {
		for _, a := range want {
			if slices.Contains(have, a) {
				aud = append(aud, a)
			}
		}
		if len(aud) == 0 {
			return "", "", nil, errors.New("token audiences do not match")
		}
	} else {
		aud = have
	}
	return parts[2], parts[3], aud, nil
}

// KubeRole is a role of Vault's Kubernetes auth method.
type KubeRole struct {
	Name, Namespace, ServiceAccount string
	Policies                        []string
	Audience                        string
	Period                          time.Duration // token_period; 0 for a token with a plain TTL
	TTL                             time.Duration // token_ttl when Period is 0
}

// EnableKubernetesAuth enables the Kubernetes auth method at mount on srv,
// pointed at api, and writes the roles. The config names the API's CA
// certificate and turns off the in-pod defaults (the local CA and service
// account token), which Vault accepts either way and OpenBao only with a
// CA certificate given.
func EnableKubernetesAuth(t testing.TB, srv *devvault.Server, api *KubeAPI, mount string, roles ...KubeRole) {
	t.Helper()
	c, root := Client(t, srv), Root(srv)
	ctx := t.Context()
	if _, err := c.Write(ctx, root, "sys/auth/"+mount, map[string]any{"type": "kubernetes"}); err != nil {
		t.Fatalf("enabling the kubernetes auth method: %v", err)
	}
	if _, err := c.Write(ctx, root, "auth/"+mount+"/config", map[string]any{
		"kubernetes_host":      api.URL,
		"kubernetes_ca_cert":   api.CACert,
		"disable_local_ca_jwt": true,
	}); err != nil {
		t.Fatalf("configuring the kubernetes auth method: %v", err)
	}
	for _, r := range roles {
		body := map[string]any{
			"bound_service_account_names":      []string{r.ServiceAccount},
			"bound_service_account_namespaces": []string{r.Namespace},
			"token_policies":                   r.Policies, // and "default": lookup-self and renew-self
		}
		if r.Audience != "" {
			body["audience"] = r.Audience
		}
		if r.Period > 0 {
			body["token_period"] = int64(r.Period.Seconds())
		} else if r.TTL > 0 {
			body["token_ttl"] = int64(r.TTL.Seconds())
			body["token_max_ttl"] = int64(r.TTL.Seconds())
		}
		if _, err := c.Write(ctx, root, "auth/"+mount+"/role/"+r.Name, body); err != nil {
			t.Fatalf("writing kubernetes role %s: %v", r.Name, err)
		}
	}
}
