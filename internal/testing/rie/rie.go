// Package rie runs Lambda bootstrap binaries under the AWS Lambda Runtime
// Interface Emulator (aws-lambda-rie) for tests: the same thing `sam local
// invoke` does, without Docker.
//
// Build compiles a function package for the host's architecture with the
// flags of the arm64 deployment build (see the Makefile), Start runs the
// emulator with that binary as its handler on a free loopback port, and the
// returned Emulator invokes it and exposes the emulator's output (function
// logs included) and the cold start's init duration.
//
// The emulator is the version pinned by Version, kept in ./.bin under the
// module root: Binary installs it there with go install when it is missing
// or another version (so `go test ./...` works on a fresh clone), and `make
// tools` installs the same version (the Makefile's RIE_VERSION). A failed
// install fails the test with the command to run; nothing skips.
package rie

import (
	"bytes"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Package and Version pin the emulator every test runs. The Makefile's
// RIE_VERSION names the same version (internal/e2e/deploytest checks that
// the two agree).
const (
	Package = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
	Version = "v0.0.0-20261030222936-bef5c4ba774d"
)

// binName is the emulator's file name in the module root's .bin.
const binName = "aws-lambda-rie"

// invocationsPath is the emulator's Invoke API path.
const invocationsPath = "/2015-03-31/functions/function/invocations"

// DefaultTimeout is the function timeout (AWS_LAMBDA_FUNCTION_TIMEOUT)
// Start gives the emulator unless env sets another.
const DefaultTimeout = 30 * time.Second

// BuildFlags returns the go build flags shared by every Lambda binary: the
// deployment build (Makefile: LAMBDA_GOFLAGS, with CGO_ENABLED=0 GOOS=linux
// GOARCH=arm64) and Build. -buildvcs=false and -trimpath keep the output
// independent of the checkout's path and state.
func BuildFlags() []string {
	return []string{"-tags", "lambda.norpc", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w"}
}

// ModuleRoot returns the directory of the enclosing go.mod, searched upward
// from the working directory (a test's package directory).
func ModuleRoot(tb testing.TB) string {
	tb.Helper()
	root, err := moduleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	return root
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("rie: working directory: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("rie: no go.mod in %s or any parent", dir)
		}
	}
}

// builds caches the binaries built by this test binary run: package -> path.
var builds = struct {
	sync.Mutex
	dir   string
	paths map[string]string
}{paths: map[string]string{}}

// buildDirPrefix names the per-process directories that hold built binaries.
const buildDirPrefix = "rie-build-"

// Build compiles the main package pkg (a path relative to the module root
// such as "./functions/send", or an import path) into a bootstrap binary for
// linux on the host's architecture, with CGO_ENABLED=0 and BuildFlags, and
// returns its path. Each package is built once per test binary run; later
// calls return the cached binary.
func Build(tb testing.TB, pkg string) string {
	tb.Helper()
	builds.Lock()
	defer builds.Unlock()
	if p, ok := builds.paths[pkg]; ok {
		return p
	}
	if builds.dir == "" {
		sweepBuildDirs(os.TempDir())
		dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", buildDirPrefix, os.Getpid()))
		if err != nil {
			tb.Fatalf("rie: build dir: %v", err)
		}
		builds.dir = dir
	}
	root := ModuleRoot(tb)
	out := filepath.Join(builds.dir, fmt.Sprint(len(builds.paths)), "bootstrap")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		tb.Fatalf("rie: build dir: %v", err)
	}
	if err := goBuild(root, pkg, out, runtime.GOARCH); err != nil {
		tb.Fatal(err)
	}
	builds.paths[pkg] = out
	return out
}

// goBuild runs the Lambda build of pkg for linux/goarch into out, from dir.
func goBuild(dir, pkg, out, goarch string) error {
	args := append([]string{"build"}, BuildFlags()...)
	args = append(args, "-o", out, pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("rie: go build %s: %w\n%s", pkg, err, msg)
	}
	return nil
}

// sweepBuildDirs removes the build directories under tmp left by test
// binaries that have exited (their directory names carry their process id).
func sweepBuildDirs(tmp string) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, buildDirPrefix+"*"))
	for _, d := range dirs {
		rest := strings.TrimPrefix(filepath.Base(d), buildDirPrefix)
		pid, err := strconv.Atoi(rest[:max(strings.IndexByte(rest, '-'), 0)])
		if err != nil || pid <= 0 {
			continue
		}
		if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			_ = os.RemoveAll(d)
		}
	}
}

// installed remembers the emulator this test binary has checked or
// installed, so that the check runs once per process.
var installed struct {
	sync.Mutex
	path string
}

