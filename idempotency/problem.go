package idempotency

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// problemBase is where the problem types of this package point: the
// documentation of the error each names.
const problemBase = "https://pkg.go.dev/github.com/resiliencekit/resilience/idempotency#"

type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// writeProblem answers err with its status and a problem+json body.
func writeProblem(w http.ResponseWriter, err error) {
	a := asAnswer(err)
	body, _ := json.Marshal(problem{Type: problemBase + a.name, Title: http.StatusText(a.status), Status: a.status, Detail: a.detail})
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	if a.after > 0 {
		h.Set("Retry-After", strconv.Itoa(int(a.after.Seconds())))
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(append(body, '\n'))
}
