package invoketest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Event is one sample event file.
type Event struct {
	// Path is the event file; Expected is its outcome file.
	Path, Expected string
	// Function is the function it is for (its directory's name).
	Function Function
}

// Discover returns the events under dir (events/): every dir/<function>/*.json
// that is not an outcome file, sorted by path. Every event must have its
// outcome file and every outcome file its event; a subdirectory that is
// not a function's name is an error.
func Discover(dir string) ([]Event, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("invoketest: events: %w", err)
	}
	var evs []Event
	for _, d := range entries {
		if !d.IsDir() {
			continue
		}
		f, err := FunctionNamed(d.Name())
		if err != nil {
			return nil, fmt.Errorf("invoketest: events: directory %s: %w", d.Name(), err)
		}
		files, err := os.ReadDir(filepath.Join(dir, d.Name()))
		if err != nil {
			return nil, fmt.Errorf("invoketest: events: %w", err)
		}
		have := map[string]bool{}
		for _, fe := range files {
			have[fe.Name()] = true
		}
		for _, fe := range files {
			name := fe.Name()
			p := filepath.Join(dir, d.Name(), name)
			switch {
			case fe.IsDir() || !strings.HasSuffix(name, ".json"):
				return nil, fmt.Errorf("invoketest: events: %s is not an event (.json) or outcome (%s) file", p, ExpectedSuffix)
			case strings.HasSuffix(name, ExpectedSuffix):
				if !have[strings.TrimSuffix(name, ExpectedSuffix)+".json"] {
					return nil, fmt.Errorf("invoketest: events: %s has no event file", p)
				}
			default:
				exp := strings.TrimSuffix(p, ".json") + ExpectedSuffix
				if !have[strings.TrimSuffix(name, ".json")+ExpectedSuffix] {
					return nil, fmt.Errorf("invoketest: events: %s has no expected outcome %s", p, exp)
				}
				evs = append(evs, Event{Path: p, Expected: exp, Function: f})
			}
		}
	}
	slices.SortFunc(evs, func(a, b Event) int { return strings.Compare(a.Path, b.Path) })
	return evs, nil
}
