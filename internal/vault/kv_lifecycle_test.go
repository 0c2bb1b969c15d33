package vault_test

import (
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

const mount = "secret" // the dev server's KV v2 mount

// write writes data to path as root and returns the version.
func (e env) write(t *testing.T, path string, data map[string]any) int64 {
	t.Helper()
	v, err := e.c.KVWrite(t.Context(), e.root, mount, path, data)
	if err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
	return v
}

func TestKVReadVersion(t *testing.T) {
	t.Parallel()
	e := start(t)
	before := time.Now().Add(-time.Minute)
	for i, val := range []string{"one", "two", "three"} {
		if v := e.write(t, "app/db", map[string]any{"password": val}); v != int64(i+1) {
			t.Fatalf("write %d returned version %d", i+1, v)
		}
	}
	tests := []struct {
		name    string
		path    string
		version int64
		want    string
		wantVer int64
		wantErr error
	}{
		{name: "ok", path: "app/db", version: 0, want: "three", wantVer: 3},
		{name: "ok/v1", path: "app/db", version: 1, want: "one", wantVer: 1},
		{name: "ok/v2", path: "app/db", version: 2, want: "two", wantVer: 2},
		{name: "ok/v3", path: "app/db", version: 3, want: "three", wantVer: 3},
		{name: "fail/missing-version", path: "app/db", version: 9, wantErr: vault.ErrNotFound},
		{name: "fail/missing-path", path: "app/nothing", version: 0, wantErr: vault.ErrNotFound},
		{name: "fail/missing-path-version", path: "app/nothing", version: 2, wantErr: vault.ErrNotFound},
		{name: "fail/negative-version", path: "app/db", version: -1, wantErr: vault.ErrInvalidRequest},
		{name: "fail/escapes-the-mount", path: "../../sys/mounts", version: 0, wantErr: vault.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := e.c.KVReadVersion(t.Context(), e.root, mount, tt.path, tt.version)
			wantKind(t, err, tt.wantErr)
			if tt.wantErr != nil {
				return
			}
			if diff := cmp.Diff(map[string]any{"password": tt.want}, s.Data); diff != "" {
				t.Errorf("data mismatch (-want +got):\n%s", diff)
			}
			if s.Version != tt.wantVer {
				t.Errorf("Version = %d, want %d", s.Version, tt.wantVer)
			}
			if s.Created.Before(before) || s.Created.After(time.Now().Add(time.Minute)) {
				t.Errorf("Created = %v, want about now", s.Created)
			}
		})
	}
	cur, err := e.c.KVRead(t.Context(), e.root, mount, "app/db")
	if err != nil || cur.Version != 3 {
		t.Fatalf("KVRead = %+v, %v; want version 3", cur, err)
	}
}

func TestKVWriteCAS(t *testing.T) {
	t.Parallel()
	e := start(t)
	e.write(t, "cas/a", map[string]any{"v": "1"})
	e.write(t, "cas/a", map[string]any{"v": "2"})

	tests := []struct {
		name    string
		path    string
		cas     *int64
		wantVer int64
		wantErr error
	}{
		{name: "ok", path: "cas/a", cas: ptr[int64](2), wantVer: 3},
		{name: "ok/unconditional", path: "cas/a", cas: nil, wantVer: 4},
		{name: "ok/create-if-absent", path: "cas/new", cas: ptr[int64](0), wantVer: 1},
		{name: "fail/stale", path: "cas/a", cas: ptr[int64](1), wantErr: vault.ErrCASMismatch},
		{name: "fail/ahead", path: "cas/a", cas: ptr[int64](99), wantErr: vault.ErrCASMismatch},
		{name: "fail/create-but-exists", path: "cas/a", cas: ptr[int64](0), wantErr: vault.ErrCASMismatch},
		{name: "fail/negative", path: "cas/a", cas: ptr[int64](-1), wantErr: vault.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := e.c.KVRead(t.Context(), e.root, mount, tt.path)
			value := "cas-value-" + tt.name
			v, err := e.c.KVWriteCAS(t.Context(), e.root, mount, tt.path, map[string]any{"v": value}, tt.cas)
			wantKind(t, err, tt.wantErr)
			noValue(t, err, value)
			after, rerr := e.c.KVRead(t.Context(), e.root, mount, tt.path)
			if rerr != nil {
				t.Fatalf("reading back: %v", rerr)
			}
			if tt.wantErr != nil {
				// A refused write leaves the secret as it was.
				if after.Version != before.Version || after.Data["v"] == value {
					t.Errorf("after a refused write: version %d (was %d), data %v", after.Version, before.Version, after.Data)
				}
				return
			}
			if v != tt.wantVer || after.Version != tt.wantVer || after.Data["v"] != value {
				t.Errorf("wrote version %d, read version %d %v; want version %d with the new value", v, after.Version, after.Data, tt.wantVer)
			}
		})
	}
}

