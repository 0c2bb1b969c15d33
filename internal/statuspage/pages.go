package statuspage

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

type statusData struct {
	At       time.Time
	CSRF     string
	Session  string
	Expires  time.Time
	Notice   string
	NoticeOK bool
	Pending  []pendingRow
	Agents   []agentRow
	// MoreAgents are not listed (maxAgentRows).
	MoreAgents int
	Events     []eventRow
	// Hidden events are those the filter hides.
	Hidden int
	Filter filter
	// EventNames, Principals and Outcomes are the filter's choices.
	EventNames, Principals, Outcomes []string

	Reload bool // show the Reload button
}

// pendingRow is a pending approval, how long it has waited and, if this
// replica runs it, the page where the human answers it.
type pendingRow struct {
	access.PendingView
	Age  string
	Link string
}

// statusPage shows who holds what; without a session, the sign-in form.
func (s *Server) statusPage(w http.ResponseWriter, r *http.Request) {
	sess := s.current(r)
	if sess == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		s.message(w, http.StatusBadRequest, "Refused", "The event filter is not one the status page offers: "+err.Error()+". Nothing was changed.")
		return
	}
	snap := s.opts.Access.Snapshot()
	d := statusData{At: snap.At, CSRF: sess.csrf, Session: sess.ref, Expires: sess.expires, Reload: s.opts.Reload != nil, Filter: f, Outcomes: outcomes}
	for _, p := range snap.Pending {
		row := pendingRow{PendingView: p}
		if !p.Requested.IsZero() {
			row.Age = duration(max(snap.At.Sub(p.Requested), 0))
		}
		if s.opts.ApprovalLink != nil {
			row.Link, _ = s.opts.ApprovalLink(p.ApprovalID)
		}
		d.Pending = append(d.Pending, row)
	}
	// The oldest first: it has waited longest.
	slices.SortStableFunc(d.Pending, func(a, b pendingRow) int { return a.Requested.Compare(b.Requested) })
	if fl := s.takeFlash(sess); fl != nil {
		d.Notice, d.NoticeOK = fl.msg, fl.ok
	}
	var events []audit.Event
	var folded []foldedAuths
	var known []string
	var requests map[string][]time.Time
	if rc := s.opts.Recent; rc != nil {
		events, folded, known, requests = rc.Events(), rc.folds(), rc.agentNames(), rc.requestTimes()
	}
	d.Agents, d.MoreAgents = agentRows(snap, events, folded, known, requests)
	d.Events, d.Hidden = eventRows(events, folded, f)
	d.EventNames, d.Principals = eventChoices(events, folded, known, f)
	s.render(w, http.StatusOK, "status.html", d)
}

// Form values are bounded: a principal is an agent name, an approval id is
// "apr_" and 16 hex digits.
const (
	maxPrincipal  = 256
	maxApprovalID = 64
)

func principalOf(r *http.Request) (access.Principal, error) {
	p := r.PostForm.Get("principal")
	if p == "" || len(p) > maxPrincipal {
		return "", refuse(http.StatusBadRequest, "Refused", "The form does not name an agent. Nothing was changed.")
	}
	return access.Principal(p), nil
}

func (s *Server) revokeGrant(w http.ResponseWriter, r *http.Request, sess *session) error {
	p, err := principalOf(r)
	if err != nil {
		return err
	}
	var tier access.Tier
	switch r.PostForm.Get("tier") {
	case "read":
		tier = access.Read
	case "write":
		tier = access.Write
	default:
		return refuse(http.StatusBadRequest, "Refused", "The form names no tier Gatekeeper grants (read or write). Nothing was changed.")
	}
	id := r.PostForm.Get("approval_id")
	if id == "" || len(id) > maxApprovalID {
		return refuse(http.StatusBadRequest, "Refused", "The form does not name the grant's approval. Nothing was changed.")
	}
	ctx, cancel := s.revokeContext(r.Context(), sess)
	defer cancel()
	rev, err := s.opts.Access.RevokeGrant(ctx, p, tier, id)
	if errors.Is(err, access.ErrNoSuchGrant) {
		return refuse(http.StatusConflict, "Nothing revoked",
			fmt.Sprintf("%s's %s grant from approval %s is no longer live: it ended, or a newer approval replaced it. Nothing was revoked; the status page shows what is live now.", p, tier, id))
	}
	return s.revoked(w, rev, err, sess)
}

func (s *Server) revokeAgent(w http.ResponseWriter, r *http.Request, sess *session) error {
	p, err := principalOf(r)
	if err != nil {
		return err
	}
	ctx, cancel := s.revokeContext(r.Context(), sess)
	defer cancel()
	rev, err := s.opts.Access.RevokeAgent(ctx, p)
	if errors.Is(err, access.ErrNothingToRevoke) {
		return refuse(http.StatusConflict, "Nothing revoked",
			fmt.Sprintf("%s holds no grant and waits for no approval now. Nothing was revoked.", p))
	}
	return s.revoked(w, rev, err, sess)
}

