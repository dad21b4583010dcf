// Package esm is a local stand-in for Lambda's SQS event source mapping:
// it polls a queue, builds the SQS event exactly as Lambda does, invokes the
// drain handler with a deadline, and deletes the records the handler did
// not report as failures. It respects the batch size and the concurrency
// cap (ScalingConfig.MaximumConcurrency). The integration tests and the
// local runner use it.
package esm

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Source is a queue the poller reads.
type Source interface {
	// Receive returns up to max records, waiting briefly when there are none.
	Receive(ctx context.Context, max int) ([]events.SQSMessage, error)
	// Delete removes processed records.
	Delete(ctx context.Context, recs []events.SQSMessage) error
}

// Handler is the function the poller invokes (drain.Handler.Handle).
type Handler func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// Config tunes the poller.
type Config struct {
	// BatchSize is the most records per invocation (default 10).
	BatchSize int
	// MaxConcurrency is how many invocations run at once (default 2).
	MaxConcurrency int
	// Timeout is each invocation's deadline (default 60s), like the
	// function timeout.
	Timeout time.Duration
	// FunctionName names the invocations in lambdacontext (default "drain").
	FunctionName string
}

// Poller runs the event source mapping loop.
type Poller struct {
	src     Source
	handler Handler
	cfg     Config
	log     *slog.Logger

	mu  sync.Mutex
	seq int
}

// New returns a Poller.
func New(src Source, handler Handler, cfg Config, log *slog.Logger) *Poller {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 10
	}
	if cfg.MaxConcurrency <= 0 {
		cfg.MaxConcurrency = 2
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	if cfg.FunctionName == "" {
		cfg.FunctionName = "drain"
	}
	return &Poller{src: src, handler: handler, cfg: cfg, log: log}
}

// Run polls until ctx is done, with MaxConcurrency concurrent pollers
// each invoking the handler one batch at a time. In-flight invocations
// finish before Run returns.
func (p *Poller) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range p.cfg.MaxConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := p.Poll(ctx); err != nil && ctx.Err() == nil {
					p.log.LogAttrs(ctx, slog.LevelWarn, "esm: poll failed", slog.String("error", err.Error()))
					sleep(ctx, time.Second)
				}
			}
		}()
	}
	wg.Wait()
}

// Poll receives one batch and, if it is not empty, invokes the handler
// and deletes what succeeded. It reports how many records it received.
func (p *Poller) Poll(ctx context.Context) (int, error) {
	recs, err := p.src.Receive(ctx, p.cfg.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("esm: receive: %w", err)
	}
	if len(recs) == 0 {
		return 0, nil
	}
	done, err := p.invoke(context.WithoutCancel(ctx), recs)
	if err != nil {
		// A function error fails the whole batch: every record becomes
		// visible again after its visibility timeout.
		p.log.LogAttrs(ctx, slog.LevelWarn, "esm: invocation failed", slog.String("error", err.Error()))
		return len(recs), nil
	}
	if len(done) > 0 {
		if err := p.src.Delete(context.WithoutCancel(ctx), done); err != nil {
			return len(recs), fmt.Errorf("esm: delete: %w", err)
		}
	}
	return len(recs), nil
}

// invoke runs the handler like Lambda would and returns the records to
// delete.
func (p *Poller) invoke(ctx context.Context, recs []events.SQSMessage) ([]events.SQSMessage, error) {
	p.mu.Lock()
	p.seq++
	id := fmt.Sprintf("esm-%d-%d", time.Now().UnixNano(), p.seq)
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: id})
	resp, err := p.handler(ctx, events.SQSEvent{Records: recs})
	if err != nil {
		return nil, err
	}
	failed := make(map[string]bool, len(resp.BatchItemFailures))
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	done := make([]events.SQSMessage, 0, len(recs))
	for _, r := range recs {
		if failed[r.MessageId] {
			delete(failed, r.MessageId)
			continue
		}
		done = append(done, r)
	}
	if len(failed) > 0 {
		// Lambda treats an identifier that is not in the batch (or empty)
		// as a failure of the whole batch.
		return nil, fmt.Errorf("esm: response names %d records not in the batch", len(failed))
	}
	return done, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
