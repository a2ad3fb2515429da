package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/services/pypeer"
)

// fakeReport is a small report with every section filled.
func fakeReport() *Report {
	res := func(rate float64) *Result {
		return &Result{Calls: int64(rate), Seconds: 1, CallsPerSec: rate,
			Latency: Latency{Count: int64(rate), P50: 50, P90: 90, P99: 99, P999: 150}, ServerRSS: 8 << 20, ServerThreads: 7}
	}
	plan := Plan{Profile: "test", Conns: []int{1, 16}, Payloads: []Payload{PayloadInt, PayloadCounter},
		Duration: time.Second, Window: 1, Idle: 100, ChurnWorkers: 2,
		Targets: []Target{{Name: "rpycgo:reactor:gnet", Kind: KindRPyCGo}, {Name: PythonReference, Kind: KindPython}, {Name: "raw:gnet", Kind: KindRaw}}}
	r := &Report{Started: time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC), Seconds: 12, Machine: Machine{CPUs: 2, CPUModel: "test cpu"}, Plan: plan}
	for _, n := range plan.Conns {
		f := float64(n)
		r.Cells = append(r.Cells,
			Cell{Target: "rpycgo:reactor:gnet", Kind: KindRPyCGo, Payload: PayloadInt, Conns: n, Result: res(30000 * f)},
			Cell{Target: PythonReference, Kind: KindPython, Payload: PayloadInt, Conns: n, Result: res(10000 * f)},
			Cell{Target: "raw:gnet", Kind: KindRaw, Payload: PayloadInt, Conns: n, Result: res(40000 * f)},
			Cell{Target: "rpycgo:reactor:gnet", Kind: KindRPyCGo, Payload: PayloadCounter, Conns: n, Result: res(20000 * f)},
			Cell{Target: PythonReference, Kind: KindPython, Payload: PayloadCounter, Conns: n, Error: "boom | bad\nline"},
		)
	}
	r.Idle = []IdleResult{
		{Target: "rpycgo:reactor:gnet", Kind: KindRPyCGo, Idle: 100, Opened: 100, BaselinePSS: 10 << 20, HeldPSS: 11 << 20, BytesPerConn: 10485, Latency: res(9000)},
		{Target: "raw:gnet", Kind: KindRaw, Idle: 100, Opened: 100, BytesPerConn: 600},
	}
	r.Churn = []ChurnResult{
		{Target: "rpycgo:reactor:gnet", Kind: KindRPyCGo, Workers: 2, ConnsPerSec: 3000},
		{Target: PythonReference, Kind: KindPython, Workers: 2, ConnsPerSec: 1000},
		{Target: "raw:gnet", Kind: KindRaw, Workers: 2, ConnsPerSec: 6000},
	}
	return r
}

func TestReportRatios(t *testing.T) {
	r := fakeReport()
	require.Equal(t, 40000.0, r.Ceiling(PayloadInt, 1))
	require.Equal(t, 640000.0, r.Ceiling(PayloadCounter, 16), "counter's ceiling is the int ceiling")
	require.Zero(t, r.Ceiling(PayloadBytes64K, 1))
	require.Equal(t, 10000.0, r.Python(PayloadInt, 1))
	require.Zero(t, r.Python(PayloadCounter, 1))
	require.Equal(t, "0.75", ratio(30000, 40000))
	require.Equal(t, "-", ratio(1, 0))
}

func TestReportTableAndMarkdown(t *testing.T) {
	r := fakeReport()
	var text bytes.Buffer
	r.WriteTable(&text)
	out := text.String()
	require.Contains(t, out, "payload int")
	require.Contains(t, out, "0.75") // rpycgo over the ceiling at 1 conn
	require.Contains(t, out, "3.00") // rpycgo over Python
	require.Contains(t, out, "failed: boom / bad line")
	require.Contains(t, out, "idle capacity")
	require.Contains(t, out, "connection churn")

	var md bytes.Buffer
	r.WriteMarkdown(&md)
	lines := strings.Split(md.String(), "\n")
	var rows int
	for _, l := range lines {
		if strings.HasPrefix(l, "| rpycgo:reactor:gnet | 16 | 480000 |") {
			rows++
		}
	}
	require.Equal(t, 1, rows, md.String())
	for _, l := range lines {
		if strings.HasPrefix(l, "|") {
			require.True(t, strings.HasSuffix(l, "|"), l)
		}
	}
}

func TestReportWriteFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	paths, err := fakeReport().WriteFiles(dir)
	require.NoError(t, err)
	want := []string{"results.json", "results.md", "throughput_int.svg", "latency_int.svg",
		"throughput_counter.svg", "latency_counter.svg", "memory_idle.svg"}
	for _, name := range want {
		require.Contains(t, paths, filepath.Join(dir, name))
		st, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		require.Positive(t, st.Size(), name)
	}

	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	require.NoError(t, err)
	var back Report
	require.NoError(t, json.Unmarshal(b, &back))
	require.Len(t, back.Cells, 10)
	require.Equal(t, 30000.0, back.Cells[0].Result.CallsPerSec)
	require.Len(t, back.Idle, 2)
	require.Len(t, back.Churn, 3)

	for _, name := range want[2:] {
		f, err := os.Open(filepath.Join(dir, name))
		require.NoError(t, err)
		requireWellFormedSVG(t, f)
		f.Close()
	}
}

func requireWellFormedSVG(t *testing.T, r io.Reader) {
	t.Helper()
	dec := xml.NewDecoder(r)
	var root string
	var shapes int
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			switch se.Name.Local {
			case "polyline", "circle", "rect":
				shapes++
			}
		}
	}
	require.Equal(t, "svg", root)
	require.Greater(t, shapes, 1)
}

func TestChartEdgeCases(t *testing.T) {
	tests := []struct {
		name  string
		chart Chart
	}{
		{"empty", Chart{Title: "nothing"}},
		{"gaps and zeros on log axis", Chart{Title: "gaps <&>", LogY: true, XLabels: []string{"1", "2", "3"},
			Series: []Series{{Name: "a", Y: []float64{math.NaN(), 0, 5}}, {Name: "b", Y: []float64{1, 2, 3}, Dashed: true}}}},
		{"linear", Chart{XLabels: []string{"x"}, Series: []Series{{Name: "a", Y: []float64{0}}}}},
		{"bars", Chart{Bars: true, XLabels: []string{""}, Series: []Series{{Name: "a", Y: []float64{600}}, {Name: "b", Y: []float64{27000}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, tt.chart.WriteSVG(&b))
			require.NotContains(t, b.String(), "NaN")
			require.NotContains(t, b.String(), "Inf")
			dec := xml.NewDecoder(&b)
			for {
				_, err := dec.Token()
				if err == io.EOF {
					break
				}
				require.NoError(t, err)
			}
		})
	}
	require.Equal(t, 2.0, niceStep(1.5))
	require.Equal(t, 50.0, niceStep(41))
	require.Equal(t, "1.5k", fmtTick(1500))
	require.Equal(t, "2M", fmtTick(2e6))
}

func TestProgressDraws(t *testing.T) {
	var b pypeer.SyncBuffer
	p := NewProgress(&b)
	p.Start(10 * time.Second)
	p.Step("cell one")
	p.Set(5 * time.Second)
	p.Finish()
	out := b.String()
	require.Contains(t, out, "cell one")
	require.Contains(t, out, "100%")
	require.True(t, strings.HasSuffix(out, "\n"))
	var nilBar *Progress
	nilBar.Start(time.Second) // a nil bar draws nothing and does not panic
	nilBar.Set(time.Second)
	nilBar.Finish()
}
