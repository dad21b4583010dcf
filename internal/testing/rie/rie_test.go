package rie

import (
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

const echoPkg = "./internal/testing/rie/testdata/echo"

func TestEmulatorEchoesAndReportsInit(t *testing.T) {
	bin := Build(t, echoPkg)
	e := Start(t, bin, []string{"ECHO_GREETING=hello"})

	if _, ok := e.InitDuration(); ok {
		t.Errorf("InitDuration before the first invocation: ok = true, want false")
	}
	for _, payload := range []string{
		`{"to":"+14155551234","body":"héllo 👋"}`,
		`"text"`,
		`[1,2,3]`,
		`{}`,
		`null`,
	} {
		got, err := e.Invoke([]byte(payload))
		if err != nil {
			t.Fatalf("Invoke(%s): %v", payload, err)
		}
		if string(got) != payload {
			t.Errorf("Invoke(%s) = %s, want %s", payload, got, payload)
		}
	}

	d, ok := e.InitDuration()
	if !ok {
		t.Fatalf("InitDuration: ok = false, want true; log:\n%s", e.Log())
	}
	if d <= 0 || d > 10*time.Second {
		t.Errorf("InitDuration = %v, want within (0, 10s]", d)
	}
	log := e.Log()
	for _, want := range []string{`echo: init greeting="hello"`, "REPORT RequestId: "} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if got, want := strings.Count(log, "INIT REPORT("), 1; got != want {
		t.Errorf("INIT REPORT lines = %d, want %d (one cold start for five invocations)", got, want)
	}
	if got, want := strings.Count(log, "\nREPORT RequestId: "), 5; got != want {
		t.Errorf("REPORT lines = %d, want %d", got, want)
	}
}

func TestEmulatorEnvironmentIsExplicit(t *testing.T) {
	t.Setenv("ECHO_GREETING", "from-the-test-process")
	bin := Build(t, echoPkg)
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"not inherited", nil, `greeting=""`},
		{"given", []string{"ECHO_GREETING=given"}, `greeting="given"`},
		{"last wins", []string{"ECHO_GREETING=first", "ECHO_GREETING=second"}, `greeting="second"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Start(t, bin, tt.env)
			if _, err := e.Invoke([]byte(`{}`)); err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			if log := e.Log(); !strings.Contains(log, tt.want) {
				t.Errorf("log lacks %q:\n%s", tt.want, log)
			}
		})
	}
}

func TestEmulatorCrashIsInvokeErrorAndRecovers(t *testing.T) {
	e := Start(t, Build(t, echoPkg), nil)

	_, err := e.Invoke([]byte(`"crash"`))
	var ie *InvokeError
	if !errors.As(err, &ie) {
		t.Fatalf("Invoke(crash) error = %v, want *InvokeError", err)
	}
	if got, want := ie.Status, 502; got != want {
		t.Errorf("InvokeError.Status = %d, want %d", got, want)
	}
	got, err := e.Invoke([]byte(`{"again":true}`))
	if err != nil {
		t.Fatalf("Invoke after crash: %v", err)
	}
	if want := `{"again":true}`; string(got) != want {
		t.Errorf("Invoke after crash = %s, want %s", got, want)
	}
	if got, want := strings.Count(e.Log(), "echo: init"), 2; got != want {
		t.Errorf("function starts = %d, want %d (re-init after the crash)", got, want)
	}

	e.Stop()
	if _, err := e.Invoke([]byte(`{}`)); err == nil {
		t.Errorf("Invoke after Stop: err = nil, want an error")
	}
}

func TestBuildUsesDeploymentFlags(t *testing.T) {
	bin := Build(t, echoPkg)
	if again := Build(t, echoPkg); again != bin {
		t.Errorf("second Build = %s, want the cached %s", again, bin)
	}
	if got, want := filepath.Base(bin), "bootstrap"; got != want {
		t.Errorf("binary name = %s, want %s", got, want)
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
		"GOARCH":      runtime.GOARCH,
		"-trimpath":   "true",
		"-tags":       "lambda.norpc",
	} {
		if got := settings[key]; got != want {
			t.Errorf("build setting %s = %q, want %q", key, got, want)
		}
	}
	for key := range settings {
		if strings.HasPrefix(key, "vcs") {
			t.Errorf("build setting %s present, want no VCS stamping (reproducible builds)", key)
		}
	}
	// The build info leaves -ldflags out under -trimpath: check its effect.
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("open ELF: %v", err)
	}
	defer f.Close()
	if _, err := f.Symbols(); !errors.Is(err, elf.ErrNoSymbols) {
		t.Errorf("symbol table: err = %v, want elf.ErrNoSymbols (-ldflags -s)", err)
	}
	for _, sec := range f.Sections {
		if strings.HasPrefix(sec.Name, ".debug_") || strings.HasPrefix(sec.Name, ".zdebug_") {
			t.Errorf("section %s present, want no DWARF (-ldflags -w)", sec.Name)
		}
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if root := ModuleRoot(t); strings.Contains(string(data), root) {
		t.Errorf("binary contains the checkout path %s, want none (-trimpath)", root)
	}
}

func TestParseInitDuration(t *testing.T) {
	tests := []struct {
		name   string
		log    string
		want   time.Duration
		wantOK bool
	}{
		{
			name: "init report preferred",
			log: "27 Nov 2026 14:21:13,477 [INFO] (rapid) INIT REPORT(durationMs: 4.464000)\n" +
				"REPORT RequestId: a\tInit Duration: 0.49 ms\tDuration: 6.48 ms\t\n",
			want: 4464 * time.Microsecond, wantOK: true,
		},
		{
			name: "first init report",
			log: "(rapid) INIT REPORT(durationMs: 12.5)\n" +
				"(rapid) INIT REPORT(durationMs: 99.0)\n",
			want: 12500 * time.Microsecond, wantOK: true,
		},
		{
			name:   "report line only",
			log:    "START RequestId: a Version: $LATEST\nREPORT RequestId: a\tInit Duration: 2.50 ms\tDuration: 1.00 ms\t\n",
			want:   2500 * time.Microsecond,
			wantOK: true,
		},
		{
			name:   "warm report only",
			log:    "REPORT RequestId: b\tDuration: 1.74 ms\tBilled Duration: 2 ms\t\n",
			wantOK: false,
		},
		{
			name:   "function output mentioning init duration",
			log:    "my log: Init Duration: 5.00 ms\n",
			wantOK: false,
		},
		{name: "empty", log: "", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseInitDuration(tt.log)
			if ok != tt.wantOK || got != tt.want {
				t.Errorf("parseInitDuration = %v, %v, want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestEnsureInstallsThePinnedEmulator(t *testing.T) {
	pinned := Binary(t)
	other := Build(t, echoPkg) // a Go binary, but not the emulator
	copyTo := func(src string) func(string) error {
		return func(gobin string) error { return copyFile(t, src, filepath.Join(gobin, binName)) }
	}
	failing := func(string) error { return errors.New("rie: go install: no network") }

	tests := []struct {
		name      string
		present   string // file already in the bin directory; "" for none
		install   func(gobin string) error
		wantCalls int
		wantErr   string
	}{
		{"missing: installed", "", copyTo(pinned), 1, ""},
		{"pinned: kept", pinned, failing, 0, ""},
		{"another binary: replaced", other, copyTo(pinned), 1, ""},
		{"install fails", "", failing, 1, "no network"},
		{"install yields another binary", "", copyTo(other), 1, "is not " + Package + "@" + Version},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			binDir := filepath.Join(t.TempDir(), ".bin")
			target := filepath.Join(binDir, binName)
			if tt.present != "" {
				if err := os.MkdirAll(binDir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := copyFile(t, tt.present, target); err != nil {
					t.Fatal(err)
				}
			}
			calls := 0
			got, err := ensure(binDir, func(gobin string) error {
				calls++
				return tt.install(gobin)
			})
			if calls != tt.wantCalls {
				t.Errorf("install calls = %d, want %d", calls, tt.wantCalls)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("ensure error = %v, want one containing %q", err, tt.wantErr)
				}
			} else {
				if err != nil {
					t.Fatalf("ensure: %v", err)
				}
				if got != target {
					t.Errorf("ensure = %s, want %s", got, target)
				}
				if !isPinned(got) {
					t.Errorf("%s is not the pinned emulator", got)
				}
			}
			leftovers, _ := filepath.Glob(filepath.Join(binDir, ".install-*"))
			if len(leftovers) != 0 {
				t.Errorf("install directories left behind: %v", leftovers)
			}
		})
	}
}

func TestBinaryIsPinnedInModuleBin(t *testing.T) {
	got := Binary(t)
	if want := filepath.Join(ModuleRoot(t), ".bin", binName); got != want {
		t.Errorf("Binary = %s, want %s", got, want)
	}
	info, err := buildinfo.ReadFile(got)
	if err != nil {
		t.Fatalf("read build info: %v", err)
	}
	if info.Path != Package || info.Main.Version != Version {
		t.Errorf("emulator is %s@%s, want %s@%s", info.Path, info.Main.Version, Package, Version)
	}
}

// copyFile copies src to dst with mode 0755.
func copyFile(t *testing.T, src, dst string) error {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o755)
}

func TestSweepBuildDirs(t *testing.T) {
	tmp := t.TempDir()
	// A process id far above any pid_max is never alive.
	stale := filepath.Join(tmp, buildDirPrefix+"999999999-1")
	live := filepath.Join(tmp, buildDirPrefix+strconv.Itoa(os.Getpid())+"-1")
	other := filepath.Join(tmp, buildDirPrefix+"notapid")
	for _, d := range []string{stale, live, other} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sweepBuildDirs(tmp)
	for _, tt := range []struct {
		dir  string
		want bool
	}{{stale, false}, {live, true}, {other, true}} {
		_, err := os.Stat(tt.dir)
		if got := err == nil; got != tt.want {
			t.Errorf("%s exists = %v, want %v", filepath.Base(tt.dir), got, tt.want)
		}
	}
}
