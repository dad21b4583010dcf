package deploytest

import (
	"archive/zip"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fluxkit/sms/internal/testing/rie"
)

// TestPyToolsUsesPathAndInstallsOnlyWhatIsMissing runs scripts/pytools.sh
// (make tools, make test and make lint call it) in a copy of the checkout:
// with every tool on PATH it does nothing; with moto_server missing it
// creates .venv with the system's site packages and, when no package index
// answers, fails naming the one command to run; with an index (here a
// directory holding a stand-in moto wheel) it installs the pinned version
// into .venv, and the next run finds it there.
func TestPyToolsUsesPathAndInstallsOnlyWhatIsMissing(t *testing.T) {
	src := rie.ModuleRoot(t)
	root := t.TempDir()
	for _, f := range []string{"pytools.sh", "requirements-test.txt"} {
		data, err := os.ReadFile(filepath.Join(src, "scripts", f))
		if err != nil {
			t.Fatal(err)
		}
		writeFileMode(t, filepath.Join(root, "scripts", f), data, 0o755)
	}
	script := filepath.Join(root, "scripts", "pytools.sh")
	venv := filepath.Join(root, ".venv")

	// Every tool on PATH (make test's PATH): nothing to do. The index is
	// unreachable, so a tool missing here fails at once, naming it.
	if out, err := runPyTools(t, script, os.Getenv("PATH"), noIndex...); err != nil {
		t.Fatalf("pytools.sh with the test's PATH: %v, want exit 0 (run make tools)\n%s", err, out)
	}
	if _, err := os.Stat(venv); err == nil {
		t.Fatalf(".venv created although every tool is on PATH")
	}

	// PATH without moto_server: python3 and cfn-lint only, plus the system.
	py := pythonPath(t, "import sys; print(sys.executable)")
	scripts := pythonPath(t, "import sysconfig; print(sysconfig.get_path('scripts'))")
	bin := t.TempDir()
	for name, target := range map[string]string{"python3": py, "cfn-lint": filepath.Join(scripts, "cfn-lint")} {
		if err := os.Symlink(target, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	path := bin + string(os.PathListSeparator) + "/usr/bin:/bin"

	out, err := runPyTools(t, script, path, noIndex...)
	if err == nil {
		t.Fatalf("pytools.sh without moto_server and without an index: exit 0, want a failure\n%s", out)
	}
	for _, want := range []string{
		"not found: moto[server]==5.2.1",
		".venv/bin/python3 -m pip install --ignore-installed -r scripts/requirements-test.txt",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("pytools.sh output lacks %q:\n%s", want, out)
		}
	}
	cfg, err := os.ReadFile(filepath.Join(venv, "pyvenv.cfg"))
	if err != nil {
		t.Fatalf("no .venv after a missing tool: %v", err)
	}
	if !strings.Contains(string(cfg), "include-system-site-packages = true") {
		t.Errorf(".venv/pyvenv.cfg:\n%s\nwant include-system-site-packages = true", cfg)
	}

	wheels := t.TempDir()
	writeMotoWheel(t, filepath.Join(wheels, "moto-5.2.1-py3-none-any.whl"))
	if out, err := runPyTools(t, script, path, "PIP_NO_INDEX=1", "PIP_FIND_LINKS="+wheels, "PIP_INDEX_URL="); err != nil {
		t.Fatalf("pytools.sh with the pinned moto available: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(venv, "bin", "moto_server")); err != nil {
		t.Errorf("moto_server not installed into .venv: %v", err)
	}
	// Found in .venv now: no install, so no index is needed.
	if out, err := runPyTools(t, script, path, noIndex...); err != nil {
		t.Errorf("pytools.sh after the install: %v, want exit 0\n%s", err, out)
	}
}

// noIndex points pip at a package index that refuses connections (the
// discard port) and at no local wheels.
var noIndex = []string{"PIP_INDEX_URL=http://127.0.0.1:9/simple/", "PIP_FIND_LINKS=", "PIP_NO_INDEX="}

// runPyTools runs the script with path as PATH, pip's configuration files
// ignored and env added, and returns its combined output.
func runPyTools(t *testing.T, script, path string, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(script)
	cmd.Env = append(os.Environ(), "PATH="+path, "PIP_CONFIG_FILE="+os.DevNull)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// pythonPath prints what a line of python3 prints: a path of the
// interpreter on PATH.
func pythonPath(t *testing.T, code string) string {
	t.Helper()
	out, err := exec.Command("python3", "-c", code).Output()
	if err != nil {
		t.Fatalf("python3 -c %q: %v (python3 is needed: see scripts/requirements-test.txt)", code, err)
	}
	return strings.TrimSpace(string(out))
}

// writeMotoWheel writes a wheel named moto 5.2.1 with the extra "server"
// whose only content is a moto_server command.
func writeMotoWheel(t *testing.T, path string) {
	t.Helper()
	const info = "moto-5.2.1.dist-info/"
	files := []struct{ name, body string }{
		{"fakemoto/__init__.py", "def main():\n    print('moto stand-in')\n"},
		{info + "METADATA", "Metadata-Version: 2.1\nName: moto\nVersion: 5.2.1\nProvides-Extra: server\n"},
		{info + "WHEEL", "Wheel-Version: 1.0\nGenerator: deploytest\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
		{info + "entry_points.txt", "[console_scripts]\nmoto_server = fakemoto:main\n"},
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	var record strings.Builder
	for _, f := range files {
		w, err := zw.Create(f.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
		record.WriteString(f.name + ",,\n")
	}
	record.WriteString(info + "RECORD,,\n")
	w, err := zw.Create(info + "RECORD")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(record.String())); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	writeFileMode(t, path, buf.Bytes(), 0o644)
}

func writeFileMode(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
}
