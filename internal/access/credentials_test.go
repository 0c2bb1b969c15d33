package access

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

func testCredential(name string, _ *Grant, life time.Duration) Credential {
	return Credential{Name: name, Engine: "database", LeaseID: "database/creds/r/" + name, IssuedAt: t0,
		ExpiresAt: t0.Add(life), Values: map[string]sensitive.String{"password": sensitive.New("pw-" + name)}}
}

// TestCredentialsLiveAndDieWithTheirGrant: a credential is kept under the
// grant of its tier, found by name while both live, listed, and recorded
// as ended when its grant ends; a write credential ends at release while a
// read one lives on.
func TestCredentialsLiveAndDieWithTheirGrant(t *testing.T) {
	f := newFixture(t)
	mustAuthenticate(t, f)
	if _, err := f.m.Escalate(t.Context(), agent, "rotate", nil, passcode); err != nil {
		t.Fatal(err)
	}
	read, err := f.m.ForCredential(t.Context(), agent, Read, "issue_credential ro")
	if err != nil || read.Tier != Read {
		t.Fatalf("ForCredential(read) = %+v, %v: want the read grant even with write live", read, err)
	}
	write, err := f.m.ForCredential(t.Context(), agent, Write, "issue_credential rw")
	if err != nil || write.Tier != Write {
		t.Fatalf("ForCredential(write) = %+v, %v", write, err)
	}
	if err := f.m.AddCredential(t.Context(), read, testCredential("ro", read, time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := f.m.AddCredential(t.Context(), write, testCredential("rw", write, 10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := f.m.AddCredential(t.Context(), write, testCredential("long", write, time.Hour)); !errors.Is(err, ErrTokenTooLong) {
		t.Errorf("a credential outliving its grant: %v, want ErrTokenTooLong", err)
	}
	if c, err := f.m.Credential(agent, "rw"); err != nil || c.Values["password"].Reveal() != "pw-rw" {
		t.Fatalf("Credential(rw) = %+v, %v", c, err)
	}
	want := []CredentialView{
		{Name: "rw", Engine: "database", Tier: Write, LeaseID: "database/creds/r/rw", ExpiresAt: t0.Add(10 * time.Minute)},
		{Name: "ro", Engine: "database", Tier: Read, LeaseID: "database/creds/r/ro", ExpiresAt: t0.Add(time.Hour)},
	}
	if diff := cmp.Diff(want, f.m.Credentials(agent)); diff != "" {
		t.Errorf("Credentials (-want +got):\n%s", diff)
	}
	if got := f.m.Snapshot().Grants[1].Credentials; len(got) != 1 || got[0].Name != "rw" {
		t.Errorf("the write grant's view lists %+v", got)
	}

	if _, err := f.m.Release(t.Context(), agent); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Credential(agent, "rw"); !errors.Is(err, ErrNoCredential) {
		t.Errorf("Credential(rw) after release = %v, want ErrNoCredential", err)
	}
	if _, err := f.m.Credential(agent, "ro"); err != nil {
		t.Errorf("Credential(ro) after release = %v: a read credential outlives write", err)
	}
	ended := f.audit.named(audit.CredentialRevoked)
	if len(ended) != 1 || ended[0].Credential != "rw" || ended[0].LeaseID != "database/creds/r/rw" || ended[0].Detail != "ended with its grant: release" {
		t.Errorf("credential.revoked events = %+v", ended)
	}
	issued := f.audit.named(audit.CredentialIssued)
	if len(issued) != 2 || issued[0].Credential != "ro" || issued[0].Tier != "read" || issued[0].Accessor == "" {
		t.Errorf("credential.issued events = %+v", issued)
	}
	for _, e := range append(issued, ended...) {
		if e.Detail == "pw-ro" || e.Detail == "pw-rw" {
			t.Error("an event holds a credential's value")
		}
	}

	// Taken by the agent's revoke_credential: gone from the grant.
	creds, gs := f.m.TakeCredential(agent, "ro")
	if len(creds) != 1 || gs[0] != read {
		t.Fatalf("TakeCredential = %+v", creds)
	}
	f.m.EndCredential(t.Context(), gs[0], creds[0], "revoked by the agent", nil)
	if _, err := f.m.Credential(agent, "ro"); !errors.Is(err, ErrNoCredential) {
		t.Errorf("Credential(ro) after it was taken = %v", err)
	}
}

// TestCredentialOnAnEndedGrant: a credential issued with a grant that ended
// meanwhile is not kept (the caller gives it back).
func TestCredentialOnAnEndedGrant(t *testing.T) {
	f := newFixture(t)
	mustAuthenticate(t, f)
	g, err := f.m.ForCredential(t.Context(), agent, Read, "issue_credential ro")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Logout(t.Context(), agent); err != nil {
		t.Fatal(err)
	}
	if err := f.m.AddCredential(t.Context(), g, testCredential("ro", g, time.Hour)); !errors.Is(err, ErrGrantLost) {
		t.Fatalf("AddCredential on an ended grant = %v, want ErrGrantLost", err)
	}
	if n := len(f.audit.named(audit.CredentialIssued)); n != 0 {
		t.Errorf("%d credential.issued events for a credential not kept", n)
	}
}

// TestWriteCredentialNeedsWrite: write never escalates by itself.
func TestWriteCredentialNeedsWrite(t *testing.T) {
	f := newFixture(t)
	mustAuthenticate(t, f)
	if _, err := f.m.ForCredential(t.Context(), agent, Write, "issue_credential rw"); !errors.Is(err, ErrWriteRequired) {
		t.Fatalf("ForCredential(write) without write = %v", err)
	}
}

// TestCredentialsEndWhenTheirGrantIsReplaced: a new approval that replaces
// a grant (write for other paths) ends the old grant's credentials, which
// Vault revokes with its token.
func TestCredentialsEndWhenTheirGrantIsReplaced(t *testing.T) {
	f := newFixture(t)
	mustAuthenticate(t, f)
	if _, err := f.m.Escalate(t.Context(), agent, "rotate db", []string{"db/"}, passcode); err != nil {
		t.Fatal(err)
	}
	old, err := f.m.ForCredential(t.Context(), agent, Write, "issue_credential rw")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.m.AddCredential(t.Context(), old, testCredential("rw", old, 10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Escalate(t.Context(), agent, "rotate certs", []string{"certs/"}, passcode); err != nil {
		t.Fatal(err)
	}
	if g, err := f.m.ForCredential(t.Context(), agent, Write, "issue_credential rw"); err != nil || g == old {
		t.Fatalf("ForCredential after the new approval = %+v, %v: want the new write grant", g, err)
	}
	if _, err := f.m.Credential(agent, "rw"); !errors.Is(err, ErrNoCredential) {
		t.Errorf("Credential(rw) after its grant was replaced = %v, want ErrNoCredential", err)
	}
	ended := f.audit.eventually(audit.CredentialRevoked, 1)
	if len(ended) != 1 || ended[0].Credential != "rw" || ended[0].Detail != "ended with its grant: replaced by a new grant" {
		t.Errorf("credential.revoked events = %+v", ended)
	}
}
