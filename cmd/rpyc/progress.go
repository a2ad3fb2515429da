package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progressBar draws a one-line transfer progress bar on w, redrawn in
// place with \r at most ten times a second (and always at 100%). It is a
// small hand-written bar: no dependency for a terminal nicety.
type progressBar struct {
	mu    sync.Mutex
	w     io.Writer
	label string
	start time.Time
	last  time.Time
	done  bool
}

func newProgressBar(w io.Writer, label string) *progressBar {
	return &progressBar{w: w, label: label, start: time.Now()}
}

const barWidth = 30

// Update is a classic.WithProgress callback.
func (b *progressBar) Update(done, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	complete := done >= total
	if b.done || (!complete && now.Sub(b.last) < 100*time.Millisecond) {
		return
	}
	b.last = now
	frac := 1.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	filled := int(frac * barWidth)
	rate := float64(done) / max(now.Sub(b.start).Seconds(), 1e-3)
	fmt.Fprintf(b.w, "\r%s [%s%s] %3.0f%% %s/%s %s/s", b.label,
		strings.Repeat("=", filled), strings.Repeat(" ", barWidth-filled),
		frac*100, humanBytes(done), humanBytes(total), humanBytes(int64(rate)))
	if complete {
		fmt.Fprintln(b.w)
		b.done = true
	}
}

// Finish ends the bar's line if it was not completed.
func (b *progressBar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done && !b.last.IsZero() {
		fmt.Fprintln(b.w)
	}
	b.done = true
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
