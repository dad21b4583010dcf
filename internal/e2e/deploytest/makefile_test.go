package deploytest

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/fluxkit/sms/internal/testing/rie"
)

// echoPkg is a tiny Lambda main package the build tests compile in place of
// a real function.
const echoPkg = "./internal/testing/rie/testdata/echo"

// runMake runs make in the module root with args and returns its output. The
// environment drops MAKEFLAGS and friends, so that a test started by
// `make test` does not inherit the outer make's jobserver.
func runMake(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("make")
	if err != nil {
		t.Fatal("make not found: install GNU make")
	}
	cmd := exec.Command(bin, append([]string{"--no-print-directory"}, args...)...)
	cmd.Dir = rie.ModuleRoot(t)
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "GNUMAKEFLAGS":
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// shellFlags renders rie.BuildFlags as they appear in a shell command.
func shellFlags() string {
	var parts []string
	for _, f := range rie.BuildFlags() {
		if strings.ContainsAny(f, " \t") {
			f = `"` + f + `"`
		}
		parts = append(parts, f)
	}
	return strings.Join(parts, " ")
}

func TestMakefileBuildsWithHarnessFlags(t *testing.T) {
	root := rie.ModuleRoot(t)
	hostArch := runtime.GOARCH
	tests := []struct {
		name string
		args []string
		want []string // go build commands, in order
	}{
		{
			name: "sam SendFunction",
			args: []string{"build-SendFunction", "ARTIFACTS_DIR=/artifacts/send"},
			want: []string{"CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build " + shellFlags() + " -o /artifacts/send/bootstrap ./functions/send"},
		},
		{
			name: "sam DrainFunction",
			args: []string{"build-DrainFunction", "ARTIFACTS_DIR=/artifacts/drain"},
			want: []string{"CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build " + shellFlags() + " -o /artifacts/drain/bootstrap ./functions/drain"},
		},
		{
			name: "sam ReceiptsFunction",
			args: []string{"build-ReceiptsFunction", "ARTIFACTS_DIR=/artifacts/receipts"},
			want: []string{"CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build " + shellFlags() + " -o /artifacts/receipts/bootstrap ./functions/receipts"},
		},
		{
			name: "sam PublisherFunction",
			args: []string{"build-PublisherFunction", "ARTIFACTS_DIR=/artifacts/publisher"},
			want: []string{"CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build " + shellFlags() + " -o /artifacts/publisher/bootstrap ./functions/publisher"},
		},
		{
			name: "build",
			args: []string{"build"},
			want: []string{
				"CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build " + shellFlags() + " -o " + root + "/build/arm64/send/bootstrap ./functions/send",
				"CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build " + shellFlags() + " -o " + root + "/build/arm64/drain/bootstrap ./functions/drain",
				"CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build " + shellFlags() + " -o " + root + "/build/arm64/receipts/bootstrap ./functions/receipts",
				"CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build " + shellFlags() + " -o " + root + "/build/arm64/publisher/bootstrap ./functions/publisher",
			},
		},
		{
			name: "invoke receipts",
			args: []string{"invoke", "FUNCTION=receipts", "EVENT=events/receipts/x.json"},
			want: []string{"CGO_ENABLED=0 GOOS=linux GOARCH=" + hostArch + " go build " + shellFlags() + " -o " + root + "/build/host/receipts/bootstrap ./functions/receipts"},
		},
		{
			name: "invoke publisher",
			args: []string{"invoke", "FUNCTION=publisher", "EVENT=events/publisher/x.json"},
			want: []string{"CGO_ENABLED=0 GOOS=linux GOARCH=" + hostArch + " go build " + shellFlags() + " -o " + root + "/build/host/publisher/bootstrap ./functions/publisher"},
		},
		{
			name: "invoke drain",
			args: []string{"invoke", "FUNCTION=drain", "EVENT=events/drain/x.json"},
			want: []string{"CGO_ENABLED=0 GOOS=linux GOARCH=" + hostArch + " go build " + shellFlags() + " -o " + root + "/build/host/drain/bootstrap ./functions/drain"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := runMake(t, append([]string{"-n", "GO=go"}, tt.args...)...)
			var got []string
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, " go build ") {
					got = append(got, strings.TrimSpace(line))
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("make -n %s go build commands:\n%s\nwant:\n%s", strings.Join(tt.args, " "), strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestMakefileSAMBuildIsReproducibleArm64(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	for _, d := range dirs {
		runMake(t, "-s", "build-SendFunction", "ARTIFACTS_DIR="+d, "SEND_PKG="+echoPkg)
	}
	first, err := os.ReadFile(filepath.Join(dirs[0], "bootstrap"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := os.ReadFile(filepath.Join(dirs[1], "bootstrap"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Errorf("two builds differ (%d and %d bytes), want identical binaries", len(first), len(second))
	}
	if root := rie.ModuleRoot(t); bytes.Contains(first, []byte(root)) {
		t.Errorf("binary contains the checkout path %s, want none (-trimpath)", root)
	}

	bin := filepath.Join(dirs[0], "bootstrap")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("open ELF: %v", err)
	}
	defer f.Close()
	if got, want := f.Machine, elf.EM_AARCH64; got != want {
		t.Errorf("ELF machine = %v, want %v", got, want)
	}
	if _, err := f.Symbols(); err != elf.ErrNoSymbols {
		t.Errorf("symbol table: err = %v, want elf.ErrNoSymbols (-ldflags -s)", err)
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatalf("read build info: %v", err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	for key, want := range map[string]string{
		"CGO_ENABLED": "0",
		"GOOS":        "linux",
		"GOARCH":      "arm64",
		"-trimpath":   "true",
		"-tags":       "lambda.norpc",
	} {
		if got := settings[key]; got != want {
			t.Errorf("build setting %s = %q, want %q", key, got, want)
		}
	}
	for key := range settings {
		if strings.HasPrefix(key, "vcs") {
			t.Errorf("build setting %s present, want no VCS stamping", key)
		}
	}
}

// TestMakefileInstallsThePinnedEmulator checks that `make tools` installs the
// emulator version the tests install (rie.Package at rie.Version), so the
// Makefile's RIE_VERSION and the Go constant cannot drift apart.
func TestMakefileInstallsThePinnedEmulator(t *testing.T) {
	bin := t.TempDir() // empty: make must plan the install
	out := runMake(t, "-n", "GO=go", "BIN="+bin, "tools")
	want := "GOBIN=" + bin + " go install " + rie.Package + "@" + rie.Version
	if !strings.Contains(out, want) {
		t.Errorf("make -n tools:\n%s\nwant a line with %q", out, want)
	}
}
