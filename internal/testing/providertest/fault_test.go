package providertest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxkit/sms/internal/testing/providertest"
)

// outcome is what a raw request to a fake got: an HTTP status and body, or
// a transport error.
type outcome struct {
	status int
	body   string
	err    error
}

// sendTwilio posts a valid message to f, To to.
func sendTwilio(ctx context.Context, base, to string) outcome {
	form := url.Values{"To": {to}, "From": {providertest.TwilioFrom}, "Body": {"hello"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+messagesPath, strings.NewReader(form.Encode()))
	if err != nil {
		return outcome{err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(providertest.TwilioAccountSID, providertest.TwilioAuthToken)
	return roundTrip(req)
}

func sendVonage(ctx context.Context, base, text string) outcome {
	form := validVonageForm()
	form.Set("text", text)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/sms/json", strings.NewReader(form.Encode()))
	if err != nil {
		return outcome{err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return roundTrip(req)
}

func roundTrip(req *http.Request) outcome {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return outcome{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return outcome{status: resp.StatusCode, body: string(b), err: err}
}

func TestTwilioFaults(t *testing.T) {
	tests := []struct {
		name         string
		fault        providertest.Fault
		wantStatus   int // 0: the connection is dropped
		wantBody     string
		wantAccepted int
	}{
		{"429", providertest.Fault{Status: 429}, 429, `"code":20429`, 0},
		{"500", providertest.Fault{Status: 500}, 500, `"code":20500`, 0},
		{"503", providertest.Fault{Status: 503}, 503, `"code":20503`, 0},
		{"code with default status", providertest.Fault{Code: 21614}, 400, `"code":21614`, 0},
		{"code and status", providertest.Fault{Code: 20429, Status: 429, Message: "slow down"}, 429, `"message":"slow down"`, 0},
		{"raw body", providertest.Fault{Status: 502, Body: "<html>bad gateway</html>"}, 502, "<html>bad gateway</html>", 0},
		{"raw body default status", providertest.Fault{Body: "garbage"}, 200, "garbage", 0},
		{"drop before", providertest.Fault{Drop: providertest.DropBeforeProcessing}, 0, "", 0},
		{"drop after accept", providertest.Fault{Drop: providertest.DropAfterAccept}, 0, "", 1},
		{"502 after accepting", providertest.Fault{Status: 502, AcceptFirst: true}, 502, `"code":20502`, 1},
		{"504 html after accepting", providertest.Fault{Status: 504, Body: "<html>timeout</html>", AcceptFirst: true}, 504, "<html>timeout</html>", 1},
		{"sender code", providertest.Fault{Code: 21703}, 400, `Messaging Service`, 0},
		{"latency only", providertest.Fault{Delay: 50 * time.Millisecond}, 201, `"status":"queued"`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := providertest.NewTwilio(t)
			f.FailNext(1, tt.fault)
			start := time.Now()
			got := sendTwilio(context.Background(), f.URL(), "+14155550100")
			elapsed := time.Since(start)
			if tt.wantStatus == 0 {
				if got.err == nil {
					t.Errorf("got HTTP %d, want the connection dropped", got.status)
				}
			} else if got.err != nil || got.status != tt.wantStatus || !strings.Contains(got.body, tt.wantBody) {
				t.Errorf("got %d %q (err %v), want %d with %q", got.status, got.body, got.err, tt.wantStatus, tt.wantBody)
			}
			if elapsed < tt.fault.Delay {
				t.Errorf("answered after %v, want at least %v", elapsed, tt.fault.Delay)
			}
			if n := len(f.Accepted()); n != tt.wantAccepted {
				t.Errorf("accepted %d, want %d", n, tt.wantAccepted)
			}
			reqs := f.Requests()
			if len(reqs) != 1 || reqs[0].Fault == nil || *reqs[0].Fault != tt.fault || reqs[0].Status != tt.wantStatus {
				t.Errorf("requests = %+v, want one with the fault, answered %d", reqs, tt.wantStatus)
			}
			if after := sendTwilio(context.Background(), f.URL(), "+14155550100"); after.status != 201 {
				t.Errorf("next request got %d (err %v), want 201: a fault lasts one request", after.status, after.err)
			}
		})
	}
}

func TestVonageFaults(t *testing.T) {
	long := strings.Repeat("a", 400) // three parts
	tests := []struct {
		name         string
		fault        providertest.Fault
		text         string
		wantStatus   int
		wantStatuses []string // per message entry
		wantAccepted []int    // accepted parts per accepted message
	}{
		{"throttled", providertest.Fault{Code: 1}, "hi", 200, []string{"1"}, nil},
		{"whole multipart fails", providertest.Fault{Code: 5}, long, 200, []string{"5"}, nil},
		{"part 2 of 3", providertest.Fault{Code: 1, Part: 2}, long, 200, []string{"0", "1", "0"}, []int{2}},
		{"part 1 of 3", providertest.Fault{Code: 7, Part: 1}, long, 200, []string{"7", "0", "0"}, []int{2}},
		{"only part fails", providertest.Fault{Code: 1, Part: 1}, "hi", 200, []string{"1"}, nil},
		{"part beyond the message", providertest.Fault{Code: 1, Part: 4}, long, 200, []string{"0", "0", "0"}, []int{3}},
		{"gateway 503", providertest.Fault{Status: 503}, "hi", 503, nil, nil},
		{"gateway 502 after accepting", providertest.Fault{Status: 502, AcceptFirst: true}, long, 502, nil, []int{3}},
		{"drop after accept", providertest.Fault{Drop: providertest.DropAfterAccept}, long, 0, nil, []int{3}},
		{"drop before", providertest.Fault{Drop: providertest.DropBeforeProcessing}, long, 0, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := providertest.NewVonage(t)
			f.FailNext(1, tt.fault)
			got := sendVonage(context.Background(), f.URL(), tt.text)
			if tt.wantStatus == 0 {
				if got.err == nil {
					t.Fatalf("got HTTP %d, want the connection dropped", got.status)
				}
			} else if got.err != nil || got.status != tt.wantStatus {
				t.Fatalf("got %d (err %v), want %d", got.status, got.err, tt.wantStatus)
			}
			var statuses []string
			if got.status == http.StatusOK {
				var a vonageAnswer
				if err := json.Unmarshal([]byte(got.body), &a); err != nil {
					t.Fatalf("body %q: %v", got.body, err)
				}
				for _, m := range a.Messages {
					statuses = append(statuses, m["status"])
				}
			}
			if fmt.Sprint(statuses) != fmt.Sprint(tt.wantStatuses) {
				t.Errorf("statuses = %v, want %v", statuses, tt.wantStatuses)
			}
			var parts []int
			for _, a := range f.Accepted() {
				parts = append(parts, len(a.PartIDs))
				if a.FailedParts+len(a.PartIDs) != a.Parts {
					t.Errorf("accepted %+v: failed + accepted parts != parts", a)
				}
			}
			if fmt.Sprint(parts) != fmt.Sprint(tt.wantAccepted) {
				t.Errorf("accepted parts = %v, want %v", parts, tt.wantAccepted)
			}
		})
	}
}

func TestFailNextQueuesAndFailWhen(t *testing.T) {
	f := providertest.NewTwilio(t)
	f.FailNext(2, providertest.Fault{Status: 503})
	f.FailNext(1, providertest.Fault{Status: 429})
	f.FailWhen(func(r providertest.Request) bool { return r.Params.Get("To") == "+14155550199" },
		providertest.Fault{Code: 21610})

	var got []int
	for _, to := range []string{"+14155550100", "+14155550199", "+14155550100", "+14155550199", "+14155550100"} {
		got = append(got, sendTwilio(context.Background(), f.URL(), to).status)
	}
	want := []int{503, 503, 429, 400, 201}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	f.ClearFaults()
	if s := sendTwilio(context.Background(), f.URL(), "+14155550199").status; s != 201 {
		t.Errorf("after ClearFaults status = %d, want 201", s)
	}
	if n := f.Count(); n != 6 {
		t.Errorf("Count = %d, want 6", n)
	}
	f.Reset()
	if n, a := f.Count(), len(f.Accepted()); n != 0 || a != 0 {
		t.Errorf("after Reset Count, Accepted = %d, %d, want 0, 0", n, a)
	}
}

func TestPlanIsSeeded(t *testing.T) {
	plan := providertest.Plan{Seed: 42, Rate: 0.5, Faults: []providertest.Fault{{Status: 503}, {Status: 429}}}
	run := func() []int {
		f := providertest.NewTwilio(t, providertest.WithPlan(plan))
		var statuses []int
		for range 60 {
			statuses = append(statuses, sendTwilio(context.Background(), f.URL(), "+14155550100").status)
		}
		return statuses
	}
	first, second := run(), run()
	if fmt.Sprint(first) != fmt.Sprint(second) {
		t.Errorf("same seed gave %v then %v, want the same sequence", first, second)
	}
	counts := map[int]int{}
	for _, s := range first {
		counts[s]++
	}
	if counts[201] < 15 || counts[201] > 45 || counts[503] == 0 || counts[429] == 0 {
		t.Errorf("status counts = %v, want about half 201 and both faults present", counts)
	}

	f := providertest.NewTwilio(t, providertest.WithPlan(plan))
	f.SetPlan(providertest.Plan{})
	for range 10 {
		if s := sendTwilio(context.Background(), f.URL(), "+14155550100").status; s != 201 {
			t.Fatalf("status with the plan off = %d, want 201", s)
		}
	}
}

func TestDelayedRequestIsProcessedAfterClientGivesUp(t *testing.T) {
	f := providertest.NewTwilio(t)
	f.FailNext(1, providertest.Fault{Delay: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if got := sendTwilio(ctx, f.URL(), "+14155550100"); got.err == nil {
		t.Fatalf("got HTTP %d, want the client to time out", got.status)
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(f.Accepted()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(f.Accepted()); n != 1 {
		t.Errorf("accepted %d, want 1: the provider acts on a request it received", n)
	}
}

func TestCloseCutsDelayShort(t *testing.T) {
	f, err := providertest.StartTwilio("127.0.0.1:0")
	if err != nil {
		t.Fatalf("StartTwilio: %v", err)
	}
	f.FailNext(1, providertest.Fault{Delay: time.Minute})
	done := make(chan outcome, 1)
	go func() { done <- sendTwilio(context.Background(), f.URL(), "+14155550100") }()
	for f.Count() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	f.Close()
	f.Close() // idempotent
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v, want it to cut the delay short", d)
	}
	<-done
	if got := sendTwilio(context.Background(), f.URL(), "+14155550100"); got.err == nil {
		t.Errorf("after Close got HTTP %d, want a connection error", got.status)
	}
}

func TestStartOnAddress(t *testing.T) {
	f, err := providertest.StartVonage("127.0.0.1:0")
	if err != nil {
		t.Fatalf("StartVonage: %v", err)
	}
	defer f.Close()
	if _, err := providertest.StartVonage(strings.TrimPrefix(f.URL(), "http://")); err == nil {
		t.Errorf("StartVonage on a taken address succeeded, want an error")
	}
	if got := sendVonage(context.Background(), f.URL(), "hi"); got.status != 200 || !strings.Contains(got.body, `"status":"0"`) {
		t.Errorf("got %d %q, want an accepted message", got.status, got.body)
	}
}

func TestConcurrentUse(t *testing.T) {
	tw := providertest.NewTwilio(t)
	vo := providertest.NewVonage(t)
	tw.SetPlan(providertest.Plan{Seed: 7, Rate: 0.2, Faults: []providertest.Fault{{Status: 503}}})
	const workers, each = 16, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				sendTwilio(context.Background(), tw.URL(), fmt.Sprintf("+1415555%02d%02d", w, i))
				sendVonage(context.Background(), vo.URL(), strings.Repeat("a", 200))
				_ = tw.Requests()
				_ = vo.Accepted()
			}
		})
	}
	wg.Wait()
	if n := tw.Count(); n != workers*each {
		t.Errorf("Twilio Count = %d, want %d", n, workers*each)
	}
	ok := 0
	ids := map[string]bool{}
	for _, r := range tw.Requests() {
		if r.Status == 201 {
			ok++
		}
	}
	for _, a := range tw.Accepted() {
		ids[a.ID] = true
	}
	if len(ids) != ok || ok == 0 || ok == workers*each {
		t.Errorf("%d distinct accepted ids for %d 201 answers, want equal and some faults", len(ids), ok)
	}
	if n := len(vo.Accepted()); n != workers*each {
		t.Errorf("Vonage accepted %d, want %d", n, workers*each)
	}
	if want := providertest.VonageBalance - float64(2*workers*each)*providertest.VonagePartPrice; !near(vo.Balance(), want) {
		t.Errorf("Vonage balance = %f, want %f", vo.Balance(), want)
	}
}