// Writers that all read version 1 and write with cas 1: Vault lets exactly
// one of them through.
func TestKVWriteCASConcurrent(t *testing.T) {
	t.Parallel()
	e := start(t)
	base := e.write(t, "race/x", map[string]any{"by": "setup"})

	const writers = 8
	var (
		wg    sync.WaitGroup
		ready = make(chan struct{})
		errs  = make([]error, writers)
	)
	for i := range writers {
		wg.Go(func() {
			<-ready
			_, errs[i] = e.c.KVWriteCAS(t.Context(), e.root, mount, "race/x", map[string]any{"by": strconv.Itoa(i)}, &base)
		})
	}
	close(ready)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("writers %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, vault.ErrCASMismatch):
			t.Errorf("writer %d: %v, want ErrCASMismatch", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer won")
	}
	got, err := e.c.KVRead(t.Context(), e.root, mount, "race/x")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != base+1 || got.Data["by"] != strconv.Itoa(winner) {
		t.Errorf("after the race: version %d by %v; want version %d by writer %d", got.Version, got.Data["by"], base+1, winner)
	}
}

func TestKVCASRequired(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := t.Context()
	// One secret demands cas in its metadata; a whole mount in its config.
	e.write(t, "strict/one", map[string]any{"v": "1"})
	if _, err := e.c.Write(ctx, e.root, "secret/metadata/strict/one", map[string]any{"cas_required": true}); err != nil {
		t.Fatal(err)
	}
	if err := e.c.MountKVv2(ctx, e.root, "strictkv"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Write(ctx, e.root, "strictkv/config", map[string]any{"cas_required": true}); err != nil {
		t.Fatal(err)
	}

	type writeFunc func(mount, path string, cas *int64) (int64, error)
	write := func(mnt, p string, cas *int64) (int64, error) {
		return e.c.KVWriteCAS(ctx, e.root, mnt, p, map[string]any{"v": "w"}, cas)
	}
	patch := func(mnt, p string, cas *int64) (int64, error) {
		return e.c.KVPatch(ctx, e.root, mnt, p, map[string]any{"p": "x"}, cas)
	}
	tests := []struct {
		name    string
		call    writeFunc
		mount   string
		path    string
		cas     *int64
		wantErr error
	}{
		{name: "ok", call: write, mount: mount, path: "strict/one", cas: ptr[int64](1)},
		{name: "ok/patch", call: patch, mount: mount, path: "strict/one", cas: ptr[int64](2)},
		{name: "ok/mount", call: write, mount: "strictkv", path: "a", cas: ptr[int64](0)},
		{name: "ok/other-secret", call: write, mount: mount, path: "relaxed", cas: nil},
		{name: "fail/write-without-cas", call: write, mount: mount, path: "strict/one", wantErr: vault.ErrCASRequired},
		{name: "fail/patch-without-cas", call: patch, mount: mount, path: "strict/one", wantErr: vault.ErrCASRequired},
		{name: "fail/mount-without-cas", call: write, mount: "strictkv", path: "b", wantErr: vault.ErrCASRequired},
		{name: "fail/stale-cas", call: write, mount: mount, path: "strict/one", cas: ptr[int64](1), wantErr: vault.ErrCASMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.call(tt.mount, tt.path, tt.cas)
			wantKind(t, err, tt.wantErr)
		})
	}
	md, err := e.c.KVMetadata(ctx, e.root, mount, "strict/one")
	if err != nil {
		t.Fatal(err)
	}
	if !md.CASRequired {
		t.Error("metadata of strict/one: CASRequired = false")
	}
}

func TestKVPatch(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := t.Context()
	e.write(t, "p/app", map[string]any{"user": "u", "password": "old", "port": "5432"})
	e.write(t, "p/gone", map[string]any{"k": "v"})
	if err := e.c.KVDelete(ctx, e.root, mount, "p/gone", nil); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		path     string
		patch    map[string]any
		cas      *int64
		wantVer  int64
		wantData map[string]any
		wantErr  error
	}{
		{
			name: "ok", path: "p/app", patch: map[string]any{"password": "new", "host": "db"},
			wantVer: 2, wantData: map[string]any{"user": "u", "password": "new", "port": "5432", "host": "db"},
		},
		{
			name: "ok/null-removes", path: "p/app", patch: map[string]any{"port": nil}, cas: ptr[int64](2),
			wantVer: 3, wantData: map[string]any{"user": "u", "password": "new", "host": "db"},
		},
		{name: "fail/stale-cas", path: "p/app", patch: map[string]any{"user": "x"}, cas: ptr[int64](1), wantErr: vault.ErrCASMismatch},
		{name: "fail/missing", path: "p/none", patch: map[string]any{"user": "x"}, wantErr: vault.ErrNotFound},
		{name: "fail/deleted", path: "p/gone", patch: map[string]any{"k": "x"}, wantErr: vault.ErrDeleted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := e.c.KVPatch(ctx, e.root, mount, tt.path, tt.patch, tt.cas)
			wantKind(t, err, tt.wantErr)
			noValue(t, err, "x")
			if tt.wantErr != nil {
				return
			}
			if v != tt.wantVer {
				t.Errorf("version = %d, want %d", v, tt.wantVer)
			}
			got, err := e.c.KVRead(ctx, e.root, mount, tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantData, got.Data); diff != "" {
				t.Errorf("data mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// The life of one secret: four versions, some deleted, one undeleted, one
// destroyed; each version then reads as what happened to it, and the
// metadata tells the same story.
func TestKVDeleteUndeleteDestroy(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := t.Context()
	const path = "life/db"
	for _, v := range []string{"v1-value", "v2-value", "v3-value", "v4-value"} {
		e.write(t, path, map[string]any{"v": v})
	}
	if _, err := e.c.Write(ctx, e.root, "secret/metadata/"+path, map[string]any{
		"custom_metadata": map[string]any{"owner": "ci", "rotate": "monthly"},
	}); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name    string
		call    func() error
		wantErr error
	}{
		{name: "ok/delete-latest", call: func() error { return e.c.KVDelete(ctx, e.root, mount, path, nil) }},
		{name: "ok/delete-listed", call: func() error { return e.c.KVDelete(ctx, e.root, mount, path, []int64{2, 3}) }},
		{name: "ok/undelete", call: func() error { return e.c.KVUndelete(ctx, e.root, mount, path, []int64{3}) }},
		{name: "ok/destroy", call: func() error { return e.c.KVDestroy(ctx, e.root, mount, path, []int64{1}) }},
		{name: "fail/undelete-without-versions", call: func() error { return e.c.KVUndelete(ctx, e.root, mount, path, nil) }, wantErr: vault.ErrInvalidRequest},
		{name: "fail/destroy-without-versions", call: func() error { return e.c.KVDestroy(ctx, e.root, mount, path, nil) }, wantErr: vault.ErrInvalidRequest},
		{name: "fail/destroy-version-zero", call: func() error { return e.c.KVDestroy(ctx, e.root, mount, path, []int64{0}) }, wantErr: vault.ErrInvalidRequest},
		{name: "fail/delete-negative-version", call: func() error { return e.c.KVDelete(ctx, e.root, mount, path, []int64{-2}) }, wantErr: vault.ErrInvalidRequest},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) { wantKind(t, st.call(), st.wantErr) })
	}

	reads := []struct {
		name    string
		version int64
		want    string
		wantErr error
	}{
		{name: "fail/destroyed", version: 1, wantErr: vault.ErrDestroyed},
		{name: "fail/deleted", version: 2, wantErr: vault.ErrDeleted},
		{name: "ok/undeleted", version: 3, want: "v3-value"},
		{name: "fail/deleted-latest", version: 4, wantErr: vault.ErrDeleted},
		{name: "fail/current-is-deleted", version: 0, wantErr: vault.ErrDeleted},
	}
	for _, rd := range reads {
		t.Run("read/"+rd.name, func(t *testing.T) {
			s, err := e.c.KVReadVersion(ctx, e.root, mount, path, rd.version)
			wantKind(t, err, rd.wantErr)
			noValue(t, err, "v1-value", "v2-value", "v3-value", "v4-value")
			if rd.wantErr == nil {
				if s.Data["v"] != rd.want {
					t.Errorf("data = %v, want v = %s", s.Data, rd.want)
				}
				if diff := cmp.Diff(map[string]string{"owner": "ci", "rotate": "monthly"}, s.CustomMetadata); diff != "" {
					t.Errorf("custom metadata mismatch (-want +got):\n%s", diff)
				}
				return
			}
			var ve *vault.Error
			errors.As(err, &ve)
			wantVer := rd.version
			if wantVer == 0 {
				wantVer = 4
			}
			if ve.Version != wantVer {
				t.Errorf("Error.Version = %d, want %d", ve.Version, wantVer)
			}
			if rd.wantErr == vault.ErrDeleted && ve.DeletedAt.IsZero() { //nolint:errorlint // two sentinels compared
				t.Error("Error.DeletedAt is zero for a deleted version")
			}
		})
	}

	md, err := e.c.KVMetadata(ctx, e.root, mount, path)
	if err != nil {
		t.Fatal(err)
	}
	type state struct {
		Version   int64
		Deleted   bool
		Destroyed bool
	}
	var got []state
	for _, v := range md.Versions {
		if v.Created.IsZero() {
			t.Errorf("version %d has no created time", v.Version)
		}
		got = append(got, state{v.Version, !v.Deleted.IsZero(), v.Destroyed})
	}
	want := []state{{1, false, true}, {2, true, false}, {3, false, false}, {4, true, false}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("versions mismatch (-want +got):\n%s", diff)
	}
	if md.CurrentVersion != 4 || md.Created.IsZero() || md.Updated.Before(md.Created) {
		t.Errorf("metadata: current %d, created %v, updated %v", md.CurrentVersion, md.Created, md.Updated)
	}
	if diff := cmp.Diff(map[string]string{"owner": "ci", "rotate": "monthly"}, md.CustomMetadata); diff != "" {
		t.Errorf("custom metadata mismatch (-want +got):\n%s", diff)
	}

	_, err = e.c.KVMetadata(ctx, e.root, mount, "life/nothing")
	wantKind(t, err, vault.ErrNotFound)
}

func TestKVPermissionDenied(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := t.Context()
	e.write(t, "team/db", map[string]any{"v": "1"})
	reader := e.as(t, "reader", `path "secret/data/team/*" { capabilities = ["read"] }`)
	// Update does not imply patch: a writer without it cannot patch.
	writer := e.as(t, "writer", `path "secret/data/team/*" { capabilities = ["create", "update", "read"] }`)

	tests := []struct {
		name    string
		call    func() error
		wantErr error
	}{
		{name: "ok/read", call: func() error { _, err := e.c.KVReadVersion(ctx, reader, mount, "team/db", 1); return err }},
		{name: "ok/writer-writes", call: func() error {
			_, err := e.c.KVWriteCAS(ctx, writer, mount, "team/db", map[string]any{"v": "2"}, ptr[int64](1))
			return err
		}},
		{name: "fail/write", call: func() error {
			_, err := e.c.KVWriteCAS(ctx, reader, mount, "team/db", map[string]any{"v": "x"}, nil)
			return err
		}, wantErr: vault.ErrPermissionDenied},
		{name: "fail/patch", call: func() error {
			_, err := e.c.KVPatch(ctx, writer, mount, "team/db", map[string]any{"v": "x"}, nil)
			return err
		}, wantErr: vault.ErrPermissionDenied},
		{name: "fail/metadata", call: func() error { _, err := e.c.KVMetadata(ctx, reader, mount, "team/db"); return err }, wantErr: vault.ErrPermissionDenied},
		{name: "fail/delete-latest", call: func() error { return e.c.KVDelete(ctx, reader, mount, "team/db", nil) }, wantErr: vault.ErrPermissionDenied},
		{name: "fail/delete-versions", call: func() error { return e.c.KVDelete(ctx, writer, mount, "team/db", []int64{1}) }, wantErr: vault.ErrPermissionDenied},
		{name: "fail/undelete", call: func() error { return e.c.KVUndelete(ctx, writer, mount, "team/db", []int64{1}) }, wantErr: vault.ErrPermissionDenied},
		{name: "fail/destroy", call: func() error { return e.c.KVDestroy(ctx, writer, mount, "team/db", []int64{1}) }, wantErr: vault.ErrPermissionDenied},
		{name: "fail/read-outside", call: func() error { _, err := e.c.KVReadVersion(ctx, reader, mount, "other/db", 0); return err }, wantErr: vault.ErrPermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantKind(t, tt.call(), tt.wantErr) })
	}
	// The refused calls changed nothing.
	md, err := e.c.KVMetadata(ctx, e.root, mount, "team/db")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range md.Versions {
		if !v.Deleted.IsZero() || v.Destroyed {
			t.Errorf("version %d was deleted or destroyed by a refused call", v.Version)
		}
	}
	if md.CurrentVersion != 2 {
		t.Errorf("current version %d, want 2 (the writer's write only)", md.CurrentVersion)
	}
}

func TestSealed(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := t.Context()
	e.write(t, "s/db", map[string]any{"v": "1"})
	if _, err := e.c.Write(ctx, e.root, "sys/mounts/transit", map[string]any{"type": "transit"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Write(ctx, e.root, "sys/seal", nil); err != nil {
		t.Fatalf("sealing: %v", err)
	}
	tests := []struct {
		name string
		call func() error
	}{
		{name: "fail/read-version", call: func() error { _, err := e.c.KVReadVersion(ctx, e.root, mount, "s/db", 1); return err }},
		{name: "fail/metadata", call: func() error { _, err := e.c.KVMetadata(ctx, e.root, mount, "s/db"); return err }},
		{name: "fail/patch", call: func() error {
			_, err := e.c.KVPatch(ctx, e.root, mount, "s/db", map[string]any{"v": "2"}, nil)
			return err
		}},
		{name: "fail/destroy", call: func() error { return e.c.KVDestroy(ctx, e.root, mount, "s/db", []int64{1}) }},
		{name: "fail/encrypt", call: func() error {
			_, err := e.c.TransitEncrypt(ctx, e.root, "transit", "k", "aGVsbG8=")
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantKind(t, tt.call(), vault.ErrSealed) })
	}
}
