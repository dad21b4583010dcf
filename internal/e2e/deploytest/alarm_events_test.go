package deploytest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/fluxkit/sms/internal/logging"
	"github.com/fluxkit/sms/internal/receipts"
	"github.com/fluxkit/sms/internal/sms"
)

// receiptRecordFailed is the event the receipts function logs for a
// receipt whose record could not be written.
const receiptRecordFailed = "receipt_record_failed"

// eventPattern is the form of the template's metric filter patterns on a
// log line's event: { $.event = "<event>" }.
var eventPattern = regexp.MustCompile(`^\{ \$\.event = "([a-z_]+)" \}$`)

// receiptsToken is the Vonage receipts token of checkReceiptRecordFailedLogged.
const receiptsToken = "receipts-token-for-the-alarm-check"

// tokenKeys is a receipts.KeySource with only a Vonage receipts token.
type tokenKeys struct{}

func (tokenKeys) Keys(context.Context) (receipts.Keys, error) {
	return receipts.Keys{VonageReceiptsToken: receiptsToken}, nil
}

func (k tokenKeys) Refresh(ctx context.Context) (receipts.Keys, bool, error) {
	keys, err := k.Keys(ctx)
	return keys, false, err
}

// failingRecorder is a status store whose writes fail with err.
type failingRecorder struct{ err error }

func (r failingRecorder) Record(context.Context, string, sms.Change) (bool, error) {
	return false, r.err
}

// checkReceiptRecordFailedLogged checks that pattern, the receipts
// function's metric filter, matches the one log line the receipts handler
// writes for a verified receipt it could not record, whether the table
// throttles (503) or fails otherwise (500): such a receipt reaches the
// alarm.
func checkReceiptRecordFailedLogged(t *testing.T, pattern string) {
	t.Helper()
	m := eventPattern.FindStringSubmatch(pattern)
	if m == nil {
		t.Fatalf("filter pattern %q is not of the form { $.event = \"…\" }", pattern)
	}
	for _, tt := range []struct {
		name       string
		err        error
		wantStatus int
	}{
		{"table throttling", sms.E(sms.KindUnavailable, "status store unavailable"), http.StatusServiceUnavailable},
		{"write refused", errors.New("dynamo: status update: ValidationException"), http.StatusInternalServerError},
	} {
		var logs logging.Buffer
		log := logging.New(&logs, slog.LevelInfo, slog.String("function", "receipts"))
		h := receipts.NewHandler(failingRecorder{tt.err}, tokenKeys{}, log, receipts.Config{PublicURL: "https://sms.example.com"})
		q := url.Values{"token": {receiptsToken}, "status": {"delivered"}, "err-code": {"0"},
			"client-ref": {sms.NewServiceID()}, "messageId": {"0A0000001234ABC1"}, "msisdn": {"14155552671"}}
		resp := h.Serve(context.Background(), receipts.Request{Method: http.MethodGet, Path: receipts.VonagePath, Query: q, Headers: http.Header{}})
		if resp.Status != tt.wantStatus {
			t.Errorf("%s: answer %d %s, want %d", tt.name, resp.Status, resp.Body, tt.wantStatus)
		}
		matched := 0
		for _, line := range bytes.Split(logs.Bytes(), []byte("\n")) {
			var rec map[string]any
			if json.Unmarshal(line, &rec) == nil && rec["event"] == m[1] {
				matched++
			}
		}
		if matched != 1 {
			t.Errorf("%s: %d log lines match the receipts filter %s, want 1; logs:\n%s", tt.name, matched, pattern, logs.String())
		}
	}
}
