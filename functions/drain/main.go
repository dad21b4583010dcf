// Command drain is the drain function: it delivers the messages of the SQS
// queue at the configured rate. It wires its dependencies once per cold
// start (app.LoadAWS); the batch handling lives in internal/drain so that
// the local runner and the tests run the same code.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/fluxkit/sms/internal/app"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/drain"
	"github.com/fluxkit/sms/internal/logging"
	"github.com/fluxkit/sms/internal/metrics"
)

func main() {
	log := logging.New(os.Stdout, slog.LevelInfo, slog.String("function", "drain"))
	svc, err := app.LoadAWS(context.Background(), os.Getenv, config.ModeDrain, log)
	if err != nil {
		log.Error("start-up failed", slog.String("error", err.Error()))
		os.Exit(1)
	}
	h := app.NewDrainHandler(svc.Config, svc.Parts, svc.Queue, svc.DLQ, drain.Config{})
	lambda.Start(metrics.Wrap(os.Stdout, metrics.FunctionName("drain"), h.Handle))
}
