package duo

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	duoapi "github.com/duosecurity/duo_api_golang"
	"github.com/duosecurity/duo_api_golang/authapi"
)

// do runs f, one blocking call of the official client, with a client
// whose HTTP requests carry ctx (the client builds its requests without
// one) and end after CallTimeout. It returns when f does or when ctx ends:
// the client sleeps between retries of a rate-limited call (up to about a
// minute) without looking at any context; the goroutine then finishes on
// its own, its requests already cancelled.
func do[T any](ctx context.Context, a *Approver, f func(*authapi.AuthApi) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, a.opts.CallTimeout)
	defer cancel()
	api := *a.api
	api.SetCustomHTTPClient(&http.Client{Transport: ctxTransport{ctx: ctx, next: a.transport}})
	client := authapi.NewAuthApi(api)

	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f(client)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// ctxTransport attaches ctx to each request.
type ctxTransport struct {
	ctx  context.Context
	next http.RoundTripper
}

func (t ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.next.RoundTrip(r.WithContext(t.ctx))
}

// statError turns Duo's {"stat": "FAIL", "code": …} answer (a refused
// signature is 401 with code 40103) into an error. Duo's messages carry no
// secret.
func statError(op string, s *duoapi.StatResult) error {
	if s.Stat == "OK" {
		return nil
	}
	msg := fmt.Sprintf("duo %s: stat %q", op, s.Stat)
	if s.Code != nil {
		msg += fmt.Sprintf(", code %d", *s.Code)
	}
	if s.Message != nil {
		msg += ": " + *s.Message
	}
	if s.Message_Detail != nil {
		msg += " (" + *s.Message_Detail + ")"
	}
	return errors.New(msg)
}
