package apigw

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fluxkit/sms/internal/auth"
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

// Records finds the status record of a message by any of its ids
// (sms.StatusStore). Not found is a KindNotFound error.
type Records interface {
	Get(ctx context.Context, id string) (sms.Record, error)
}

// records is the handler's GET /messaging/sms/{messageId}: the status
// records, and the scope that may read anyone's message.
type records struct {
	store        Records
	readAllScope string
}

// ReadsStatus serves GET /messaging/sms/{messageId} from store: the
// message's owner, or a token carrying readAllScope (JWT_READ_ALL_SCOPE;
// empty: nobody else), reads its status record. Without it (status
// tracking off) every such request is 404.
func ReadsStatus(store Records, readAllScope string) Option {
	return func(h *Handler) { h.records = records{store: store, readAllScope: readAllScope} }
}

// sendPath is the path of the send route; a message's path is under it.
const sendPath = "/messaging/sms"

// fieldSendAt is the request's optional send time.
const fieldSendAt = "sendAt"

// messageTarget reports whether r names one message (a route under
// sendPath: GET and DELETE /messaging/sms/{messageId}) and which. The path may
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
// and the caller's subject (for the request log). GET reads its status
// record; DELETE cancels it: 200 with its record, status canceled; 409
// when it was already handed over for sending. A message that does not
// exist, or that the caller may not read or cancel, is 404 either way, so
// that ids cannot be probed.
func (h *Handler) serveMessage(ctx context.Context, r Request, id string) (Response, string) {
	if r.Method != "" && r.Method != http.MethodGet && r.Method != http.MethodDelete {
		return jsonResponse(http.StatusMethodNotAllowed, map[string]string{"Allow": "GET, DELETE"},
			errorEnvelope(codeInvalidRequest, "only GET and DELETE are supported on a message")), ""
	}
	caller, err := h.auth.Authenticate(ctx, r.Headers.Get("Authorization"))
	if err != nil {
		return errorResponse(err), ""
	}
	var rec sms.Record
	if r.Method == http.MethodDelete {
		rec, err = h.cancel(ctx, caller, id)
	} else {
		rec, err = h.lookup(ctx, caller, id)
	}
	if err != nil {
		return errorResponse(err), caller.Subject
	}
	return jsonResponse(http.StatusOK, nil, recordBody{Channel: sms.Channel, Record: rec}), caller.Subject
}

// errNoSuchMessage answers for a message that does not exist or is not
// the caller's.
var errNoSuchMessage = sms.E(sms.KindNotFound, "no such message")

// cancel cancels the scheduled message id for caller.
func (h *Handler) cancel(ctx context.Context, caller auth.Caller, id string) (sms.Record, error) {
	if h.cancels.canceler == nil || !messageID(id) {
		return sms.Record{}, errNoSuchMessage
	}
	admin := h.cancels.adminScope != "" && caller.HasScope(h.cancels.adminScope)
	return h.cancels.canceler.Cancel(ctx, sms.CancelRequest{ID: id, Caller: caller.Subject, Admin: admin})
}

// lookup finds the record of id that caller may read.
func (h *Handler) lookup(ctx context.Context, caller auth.Caller, id string) (sms.Record, error) {
	if h.records.store == nil || !messageID(id) {
		return sms.Record{}, errNoSuchMessage
	}
	rec, err := h.records.store.Get(ctx, id)
	switch {
	case sms.KindOf(err) == sms.KindNotFound:
		return sms.Record{}, errNoSuchMessage
	case err != nil:
		h.log.LogAttrs(ctx, slog.LevelWarn, "status lookup failed", slog.String("error", err.Error()))
		return sms.Record{}, err
	}
	readAll := h.records.readAllScope != "" && caller.HasScope(h.records.readAllScope)
	if !readAll && !rec.OwnedBy(sms.CallerOwner(caller.Subject)) {
		return sms.Record{}, errNoSuchMessage
	}
	return rec, nil
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
