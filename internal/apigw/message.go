package apigw

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fluxkit/sms/internal/sms"
)

// Canceler cancels scheduled messages (sms.Canceler).
type Canceler interface {
	Cancel(ctx context.Context, r sms.CancelRequest) (sms.Record, error)
}

// cancels is the handler's DELETE /messaging/sms/{messageId}: the
// canceler, and the scope that may cancel anyone's message.
type cancels struct {
	canceler   Canceler
	adminScope string
}

// Cancels serves DELETE /messaging/sms/{messageId} with c: the message's
// owner, or a token carrying adminScope (JWT_ADMIN_SCOPE; empty: nobody
// else), cancels a scheduled message. Without it every such request is
// 404.
func Cancels(c Canceler, adminScope string) Option {
	return func(h *Handler) { h.cancels = cancels{canceler: c, adminScope: adminScope} }
}

// sendPath is the path of the send route; a message's path is under it.
const sendPath = "/messaging/sms"

// fieldSendAt is the request's optional send time.
const fieldSendAt = "sendAt"

// messageTarget reports whether r names one message (a route under
// sendPath, DELETE /messaging/sms/{messageId}) and which. The path may
// carry a prefix (a REST API stage, a custom domain's base path), so it
// is matched from its end. The id is the decoded messageId path parameter
// when API Gateway gave one, else the path's last segment,
// percent-decoded.
func messageTarget(r Request) (string, bool) {
	if id := r.PathParams["messageId"]; id != "" {
		return id, true
	}
	i := strings.LastIndex(r.Path, sendPath+"/")
	if i < 0 {
		return "", false
	}
	seg := r.Path[i+len(sendPath)+1:]
	if seg == "" || strings.Contains(seg, "/") {
		return "", false
	}
	id, err := url.PathUnescape(seg)
	if err != nil || id == "" {
		return "", false
	}
	return id, true
}

// maxMessageID is the longest id a request may name: the longest queue
// message id (a producer's id); service ids and provider ids are shorter.
const maxMessageID = 128

// serveMessage answers a request for one message; it returns the answer
// and the caller's subject (for the request log). DELETE cancels it:
// 200 with its record, status canceled; 409 when it was already handed
// over for sending; 404 for a message that does not exist or that the
// caller may not cancel, so that ids cannot be probed.
func (h *Handler) serveMessage(ctx context.Context, r Request, id string) (Response, string) {
	if r.Method != "" && r.Method != http.MethodDelete {
		return jsonResponse(http.StatusMethodNotAllowed, map[string]string{"Allow": http.MethodDelete},
			errorEnvelope(codeInvalidRequest, "only DELETE is supported on a message")), ""
	}
	caller, err := h.auth.Authenticate(ctx, r.Headers.Get("Authorization"))
	if err != nil {
		return errorResponse(err), ""
	}
	if h.cancels.canceler == nil || !messageID(id) {
		return errorResponse(sms.E(sms.KindNotFound, "no such message")), caller.Subject
	}
	admin := h.cancels.adminScope != "" && caller.HasScope(h.cancels.adminScope)
	rec, err := h.cancels.canceler.Cancel(ctx, sms.CancelRequest{ID: id, Caller: caller.Subject, Admin: admin})
	if err != nil {
		return errorResponse(err), caller.Subject
	}
	return jsonResponse(http.StatusOK, nil, recordBody{Channel: sms.Channel, Record: rec}), caller.Subject
}

// messageID reports whether id can name a message: 1 to maxMessageID
// printable ASCII characters without spaces.
func messageID(id string) bool {
	if id == "" || len(id) > maxMessageID {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '!' || id[i] > '~' {
			return false
		}
	}
	return true
}

// recordBody is the body answering for one message: its status record
// (without its owner) and the channel.
type recordBody struct {
	Channel string `json:"channel"`
	sms.Record
}

// parseSendAt reads the request's sendAt: an RFC 3339 date-time with a
// time zone ("Z" or an offset). Whether it is far enough and near enough
// ahead is the domain's rule (sms.CheckSendAt).
func parseSendAt(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, sms.InvalidField(fieldSendAt, "must be an RFC 3339 date-time with a time zone, such as 2026-12-01T09:00:00+01:00")
	}
	return t, nil
}
