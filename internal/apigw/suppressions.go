package apigw

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/fluxkit/sms/internal/sms"
)

// suppressionsPath is the collection of the suppression list's entries:
// DELETE suppressionsPath + "/{number}" takes a number off the list.
const suppressionsPath = "/messaging/sms/suppressions"

// Unsuppressor takes a number off the suppression list and reports
// whether it was on it.
type Unsuppressor interface {
	Unsuppress(ctx context.Context, number string) (bool, error)
}

// Suppressions serves DELETE /messaging/sms/suppressions/{number} from
// list, for tokens carrying adminScope (JWT_ADMIN_SCOPE). Without it, the
// route answers 404 for every number.
func Suppressions(list Unsuppressor, adminScope string) Option {
	return func(h *Handler) { h.suppressions, h.adminScope = list, adminScope }
}

// suppressionNumber reports whether path is an entry of the suppression
// list and which number it names (percent-decoded: "+" may come as %2B).
// The path may carry a prefix (a REST API stage, a custom domain's base
// path), so it is matched from its end.
func suppressionNumber(path string) (string, bool) {
	i := strings.LastIndex(path, suppressionsPath+"/")
	if i < 0 {
		return "", false
	}
	seg := path[i+len(suppressionsPath)+1:]
	if seg == "" || strings.Contains(seg, "/") {
		return "", false
	}
	n, err := url.PathUnescape(seg)
	if err != nil {
		return "", true // a route of the list, naming no number
	}
	return n, true
}

// serveSuppression answers DELETE /messaging/sms/suppressions/{number}:
// 204 when the number was on the list and is now off it, 404 not_found
// when it was not (or is not a number). It reports the caller's subject
// for the request log.
func (h *Handler) serveSuppression(ctx context.Context, r Request, number string) (string, Response) {
	if r.Method != http.MethodDelete {
		return "", jsonResponse(http.StatusMethodNotAllowed, map[string]string{"Allow": http.MethodDelete},
			errorEnvelope(codeInvalidRequest, "only DELETE is supported on a suppression list entry"))
	}
	notFound := sms.E(sms.KindNotFound, "the number is not on the suppression list")
	c, err := h.auth.Authenticate(ctx, r.Headers.Get("Authorization"))
	if err != nil {
		return "", errorResponse(err)
	}
	caller := c.Subject
	if h.suppressions == nil {
		// No list is kept here: no number is on it.
		return caller, errorResponse(notFound)
	}
	if h.adminScope == "" || !c.HasScope(h.adminScope) {
		// Without an admin scope configured, nobody may change the list.
		return caller, errorResponse(sms.E(sms.KindForbidden, "token lacks the scope that changes the suppression list"))
	}
	if sms.ValidateTo(number) != nil {
		return caller, errorResponse(notFound)
	}
	found, err := h.suppressions.Unsuppress(ctx, number)
	switch {
	case err != nil:
		h.log.LogAttrs(ctx, slog.LevelWarn, "could not change the suppression list", slog.String("error", err.Error()))
		return caller, errorResponse(err)
	case !found:
		return caller, errorResponse(notFound)
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "number taken off the suppression list",
		slog.String("event", "recipient_unsuppressed"), slog.String("to", sms.MaskNumber(number)))
	return caller, Response{Status: http.StatusNoContent, Headers: map[string]string{"Cache-Control": "no-store"}}
}