// Binary returns the pinned emulator, .bin/aws-lambda-rie under the module
// root, after installing it there with go install if it is missing or is
// another version. Start calls it; a test that runs the emulator some other
// way (scripts/invoke.sh looks in ./.bin) calls it first.
func Binary(tb testing.TB) string {
	tb.Helper()
	installed.Lock()
	defer installed.Unlock()
	if installed.path == "" {
		p, err := ensure(filepath.Join(ModuleRoot(tb), ".bin"), goInstall)
		if err != nil {
			tb.Fatal(err)
		}
		installed.path = p
	}
	return installed.path
}

// ensure returns binDir/aws-lambda-rie when it is the pinned version, and
// otherwise installs that version with install (which puts the binary into
// the directory it is given) into a new directory beside it and renames it
// into place, so that test binaries installing at the same time never see a
// half-written file.
func ensure(binDir string, install func(gobin string) error) (string, error) {
	target := filepath.Join(binDir, binName)
	if isPinned(target) {
		return target, nil
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", fmt.Errorf("rie: install: %w", err)
	}
	tmp, err := os.MkdirTemp(binDir, ".install-")
	if err != nil {
		return "", fmt.Errorf("rie: install: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := install(tmp); err != nil {
		return "", err
	}
	if err := os.Rename(filepath.Join(tmp, binName), target); err != nil {
		return "", fmt.Errorf("rie: install: %w", err)
	}
	if !isPinned(target) {
		return "", fmt.Errorf("rie: installed %s is not %s@%s", target, Package, Version)
	}
	return target, nil
}

// isPinned reports whether path is an emulator built from Package at
// Version (go install records both in the binary).
func isPinned(path string) bool {
	info, err := buildinfo.ReadFile(path)
	return err == nil && info.Path == Package && info.Main.Version == Version
}

// goInstall runs go install Package@Version with GOBIN=gobin.
func goInstall(gobin string) error {
	cmd := exec.Command("go", "install", Package+"@"+Version)
	cmd.Env = append(os.Environ(), "GOBIN="+gobin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("rie: go install %s@%s: %w\n%s\n"+
			"The Go module proxy must be reachable once; then `make tools` or any test installs it into ./.bin.",
			Package, Version, err, out)
	}
	return nil
}

// Emulator is a running aws-lambda-rie with one function.
type Emulator struct {
	// URL is the emulator's Invoke API endpoint,
	// http://127.0.0.1:PORT/2015-03-31/functions/function/invocations.
	URL string

	cmd     *exec.Cmd
	logPath string
	client  *http.Client
	exited  chan struct{} // closed when the process has exited
	waitErr error         // set before exited is closed

	invokeMu sync.Mutex // the emulator runs one invocation at a time
	stopOnce sync.Once
}

// Start runs aws-lambda-rie on a free loopback port with bootstrap as the
// function and stops it when the test ends. The function's environment is
// env on top of a minimal Lambda-like base (PATH, TZ, LAMBDA_TASK_ROOT,
// AWS_LAMBDA_FUNCTION_TIMEOUT=30); nothing is inherited from the test
// process, so AWS settings must be passed explicitly (e.g. mototest's Env).
// The emulator's output, which includes everything the function writes to
// stdout and stderr, is kept for Log and InitDuration, and is printed to the
// test log if the test fails.
func Start(tb testing.TB, bootstrap string, env []string) *Emulator {
	tb.Helper()
	bin := Binary(tb)
	bootstrap, err := filepath.Abs(bootstrap)
	if err != nil {
		tb.Fatalf("rie: bootstrap path: %v", err)
	}
	if _, err := os.Stat(bootstrap); err != nil {
		tb.Fatalf("rie: bootstrap: %v", err)
	}
	addr, err := freeAddr()
	if err != nil {
		tb.Fatal(err)
	}
	apiAddr, err := freeAddr()
	if err != nil {
		tb.Fatal(err)
	}
	logPath := filepath.Join(tb.TempDir(), "rie.log")
	logf, err := os.Create(logPath)
	if err != nil {
		tb.Fatalf("rie: log file: %v", err)
	}
	defer logf.Close()

	fullEnv := append([]string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"TZ=:UTC",
		"LAMBDA_TASK_ROOT=" + filepath.Dir(bootstrap),
		"AWS_LAMBDA_FUNCTION_TIMEOUT=" + strconv.Itoa(int(DefaultTimeout/time.Second)),
	}, env...)
	timeout := DefaultTimeout
	if v, ok := lookupEnv(fullEnv, "AWS_LAMBDA_FUNCTION_TIMEOUT"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			tb.Fatalf("rie: AWS_LAMBDA_FUNCTION_TIMEOUT must be whole seconds > 0, got %q", v)
		}
		timeout = time.Duration(n) * time.Second
	}

	cmd := exec.Command(bin,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", apiAddr,
		bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = fullEnv
	// The function's output goes straight to the file (no pipe), so it is
	// complete once an invocation has answered.
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: Stop kills the emulator and the function together;
	// Pdeathsig stops a leftover emulator if the test binary dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("rie: start %s: %v", bin, err)
	}
	e := &Emulator{
		URL:     "http://" + addr + invocationsPath,
		cmd:     cmd,
		logPath: logPath,
		client:  &http.Client{Timeout: timeout + 10*time.Second},
		exited:  make(chan struct{}),
	}
	go func() {
		e.waitErr = cmd.Wait()
		close(e.exited)
	}()
	tb.Cleanup(func() {
		e.Stop()
		if tb.Failed() {
			tb.Logf("aws-lambda-rie output:\n%s", e.Log())
		}
	})
	if err := e.awaitListening(addr, 10*time.Second); err != nil {
		tb.Fatalf("%v\n%s", err, e.Log())
	}
	return e
}

