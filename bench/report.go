package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

// PythonReference is the target that ratios to Python are taken against.
const PythonReference = "python:threaded"

// table is a header and rows of cells, printed aligned or as markdown.
type table struct {
	title  string
	header []string
	rows   [][]string
}

func (t *table) writeText(w io.Writer) {
	fmt.Fprintf(w, "\n%s\n", t.title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(t.header, "\t")+"\t")
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t")+"\t")
	}
	_ = tw.Flush()
}

func (t *table) writeMarkdown(w io.Writer) {
	fmt.Fprintf(w, "\n### %s\n\n", t.title)
	fmt.Fprintf(w, "| %s |\n", strings.Join(t.header, " | "))
	seps := make([]string, len(t.header))
	for i := range seps {
		seps[i] = "---:"
	}
	seps[0] = "---"
	fmt.Fprintf(w, "|%s|\n", strings.Join(seps, "|"))
	for _, r := range t.rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
	}
}

// ceilingKey maps a payload to the raw payload that is its ceiling.
func ceilingKey(p Payload) Payload {
	if rawPayload(p) {
		return p
	}
	return PayloadInt
}

// Ceiling returns the best raw echo calls/s for payload p at conns in the
// report (0 when no raw target ran it).
func (r *Report) Ceiling(p Payload, conns int) float64 {
	best := 0.0
	for _, c := range r.Cells {
		if c.Kind == KindRaw && c.Payload == ceilingKey(p) && c.Conns == conns && c.Result != nil {
			best = max(best, c.Result.CallsPerSec)
		}
	}
	return best
}

// ceilingCell returns the raw cell with the best calls/s for p at conns.
func (r *Report) ceilingCell(p Payload, conns int) *Cell {
	var best *Cell
	for i, c := range r.Cells {
		if c.Kind == KindRaw && c.Payload == ceilingKey(p) && c.Conns == conns && c.Result != nil {
			if best == nil || c.Result.CallsPerSec > best.Result.CallsPerSec {
				best = &r.Cells[i]
			}
		}
	}
	return best
}

// Python returns the calls/s of PythonReference for p at conns (0 when it
// did not run).
func (r *Report) Python(p Payload, conns int) float64 {
	for _, c := range r.Cells {
		if c.Target == PythonReference && c.Payload == p && c.Conns == conns && c.Result != nil {
			return c.Result.CallsPerSec
		}
	}
	return 0
}

