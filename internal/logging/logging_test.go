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

func TestBufferCollectsConcurrentLines(t *testing.T) {
	var buf Buffer
	log := New(&buf, slog.LevelInfo)
	done := make(chan struct{})
	const n = 50
	for range n {
		go func() { log.Info("line"); done <- struct{}{} }()
	}
	for range n {
		<-done
	}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if got := len(lines); got != n {
		t.Fatalf("lines = %d, want %d", got, n)
	}
	for _, l := range lines {
		if !json.Valid(l) {
			t.Errorf("interleaved line %q", l)
		}
	}
	if got, want := buf.String(), string(buf.Bytes()); got != want {
		t.Errorf("String and Bytes differ")
	}
}