// deny answers one pending approval "no" on the operator's word, through
// the access model: the agent is told it was denied and keeps what it
// holds.
func (s *Server) deny(w http.ResponseWriter, r *http.Request, sess *session) error {
	p, err := principalOf(r)
	if err != nil {
		return err
	}
	id := r.PostForm.Get("approval_id")
	if id == "" || len(id) > maxApprovalID {
		return refuse(http.StatusBadRequest, "Refused", "The form does not name the approval to deny. Nothing was changed.")
	}
	ctx, cancel := s.revokeContext(r.Context(), sess)
	defer cancel()
	v, err := s.opts.Access.DenyApproval(ctx, p, id)
	if errors.Is(err, access.ErrNoSuchApproval) {
		return refuse(http.StatusConflict, "Nothing denied",
			fmt.Sprintf("%s's approval %s is no longer pending: it was answered, timed out or cancelled. Nothing was changed; the status page shows what is pending now.", p, id))
	}
	if err != nil {
		return err
	}
	s.setFlash(sess, true, fmt.Sprintf("Gatekeeper denied %s's %s approval %s. The agent is told it was denied; whatever the human answers now gives nothing. Access it already held stays.", v.Principal, v.Tier, v.ApprovalID))
	w.Header().Set("Location", "/")
	w.WriteHeader(http.StatusSeeOther)
	return nil
}

// reload reads the configuration again. Like a revocation, it runs to its
// end even if the browser goes away: a removed agent's grants are revoked.
func (s *Server) reload(w http.ResponseWriter, r *http.Request, sess *session) error {
	ctx, cancel := s.revokeContext(r.Context(), sess)
	defer cancel()
	if err := s.opts.Reload(ctx); err != nil {
		return refuse(http.StatusConflict, "Reload not complete", err.Error())
	}
	s.setFlash(sess, true, "Gatekeeper read its configuration again; the new one is live.")
	w.Header().Set("Location", "/")
	w.WriteHeader(http.StatusSeeOther)
	return nil
}

// revokeContext outlives the browser: a revocation that started runs to
// its end in Vault, bounded in time, with the operator's session reference
// on its audit events.
func (s *Server) revokeContext(ctx context.Context, sess *session) (context.Context, context.CancelFunc) {
	return context.WithTimeout(withSession(context.WithoutCancel(ctx), sess), s.opts.RevokeTimeout)
}

// revoked reports a revocation: on success a notice on the status page;
// when Vault did not confirm, a page that says which tokens still live in
// Vault and how to end them there.
func (s *Server) revoked(w http.ResponseWriter, rev access.Revocation, err error, sess *session) error {
	if err != nil && len(rev.Failed) == 0 {
		return err
	}
	var parts []string
	if len(rev.Grants) > 0 {
		var tiers []string
		for _, g := range rev.Grants {
			tiers = append(tiers, g.Tier.String())
		}
		parts = append(parts, fmt.Sprintf("ended %s's %s access", rev.Principal, strings.Join(tiers, " and ")))
	}
	if n := len(rev.Cancelled); n > 0 {
		parts = append(parts, fmt.Sprintf("cancelled %d pending approval%s", n, map[bool]string{true: "", false: "s"}[n == 1]))
	}
	done := "Gatekeeper " + strings.Join(parts, " and ") + "."
	if len(rev.Failed) > 0 {
		var accessors []string
		for _, g := range rev.Failed {
			accessors = append(accessors, fmt.Sprintf("%s (%s, valid in Vault until %s at the latest)", g.Accessor, g.Tier, g.ExpiresAt.UTC().Format(time.RFC3339)))
		}
		return refuse(http.StatusBadGateway, "Vault did not confirm the revocation",
			done+" The agent can no longer use that access through Gatekeeper, but Vault did not confirm revoking these tokens: "+
				strings.Join(accessors, "; ")+". Revoke them in Vault by accessor (vault token revoke -accessor ACCESSOR).")
	}
	next := fmt.Sprintf(" %s's next call needs a new approval.", rev.Principal)
	if !slices.ContainsFunc(rev.Grants, func(g access.GrantView) bool { return g.Tier == access.Read }) &&
		!slices.ContainsFunc(rev.Cancelled, func(p access.PendingView) bool { return p.Tier == access.Read }) {
		next = fmt.Sprintf(" %s keeps read access; writing needs a new approval.", rev.Principal)
	}
	if len(rev.Grants) > 0 {
		done += " Revoked in Vault."
	}
	s.setFlash(sess, true, done+next)
	// Post/Redirect/Get: reloading the page does not post again.
	w.Header().Set("Location", "/")
	w.WriteHeader(http.StatusSeeOther)
	return nil
}