func ratio(a, b float64) string {
	if b <= 0 || a <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func fmtRate(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// serverMem is the server's RSS, or for a tree of processes (a forking
// server) its PSS, which counts the pages the children share once.
func serverMem(r *Result) int64 {
	if r.ServerProcs > 1 && r.ServerPSS > 0 {
		return r.ServerPSS
	}
	return r.ServerRSS
}

func fmtMB(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

func fmtUs(v int64) string { return fmt.Sprintf("%d", v) }

// tables builds the report's tables: throughput/latency by payload, idle
// capacity, churn.
func (r *Report) tables() []*table {
	var out []*table
	for _, pl := range r.Plan.Payloads {
		t := &table{
			title: fmt.Sprintf("payload %s (window %d, %v per cell)", pl, max(r.Plan.Window, 1), r.Plan.Duration),
			header: []string{"target", "conns", "calls/s", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "errors",
				"client cpu", "server cpu", "server MB", "threads", "× ceiling", "× python"},
		}
		for _, n := range r.Plan.Conns {
			for _, c := range r.Cells {
				if c.Payload != pl || c.Conns != n {
					continue
				}
				if c.Result == nil {
					t.rows = append(t.rows, []string{c.Target, fmt.Sprint(n), "failed: " + shorten(c.Error, 60),
						"", "", "", "", "", "", "", "", "", "", ""})
					continue
				}
				res := c.Result
				errs := fmt.Sprint(res.Errors)
				t.rows = append(t.rows, []string{c.Target, fmt.Sprint(n), fmtRate(res.CallsPerSec),
					fmtUs(res.Latency.P50), fmtUs(res.Latency.P90), fmtUs(res.Latency.P99), fmtUs(res.Latency.P999),
					errs, fmt.Sprintf("%.2f", res.ClientCPU), fmt.Sprintf("%.2f", res.ServerCPU),
					fmtMB(serverMem(res)), fmt.Sprint(res.ServerThreads),
					ratio(res.CallsPerSec, r.Ceiling(pl, n)), ratio(res.CallsPerSec, r.Python(pl, n))})
			}
		}
		if len(t.rows) > 0 {
			out = append(out, t)
		}
	}
	if len(r.Idle) > 0 {
		t := &table{
			title:  fmt.Sprintf("idle capacity (%d idle connections held (%s at most %d); server memory as PSS of its process tree; calls on one more connection)", r.Plan.Idle, "python:forking", ForkingIdleCap),
			header: []string{"target", "opened", "PSS before MB", "PSS held MB", "bytes/conn", "threads", "procs", "calls/s", "p50 µs", "p99 µs", "error"},
		}
		for _, i := range r.Idle {
			row := []string{i.Target, fmt.Sprint(i.Opened), fmtMB(i.BaselinePSS), fmtMB(i.HeldPSS),
				fmt.Sprintf("%.0f", i.BytesPerConn), fmt.Sprint(i.HeldThreads), fmt.Sprint(i.HeldProcs), "-", "-", "-", shorten(i.Error, 60)}
			if i.Latency != nil {
				row[7], row[8], row[9] = fmtRate(i.Latency.CallsPerSec), fmtUs(i.Latency.Latency.P50), fmtUs(i.Latency.Latency.P99)
			}
			t.rows = append(t.rows, row)
		}
		out = append(out, t)
	}
	if len(r.Churn) > 0 {
		t := &table{
			title:  fmt.Sprintf("connection churn (connect, one call, close; %d loops)", r.Plan.ChurnWorkers),
			header: []string{"target", "conns/s", "p50 µs", "p99 µs", "errors", "× ceiling", "× python", "error"},
		}
		ceil, py := 0.0, 0.0
		for _, c := range r.Churn {
			if c.Kind == KindRaw {
				ceil = max(ceil, c.ConnsPerSec)
			}
			if c.Target == PythonReference {
				py = c.ConnsPerSec
			}
		}
		for _, c := range r.Churn {
			e := c.Error
			if e == "" {
				e = c.FirstError
			}
			t.rows = append(t.rows, []string{c.Target, fmtRate(c.ConnsPerSec), fmtUs(c.Latency.P50), fmtUs(c.Latency.P99),
				fmt.Sprint(c.Errors), ratio(c.ConnsPerSec, ceil), ratio(c.ConnsPerSec, py), shorten(e, 60)})
		}
		out = append(out, t)
	}
	return out
}

func shorten(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

// header is the run's one-line description.
func (r *Report) header() string {
	m := r.Machine
	return fmt.Sprintf("rpyc-bench %s profile, %s, %d CPUs (%s), Linux %s, %s, commit %s, %.0f s",
		r.Plan.Profile, r.Started.UTC().Format("2006-01-02 15:04 UTC"), m.CPUs, m.CPUModel, m.Kernel, m.GoVersion, m.Commit, r.Seconds)
}

// WriteTable prints the report's tables for a terminal.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintln(w, r.header())
	fmt.Fprintln(w, "× ceiling: calls/s over the best raw echo server's at the same connections (callback and counter: the int ceiling); × python: over "+PythonReference+"'s; CPU in cores; server MB: RSS (PSS for a tree of processes)")
	for _, t := range r.tables() {
		t.writeText(w)
	}
	for _, warn := range r.Warnings {
		fmt.Fprintln(w, "warning:", warn)
	}
}

// WriteMarkdown writes the report's tables as markdown (for the README).
func (r *Report) WriteMarkdown(w io.Writer) {
	fmt.Fprintf(w, "## Benchmark\n\n%s.\n\n", r.header())
	fmt.Fprintln(w, "Ratios: *× ceiling* is calls/s over the best raw echo server (gnet, netpoll, stdnet answering each frame with a canned frame of the same size) at the same connection count — for callback and counter the small-int ceiling; *× python* is over Python rpyc 5.3's ThreadedServer in the same run. CPU is in cores. *server MB* is the server's RSS (PSS summed over its processes for the forking servers).")
	for _, t := range r.tables() {
		t.writeMarkdown(w)
	}
	if len(r.Warnings) > 0 {
		fmt.Fprintln(w)
		for _, warn := range r.Warnings {
			fmt.Fprintf(w, "- warning: %s\n", warn)
		}
	}
}

// WriteJSON writes the whole report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error { return writeIndentedJSON(w, r) }

// WriteFiles writes results.json, results.md and the plots into dir and
// returns the paths written.
func (r *Report) WriteFiles(dir string) ([]string, error) {
	fw, err := newFileWriter(dir)
	if err != nil {
		return nil, err
	}
	if err := fw.write("results.json", r.WriteJSON); err != nil {
		return fw.paths, err
	}
	if err := fw.write("results.md", func(w io.Writer) error { r.WriteMarkdown(w); return nil }); err != nil {
		return fw.paths, err
	}
	err = fw.plots(r.Plots())
	return fw.paths, err
}

// writeIndentedJSON writes v as indented JSON.
func writeIndentedJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// fileWriter writes the files of a report into a directory and keeps the
// paths it wrote.
type fileWriter struct {
	dir   string
	paths []string
}

func newFileWriter(dir string) (*fileWriter, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &fileWriter{dir: dir}, nil
}

// write creates name in the directory with what fn writes.
func (fw *fileWriter) write(name string, fn func(io.Writer) error) error {
	p := filepath.Join(fw.dir, name)
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fw.paths = append(fw.paths, p)
	return nil
}

// plots writes each plot as SVG.
func (fw *fileWriter) plots(ps []Plot) error {
	for _, pl := range ps {
		if err := fw.write(pl.File, pl.Chart.WriteSVG); err != nil {
			return err
		}
	}
	return nil
}
