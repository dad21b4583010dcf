// Command echo is a Lambda function for the emulator harness's tests: it
// answers every invocation with its payload. At start it writes the value of
// ECHO_GREETING to stderr (so tests can see the environment it was given),
// and the payload "crash" makes the process exit, as a crashing function
// would.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	fmt.Fprintf(os.Stderr, "echo: init greeting=%q\n", os.Getenv("ECHO_GREETING"))
	lambda.Start(func(_ context.Context, payload json.RawMessage) (json.RawMessage, error) {
		if string(payload) == `"crash"` {
			fmt.Fprintln(os.Stderr, "echo: crashing on request")
			os.Exit(3)
		}
		return payload, nil
	})
}
