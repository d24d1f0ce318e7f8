// Command ratios reads `go test -bench` output (several -count runs) and
// prints a Markdown table of medians and ours/peer ratios. A benchmark named
// Benchmark<Area>/<scenario>/<impl> is compared with the benchmark of the
// same area and scenario whose impl is "resilience".
//
// Usage: go run ./cmd/ratios results/latest.txt
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

const ours = "resilience"

type sample struct{ ns, bytes, allocs []float64 }

var (
	line   = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op`)
	bytes  = regexp.MustCompile(`\s([\d.]+) B/op`)
	allocs = regexp.MustCompile(`\s([\d.]+) allocs/op`)
)

func main() {
	var in io.Reader = os.Stdin
	if len(os.Args) > 1 {
		f, err := os.Open(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer f.Close()
		in = f
	}
	samples := map[string]*sample{}
	var order []string
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		s, ok := samples[m[1]]
		if !ok {
			s = &sample{}
			samples[m[1]] = s
			order = append(order, m[1])
		}
		s.ns = append(s.ns, num(m[2]))
		if b := bytes.FindStringSubmatch(sc.Text()); b != nil {
			s.bytes = append(s.bytes, num(b[1]))
		}
		if a := allocs.FindStringSubmatch(sc.Text()); a != nil {
			s.allocs = append(s.allocs, num(a[1]))
		}
	}
	fmt.Println("| benchmark | peer | ours ns/op | peer ns/op | ours/peer | ours allocs/op | peer allocs/op |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|")
	for _, name := range order {
		i := strings.LastIndexByte(name, '/')
		if i < 0 || name[i+1:] == ours {
			continue
		}
		group, impl := name[:i], name[i+1:]
		o, ok := samples[group+"/"+ours]
		if !ok {
			continue
		}
		p := samples[name]
		fmt.Printf("| %s | %s | %s | %s | %.2f | %s | %s |\n",
			strings.TrimPrefix(group, "Benchmark"), impl,
			fmtNum(median(o.ns)), fmtNum(median(p.ns)), median(o.ns)/median(p.ns),
			count(o.allocs), count(p.allocs))
	}
}

func num(s string) float64 {
	v, _ := strconv.ParseFloat(s, 64)
	return v
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtNum(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// count formats a median of allocs/op: a whole number, or "-" when the
// benchmark did not report it.
func count(xs []float64) string {
	if len(xs) == 0 {
		return "-"
	}
	return strconv.FormatFloat(median(xs), 'f', -1, 64)
}