// awaitListening waits until the emulator accepts connections on addr.
func (e *Emulator) awaitListening(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		select {
		case <-e.exited:
			return fmt.Errorf("rie: aws-lambda-rie exited at start: %v", e.waitErr)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("rie: aws-lambda-rie did not listen on %s within %v", addr, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// InvokeError reports an invocation the emulator answered with a status
// other than 200: 502 when the function crashed or failed to start, 504
// when it timed out. (An error returned by a Go handler is a 200 whose body
// is Lambda's {"errorMessage": ..., "errorType": ...}, as with the Invoke
// API.)
type InvokeError struct {
	Status int
	Body   []byte
}

// Error implements error.
func (e *InvokeError) Error() string {
	return fmt.Sprintf("rie: invoke: HTTP %d: %s", e.Status, bytes.TrimSpace(e.Body))
}

// Invoke sends payload to the function and returns its response. Calls are
// serialized, as the emulator runs one invocation at a time. A status other
// than 200 is an *InvokeError.
func (e *Emulator) Invoke(payload []byte) ([]byte, error) {
	e.invokeMu.Lock()
	defer e.invokeMu.Unlock()
	select {
	case <-e.exited:
		return nil, fmt.Errorf("rie: invoke: emulator is not running (%v)", e.waitErr)
	default:
	}
	resp, err := e.client.Post(e.URL, "application/json", bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("rie: invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("rie: invoke: read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, &InvokeError{Status: resp.StatusCode, Body: body}
	}
	return body, nil
}

// Log returns the emulator's output so far: its own log lines, the START,
// END and REPORT lines of each invocation, and everything the function wrote
// to stdout and stderr.
func (e *Emulator) Log() string {
	b, err := os.ReadFile(e.logPath)
	if err != nil {
		return fmt.Sprintf("rie: read log: %v", err)
	}
	return string(b)
}

// InitDuration returns the duration of the cold start, known once the first
// invocation has answered: the emulator's measurement of the runtime's init
// phase ("INIT REPORT(durationMs: …)", what Lambda reports as Init Duration)
// or, if absent, the "Init Duration" of the first REPORT line.
func (e *Emulator) InitDuration() (time.Duration, bool) {
	return parseInitDuration(e.Log())
}

var (
	initReportRE = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9]+(?:\.[0-9]+)?)\)`)
	reportRE     = regexp.MustCompile(`(?m)^REPORT RequestId: .*\tInit Duration: ([0-9]+(?:\.[0-9]+)?) ms`)
)

// parseInitDuration finds the first init duration in an emulator log.
func parseInitDuration(log string) (time.Duration, bool) {
	for _, re := range []*regexp.Regexp{initReportRE, reportRE} {
		if m := re.FindStringSubmatch(log); m != nil {
			ms, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				continue
			}
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	return 0, false
}

// Stop kills the emulator and the function and waits for them to exit. It is
// called at test end; calling it earlier (to inspect the final log) is safe.
func (e *Emulator) Stop() {
	e.stopOnce.Do(func() {
		if e.cmd.Process != nil {
			_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
		}
		<-e.exited
	})
}

// freeAddr returns a free loopback address (127.0.0.1:PORT).
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("rie: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// lookupEnv returns the last value of key in env (exec's rule for
// duplicates).
func lookupEnv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v, true
		}
	}
	return "", false
}
