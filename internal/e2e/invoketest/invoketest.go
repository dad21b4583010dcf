// Package invoketest runs the sample events of events/ through the real
// bootstrap binaries under the AWS Lambda Runtime Interface Emulator — what
// `sam local invoke` does, without Docker — against moto and the Twilio
// fake, and checks each outcome against the .expected.json file beside the
// event.
//
// The package's test does that for every event file; `make invoke` does it
// for one (cmd/invoke). Both read the functions' environment from
// events/env.json, the file `sam local invoke --env-vars` takes, whose
// loopback placeholder endpoints (MotoPlaceholder, TwilioPlaceholder) are
// replaced by the ports the services really got, and the secret from
// events/secret.json (test-only values, see events/README.md).
package invoketest

import (
	"fmt"
	"strconv"
	"time"
)

// Function is one of the Lambda functions of template.yaml.
type Function struct {
	// Name is the short name: the events/ subdirectory and `make invoke
	// FUNCTION=`.
	Name string
	// Logical is the template's logical id, the section of the env file.
	Logical string
	// Package is the main package, relative to the module root.
	Package string
	// Timeout is the function's timeout in template.yaml.
	Timeout time.Duration
}

// The functions, with their settings in template.yaml.
var (
	Send  = Function{Name: "send", Logical: "SendFunction", Package: "./functions/send", Timeout: 10 * time.Second}
	Drain = Function{Name: "drain", Logical: "DrainFunction", Package: "./functions/drain", Timeout: 60 * time.Second}
	// Receipts takes the providers' status callbacks and delivery receipts.
	Receipts = Function{Name: "receipts", Logical: "ReceiptsFunction", Package: "./functions/receipts", Timeout: 10 * time.Second}
	// Publisher is deployed only with status events (EventBusName).
	Publisher = Function{Name: "publisher", Logical: "PublisherFunction", Package: "./functions/publisher", Timeout: 30 * time.Second}
)

// MemorySize is every function's memory in template.yaml, in MB.
const MemorySize = 256

// Functions returns every function.
func Functions() []Function { return []Function{Send, Drain, Receipts, Publisher} }

// FunctionNamed returns the function called name ("send", "drain",
// "receipts" or "publisher").
func FunctionNamed(name string) (Function, error) {
	for _, f := range Functions() {
		if f.Name == name {
			return f, nil
		}
	}
	return Function{}, fmt.Errorf("invoketest: unknown function %q: want send, drain, receipts or publisher", name)
}

// LambdaEnv returns the variables Lambda sets from the function's
// configuration, as scripts/invoke.sh sets them.
func (f Function) LambdaEnv() []string {
	return []string{
		"AWS_LAMBDA_FUNCTION_NAME=" + f.Logical,
		"AWS_LAMBDA_FUNCTION_TIMEOUT=" + strconv.Itoa(int(f.Timeout/time.Second)),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(MemorySize),
	}
}
