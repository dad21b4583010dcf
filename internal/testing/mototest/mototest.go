// Package mototest starts a moto server (an AWS API emulator) on a free
// loopback port for integration tests, and creates the table, queues and
// secrets those tests need through the real AWS SDK: Deploy creates the
// whole stack of template.yaml in one call.
//
// Tests never skip when moto_server is missing: they fail with the command
// that installs it.
package mototest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// InstallHint is printed when moto_server cannot be found.
const InstallHint = `moto_server not found: install it with  pip install "moto[server]"`

// Region is the region every test client uses.
const Region = "us-east-1"

// Server is a running moto server.
type Server struct {
	// URL is the endpoint, e.g. http://127.0.0.1:41234.
	URL string
	cmd *exec.Cmd
	log string // moto's output, removed by Stop
}

// Start launches moto_server on a free loopback port and stops it when the
// test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := Launch()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Launch starts moto_server on a free loopback port and waits until it
// answers. The caller must call Stop.
func Launch() (*Server, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, fmt.Errorf("mototest: %s", InstallHint)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	logf, err := os.CreateTemp("", "moto-*.log")
	if err == nil {
		cmd.Stdout, cmd.Stderr = logf, logf
		defer logf.Close()
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("mototest: start moto_server: %w", err)
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
	if logf != nil {
		s.log = logf.Name()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/moto-api/data.json")
		if err == nil {
			resp.Body.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(s.log)
			s.Stop()
			return nil, fmt.Errorf("mototest: moto_server did not answer on %s within 30s; its output:\n%s", s.URL, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the server and its process group.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	_ = s.cmd.Wait()
	s.cmd = nil
	if s.log != "" {
		_ = os.Remove(s.log)
	}
}

// Env returns the environment variables that point the AWS SDK (and the
// project's binaries) at this server.
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + s.URL,
		"AWS_REGION=" + Region,
		"AWS_DEFAULT_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_SESSION_TOKEN=testing",
	}
}

// Setenv points the current process's AWS SDK at this server for the
// duration of the test.
func (s *Server) Setenv(tb testing.TB) {
	tb.Helper()
	for _, kv := range s.Env() {
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				tb.Setenv(kv[:i], kv[i+1:])
				break
			}
		}
	}
}

// Config returns an AWS SDK configuration aimed at this server with static
// test credentials.
func (s *Server) Config() aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", "testing"),
		BaseEndpoint: aws.String(s.URL),
		// Tests drive contention on purpose; the default retryer would hide
		// throttling and faults they want to see.
		RetryMaxAttempts: 1,
	}
}

// DynamoDB returns a client for this server.
func (s *Server) DynamoDB() *dynamodb.Client { return dynamodb.NewFromConfig(s.Config()) }

// SQS returns a client for this server.
func (s *Server) SQS() *sqs.Client { return sqs.NewFromConfig(s.Config()) }

// SecretsManager returns a client for this server.
func (s *Server) SecretsManager() *secretsmanager.Client {
	return secretsmanager.NewFromConfig(s.Config())
}

// CreateTable creates the service table of template.yaml (docs/architecture.md#the-table) (pk/sk strings,
// on-demand) and returns its name.
func (s *Server) CreateTable(tb testing.TB, name string) string {
	tb.Helper()
	if err := CreateServiceTable(context.Background(), s.DynamoDB(), name); err != nil {
		tb.Fatal(err)
	}
	return name
}

// StatusIndex is the name, and the key attribute, of the table's global
// secondary index of status records by provider message id (keys only),
// as template.yaml declares it.
const StatusIndex = "providerMessageId"

// CreateServiceTable creates the service table of template.yaml (pk/sk
// strings, on-demand, the StatusIndex) through any DynamoDB client, for
// callers without a testing.TB.
func CreateServiceTable(ctx context.Context, ddb *dynamodb.Client, name string) error {
	_, err := ddb.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String(StatusIndex), AttributeType: ddbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: ddbtypes.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []ddbtypes.GlobalSecondaryIndex{{
			IndexName:  aws.String(StatusIndex),
			KeySchema:  []ddbtypes.KeySchemaElement{{AttributeName: aws.String(StatusIndex), KeyType: ddbtypes.KeyTypeHash}},
			Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionTypeKeysOnly},
		}},
	})
	if err != nil {
		return fmt.Errorf("mototest: create table %s: %w", name, err)
	}
	return nil
}

// CreateQueue creates a standard SQS queue and returns its URL.
func (s *Server) CreateQueue(tb testing.TB, name string, attrs map[string]string) string {
	tb.Helper()
	out, err := s.SQS().CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		tb.Fatalf("mototest: create queue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

// CreateSecret stores a secret string and returns its ARN.
func (s *Server) CreateSecret(tb testing.TB, name, value string) string {
	tb.Helper()
	out, err := s.SecretsManager().CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		tb.Fatalf("mototest: create secret %s: %v", name, err)
	}
	return aws.ToString(out.ARN)
}

// FreePort asks the kernel for a free loopback TCP port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("mototest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Main runs a package's tests with one shared moto server: it starts the
// server, stores it in *shared, runs the tests, stops the server and exits.
// Call it from TestMain.
func Main(m *testing.M, shared **Server) {
	s, err := Launch()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*shared = s
	code := m.Run()
	s.Stop()
	os.Exit(code)
}
