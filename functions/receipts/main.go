// Command receipts is the receipts function: the providers' status
// callbacks and delivery receipts on API Gateway
// (POST /messaging/sms/receipts/twilio, GET and POST
// /messaging/sms/receipts/vonage). It wires its dependencies once per cold
// start (app.LoadReceipts); the verification and mapping live in
// internal/receipts so that the local runner runs the same code.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/fluxkit/sms/internal/app"
	"github.com/fluxkit/sms/internal/logging"
	"github.com/fluxkit/sms/internal/metrics"
)

func main() {
	log := logging.New(os.Stdout, slog.LevelInfo, slog.String("function", "receipts"))
	h, err := app.LoadReceipts(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("start-up failed", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(metrics.Wrap(os.Stdout, metrics.FunctionName("receipts"), h.Invoke))
}
