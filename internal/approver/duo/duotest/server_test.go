package duotest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	duoapi "github.com/duosecurity/duo_api_golang"
	"github.com/duosecurity/duo_api_golang/authapi"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/duo/duotest"
)

// client is Duo's official client pointed at the fake: the reference
// signer the fake's independent verifier must agree with.
func client(srv *duotest.Server, ikey, skey string) *authapi.AuthApi {
	api := duoapi.NewDuoApi(ikey, skey, srv.Host, "duotest")
	api.SetCustomHTTPClient(srv.Client())
	return authapi.NewAuthApi(*api)
}

func code(s duoapi.StatResult) int {
	if s.Code == nil {
		return 0
	}
	return int(*s.Code)
}

func TestOfficialClientCredentials(t *testing.T) {
	t.Parallel()
	hourAhead := func() time.Time { return time.Now().Add(time.Hour) }
	tests := []struct {
		name       string
		ikey, skey func(*duotest.Server) string
		now        func() time.Time
		wantStat   string
		wantCode   int
	}{
		{"ok", ikey, skey, nil, "OK", 0},
		{"fail/wrong-secret", ikey, func(s *duotest.Server) string { return s.SKey[:39] + "x" }, nil, "FAIL", 40103},
		{"fail/wrong-ikey", func(_ *duotest.Server) string { return "DI" + strings.Repeat("Z", 18) }, skey, nil, "FAIL", 40102},
		{"fail/clock-skew", ikey, skey, hourAhead, "FAIL", 40105},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := duotest.Start(t)
			if tt.now != nil {
				srv.SetNow(tt.now)
			}
			res, err := client(srv, tt.ikey(srv), tt.skey(srv)).Check()
			if err != nil {
				t.Fatal(err)
			}
			got := []any{res.Stat, code(res.StatResult)}
			if diff := cmp.Diff([]any{tt.wantStat, tt.wantCode}, got); diff != "" {
				t.Errorf("check mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func ikey(s *duotest.Server) string { return s.IKey }
func skey(s *duotest.Server) string { return s.SKey }

func TestPingIsUnsigned(t *testing.T) {
	t.Parallel()
	srv := duotest.Start(t)
	res, err := client(srv, "", "").Ping()
	if err != nil {
		t.Fatal(err)
	}
	if res.Stat != "OK" || res.Response.Time == 0 {
		t.Errorf("ping = %+v", res)
	}
}

func TestScriptedPush(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		user       duotest.User
		wantPre    string
		wantStatus []string // result/status per poll
	}{
		{"ok", duotest.User{Script: duotest.Script{Answer: duotest.Allow}}, "auth", []string{"allow/allow"}},
		{"ok/after-2-polls", duotest.User{Script: duotest.Script{Answer: duotest.Allow, AfterPolls: 2}}, "auth",
			[]string{"waiting/pushed", "waiting/pushed", "allow/allow"}},
		{"fail/denied", duotest.User{Script: duotest.Script{Answer: duotest.Deny}}, "auth", []string{"deny/deny"}},
		{"fail/fraud", duotest.User{Script: duotest.Script{Answer: duotest.Fraud}}, "auth", []string{"deny/fraud"}},
		{"fail/duo-timeout", duotest.User{Script: duotest.Script{Answer: duotest.Timeout}}, "auth", []string{"deny/timeout"}},
		{"fail/never-answered", duotest.User{}, "auth", []string{"waiting/pushed", "waiting/pushed", "waiting/pushed"}},
		// One call, held until the human answers, as Duo's long-poll does.
		{"ok/held-until-answered", duotest.User{Script: duotest.Script{Answer: duotest.Allow, Delay: time.Second}}, "auth", []string{"allow/allow"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := duotest.Start(t)
			srv.Hold = 100 * time.Millisecond
			if tt.user.Delay > 0 {
				srv.Hold = time.Minute
			}
			srv.SetUser("alice", tt.user)
			api := client(srv, srv.IKey, srv.SKey)
			pre, err := api.Preauth(authapi.PreauthUsername("alice"))
			if err != nil || pre.Response.Result != tt.wantPre {
				t.Fatalf("preauth = %+v, %v", pre, err)
			}
			res, err := api.Auth("push", authapi.AuthUsername("alice"), authapi.AuthDevice("auto"), authapi.AuthAsync(),
				authapi.AuthType("title"), authapi.AuthPushinfo("Agent=ci&Reason=a%20b%26c"))
			if err != nil || res.Stat != "OK" || res.Response.Txid == "" {
				t.Fatalf("auth = %+v, %v", res, err)
			}
			var got []string
			for range tt.wantStatus {
				st, err := api.AuthStatus(res.Response.Txid)
				if err != nil || st.Stat != "OK" {
					t.Fatalf("auth_status = %+v, %v", st, err)
				}
				got = append(got, st.Response.Result+"/"+st.Response.Status)
			}
			if diff := cmp.Diff(tt.wantStatus, got); diff != "" {
				t.Errorf("auth_status mismatch (-want +got):\n%s", diff)
			}
			want := []duotest.Push{{
				TxID: res.Response.Txid, Username: "alice", Factor: "push", Device: "auto", Async: true, Type: "title",
				PushInfo:    []duotest.Pair{{"Agent", "ci"}, {"Reason", "a b&c"}},
				RawPushInfo: "Agent=ci&Reason=a%20b%26c", Polls: len(tt.wantStatus),
			}}
			pushes := srv.Pushes()
			if diff := cmp.Diff(want, pushes, cmpopts.IgnoreFields(duotest.Push{}, "PolledAt")); diff != "" {
				t.Errorf("pushes mismatch (-want +got):\n%s", diff)
			}
			if d := tt.user.Delay; d > 0 && (len(pushes) != 1 || len(pushes[0].PolledAt) != 1 || pushes[0].PolledAt[0] >= d) {
				t.Errorf("the answer came %s after the push, yet the status call was not held until it: %+v", d, pushes)
			}
		})
	}
}

func TestPerPushScript(t *testing.T) {
	t.Parallel()
	srv := duotest.Start(t)
	srv.SetUser("alice", duotest.User{Script: duotest.Script{Answer: duotest.Allow}})
	srv.OnPush(func(p duotest.Push) duotest.Script {
		if p.Type == "deny me" {
			return duotest.Script{Answer: duotest.Deny}
		}
		return duotest.Script{Answer: duotest.Allow}
	})
	api := client(srv, srv.IKey, srv.SKey)
	var got []string
	for _, typ := range []string{"allow me", "deny me"} {
		res, err := api.Auth("push", authapi.AuthUsername("alice"), authapi.AuthDevice("auto"), authapi.AuthAsync(), authapi.AuthType(typ))
		if err != nil {
			t.Fatal(err)
		}
		st, err := api.AuthStatus(res.Response.Txid)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, st.Response.Result)
	}
	if diff := cmp.Diff([]string{"allow", "deny"}, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
	if n := srv.PushCount(); n != 2 {
		t.Errorf("PushCount = %d, want 2", n)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	srv := duotest.Start(t)
	srv.SetUser("alice", duotest.User{})
	srv.SetUser("smsonly", duotest.User{Capabilities: []string{"sms"}})
	api := client(srv, srv.IKey, srv.SKey)
	pre, err := api.Preauth(authapi.PreauthUsername("stranger"))
	if err != nil || pre.Response.Result != "enroll" {
		t.Errorf("preauth of an unknown user = %+v, %v; want enroll", pre, err)
	}
	tests := []struct {
		name string
		opts []func(*url.Values)
	}{
		{"fail/unknown-user", []func(*url.Values){authapi.AuthUsername("stranger"), authapi.AuthAsync()}},
		{"fail/synchronous", []func(*url.Values){authapi.AuthUsername("alice"), authapi.AuthDevice("auto")}},
		{"fail/no-push-device", []func(*url.Values){authapi.AuthUsername("smsonly"), authapi.AuthDevice("auto"), authapi.AuthAsync()}},
		{"fail/pushinfo-too-long", []func(*url.Values){authapi.AuthUsername("alice"), authapi.AuthDevice("auto"), authapi.AuthAsync(),
			authapi.AuthPushinfo("Reason=" + strings.Repeat("x", duotest.MaxPushInfo))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := api.Auth("push", tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if res.Stat != "FAIL" || code(res.StatResult) != 40002 {
				t.Errorf("auth = %s %d, want FAIL 40002", res.Stat, code(res.StatResult))
			}
		})
	}
	if n := srv.PushCount(); n != 0 {
		t.Errorf("PushCount = %d, want 0", n)
	}
}

// TestTamperedReplay captures requests the official client signed and
// sends them again, changed after signing.
func TestTamperedReplay(t *testing.T) {
	t.Parallel()
	srv := duotest.Start(t)
	srv.SetUser("alice", duotest.User{})
	srv.SetUser("mallory", duotest.User{})
	api := client(srv, srv.IKey, srv.SKey)
	res, err := api.Auth("push", authapi.AuthUsername("alice"), authapi.AuthDevice("auto"), authapi.AuthAsync(),
		authapi.AuthType("Gatekeeper: read access for ci"), authapi.AuthPushinfo("Agent=ci"))
	if err != nil || res.Stat != "OK" {
		t.Fatalf("auth = %+v, %v", res, err)
	}
	if _, err := api.AuthStatus(res.Response.Txid); err != nil {
		t.Fatal(err)
	}
	captured := srv.Requests()
	if len(captured) != 2 {
		t.Fatalf("captured %d requests, want auth and auth_status", len(captured))
	}
	auth, status := captured[0], captured[1]
	other := url.Values{"txid": {"other"}}.Encode()

	tests := []struct {
		name     string
		req      duotest.Request
		wantCode int // Duo's error code, 0 when accepted
		wantUser string
	}{
		{"ok/replayed-as-signed", auth, 0, "alice"},
		{"ok/post-query-ignored", with(auth, func(r *duotest.Request) { r.RawQuery = "username=mallory" }), 0, "alice"},
		{"fail/user-changed", with(auth, func(r *duotest.Request) { r.Body = strings.Replace(r.Body, "username=alice", "username=mallory", 1) }), 40103, ""},
		{"fail/pushinfo-changed", with(auth, func(r *duotest.Request) { r.Body = strings.Replace(r.Body, "Agent%3Dci", "Agent%3Dprod", 1) }), 40103, ""},
		{"fail/type-dropped", with(auth, func(r *duotest.Request) { r.Body = dropParam(r.Body, "type") }), 40103, ""},
		{"fail/param-added", with(auth, func(r *duotest.Request) { r.Body += "&display_username=x" }), 40103, ""},
		{"fail/other-endpoint", with(auth, func(r *duotest.Request) { r.Path = "/auth/v2/preauth" }), 40103, ""},
		{"fail/signature-swapped", with(auth, func(r *duotest.Request) { r.Header.Set("Authorization", status.Header.Get("Authorization")) }), 40103, ""},
		{"fail/status-txid-changed", with(status, func(r *duotest.Request) { r.RawQuery = other }), 40103, ""},
		{"fail/no-date", with(auth, func(r *duotest.Request) { r.Header.Del("Date") }), 40104, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.PushCount()
			gotCode, body := send(t, srv, tt.req)
			if gotCode != tt.wantCode {
				t.Fatalf("code = %d, want %d; body %s", gotCode, tt.wantCode, body)
			}
			pushes := srv.Pushes()
			switch {
			case tt.wantUser == "" && len(pushes) != before:
				t.Errorf("a refused request sent a push")
			case tt.wantUser != "" && (len(pushes) != before+1 || pushes[len(pushes)-1].Username != tt.wantUser):
				t.Errorf("push went to %+v, want one more to %s", pushes[before:], tt.wantUser)
			}
		})
	}
}

func with(r duotest.Request, edit func(*duotest.Request)) duotest.Request {
	r.Header = r.Header.Clone()
	edit(&r)
	return r
}

func dropParam(body, key string) string {
	var keep []string
	for _, kv := range strings.Split(body, "&") {
		if !strings.HasPrefix(kv, key+"=") {
			keep = append(keep, kv)
		}
	}
	return strings.Join(keep, "&")
}

// send replays r and returns Duo's error code (0 for OK) and the body.
func send(t *testing.T, srv *duotest.Server, r duotest.Request) (int, string) {
	t.Helper()
	u := srv.URL() + r.Path
	if r.RawQuery != "" {
		u += "?" + r.RawQuery
	}
	req, err := http.NewRequestWithContext(t.Context(), r.Method, u, strings.NewReader(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = r.Header.Clone()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Stat string
		Code int
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if (out.Stat == "OK") != (resp.StatusCode == http.StatusOK) {
		t.Errorf("stat %s with HTTP %d", out.Stat, resp.StatusCode)
	}
	return out.Code, string(b)
}
