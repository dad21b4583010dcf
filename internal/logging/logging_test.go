package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

func TestNewAddsRequestID(t *testing.T) {
	tests := []struct {
		name string
		ctx  context.Context
		want any
	}{
		{"lambda context", lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-123"}), "req-123"},
		{"plain context", context.Background(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := New(&buf, slog.LevelInfo, slog.String("function", "send")).With("k", "v")
			log.InfoContext(tt.ctx, "hello")
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("log line %q is not JSON: %v", buf.String(), err)
			}
			if got := rec["requestId"]; got != tt.want {
				t.Errorf("requestId = %v, want %v", got, tt.want)
			}
			if got := rec["function"]; got != "send" {
				t.Errorf("function = %v, want send", got)
			}
		})
	}
}
