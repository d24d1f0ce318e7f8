package main

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"
)

// TestObservability runs the service on a random loopback port, makes a
// call that succeeds, one that succeeds after a retry, one that fails
// until the breaker opens and one the open breaker refuses, and then reads
// what an operator would: /readyz, the Prometheus text of /metrics
// (parsed with the Prometheus parser), and the logs.
func TestObservability(t *testing.T) {
	defer goleak.VerifyNone(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln, &logs) }()
	client := &http.Client{Timeout: 10 * time.Second}
	defer func() {
		client.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	base := "http://" + ln.Addr().String()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}
	expect := func(path string, code int) {
		t.Helper()
		if got, body := get(path); got != code {
			t.Fatalf("GET %s: %d %q, want %d", path, got, body, code)
		}
	}

	expect("/healthz", http.StatusOK)
	expect("/quote?sku=apple", http.StatusOK)
	expect("/quote?sku=flaky", http.StatusOK) // after one retry
	expect("/readyz", http.StatusOK)
	expect("/quote?sku=down", http.StatusServiceUnavailable) // three attempts: the breaker opens
	expect("/readyz", http.StatusServiceUnavailable)
	expect("/healthz", http.StatusOK)                         // not ready, still alive
	expect("/quote?sku=apple", http.StatusServiceUnavailable) // refused by the open breaker

	code, text := get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, text)
	}

	retry := labels{"resilience_policy_kind": "retry", "resilience_policy_name": "pricing"}
	brk := labels{"resilience_policy_kind": "breaker", "resilience_policy_name": "pricing"}
	const open = "*breaker.OpenError"
	checkSeries(t, fams, "resilience_events_total", dto.MetricType_COUNTER, map[string]float64{
		retry.with("event_name", "attempt", "event_severity", "debug", "resilience_outcome", "success").key():                      2,
		retry.with("event_name", "attempt", "event_severity", "debug", "resilience_outcome", "failure", "error_type", "503").key(): 4,
		retry.with("event_name", "attempt", "event_severity", "debug", "resilience_outcome", "failure", "error_type", open).key():  1,
		retry.with("event_name", "retry", "event_severity", "info", "error_type", "503").key():                                     3,
		retry.with("event_name", "done", "event_severity", "debug", "resilience_outcome", "success").key():                         2,
		retry.with("event_name", "done", "event_severity", "warn", "resilience_outcome", "failure", "error_type", "503").key():     1,
		retry.with("event_name", "done", "event_severity", "warn", "resilience_outcome", "failure", "error_type", open).key():      1,
		brk.with("event_name", "rejected", "event_severity", "warn", "resilience_reason", "open", "error_type", open).key():        1,
		brk.with("event_name", "state_change", "event_severity", "info", "resilience_state_from", "closed",
			"resilience_state_to", "open", "error_type", "503").key(): 1,
	})
	checkSeries(t, fams, "resilience_attempt_duration_seconds", dto.MetricType_HISTOGRAM, map[string]float64{
		retry.with("resilience_attempt_number", "1", "resilience_outcome", "success").key():                      1,
		retry.with("resilience_attempt_number", "2", "resilience_outcome", "success").key():                      1,
		retry.with("resilience_attempt_number", "1", "resilience_outcome", "failure", "error_type", "503").key(): 2,
		retry.with("resilience_attempt_number", "2", "resilience_outcome", "failure", "error_type", "503").key(): 1,
		retry.with("resilience_attempt_number", "3", "resilience_outcome", "failure", "error_type", "503").key(): 1,
		retry.with("resilience_attempt_number", "1", "resilience_outcome", "failure", "error_type", open).key():  1,
	})
	checkSeries(t, fams, "resilience_call_duration_seconds", dto.MetricType_HISTOGRAM, map[string]float64{
		retry.with("resilience_outcome", "success").key():                      2,
		retry.with("resilience_outcome", "failure", "error_type", "503").key(): 1,
		retry.with("resilience_outcome", "failure", "error_type", open).key():  1,
	})
	checkSeries(t, fams, "resilience_breaker_state", dto.MetricType_GAUGE, map[string]float64{
		brk.key(): 2, // open
	})
	permits := labels{"resilience_policy_kind": "bulkhead", "resilience_policy_name": "pricing"}
	checkSeries(t, fams, "resilience_bulkhead_in_flight", dto.MetricType_GAUGE, map[string]float64{permits.key(): 0})
	checkSeries(t, fams, "resilience_bulkhead_queued", dto.MetricType_GAUGE, map[string]float64{permits.key(): 0})
	checkSeries(t, fams, "resilience_bulkhead_limit", dto.MetricType_GAUGE, map[string]float64{permits.key(): maxConcurrent})

	// The logs: the events at Info and above, and the service's own line,
	// with the ids of the request's span; the rejection and the failure
	// of the last call in one trace.
	byMsg := map[string][]map[string]any{}
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		msg, _ := rec["msg"].(string)
		byMsg[msg] = append(byMsg[msg], rec)
	}
	for msg, n := range map[string]int{
		"resilience: retry":        3,
		"resilience: state_change": 1,
		"resilience: rejected":     1,
		"resilience: done":         2, // the failed calls (Warn); the successes are Debug
		"quote failed":             1,
		"resilience: attempt":      0, // Debug
	} {
		if got := len(byMsg[msg]); got != n {
			t.Errorf("%d log lines %q, want %d:\n%s", got, msg, n, logs.String())
		}
		for _, rec := range byMsg[msg] {
			if id, _ := rec["trace_id"].(string); len(id) != 32 {
				t.Errorf("log line %v: trace_id %q", rec, id)
			}
			if id, _ := rec["span_id"].(string); len(id) != 16 {
				t.Errorf("log line %v: span_id %q", rec, id)
			}
		}
	}
	if rej, failed := byMsg["resilience: rejected"], byMsg["quote failed"]; len(rej) == 1 && len(failed) == 1 &&
		(rej[0]["trace_id"] != failed[0]["trace_id"] || rej[0]["span_id"] != failed[0]["span_id"]) {
		t.Errorf("the rejection and the failure it caused are in different spans: %v, %v", rej[0], failed[0])
	}
}

// labels are the labels of a series, without those of the OTel scope.
type labels map[string]string

func (l labels) with(kv ...string) labels {
	out := maps.Clone(l)
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// key is a series' labels as one string, sorted.
func (l labels) key() string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(l)) {
		b.WriteString(k + "=" + l[k] + ",")
	}
	return b.String()
}

// checkSeries checks that family name has type typ and exactly the series
// want, by their labels (less otel_scope_*), with the values want says: a
// counter's or gauge's value, a histogram's count.
func checkSeries(t *testing.T, fams map[string]*dto.MetricFamily, name string, typ dto.MetricType, want map[string]float64) {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Errorf("no metric %s", name)
		return
	}
	if f.GetType() != typ {
		t.Errorf("%s is a %v, want %v", name, f.GetType(), typ)
	}
	got := map[string]float64{}
	for _, m := range f.GetMetric() {
		l := labels{}
		for _, p := range m.GetLabel() {
			if !strings.HasPrefix(p.GetName(), "otel_scope_") {
				l[p.GetName()] = p.GetValue()
			}
		}
		switch typ {
		case dto.MetricType_COUNTER:
			got[l.key()] = m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			got[l.key()] = m.GetGauge().GetValue()
		case dto.MetricType_HISTOGRAM:
			got[l.key()] = float64(m.GetHistogram().GetSampleCount())
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("%s:\n got %v\nwant %v", name, got, want)
	}
}

// syncBuffer is the log output, written by the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
