package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Progress draws a one-line progress bar of a whole run on a terminal
// (stderr), redrawn in place at most five times a second. Progress is
// measured in estimated run time. A nil *Progress draws nothing.
type Progress struct {
	mu    sync.Mutex
	w     io.Writer
	total time.Duration
	done  time.Duration
	label string
	start time.Time
	last  time.Time
	width int  // of the last line drawn, to blank it
	lines bool // one line per step, no redrawing
}

// NewProgress returns a bar drawing on w. When w is not a terminal (a log
// file, CI), the bar is printed as one line per step instead of redrawn.
func NewProgress(w io.Writer) *Progress { return &Progress{w: w, lines: !isTerminal(w)} }

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

const progressWidth = 28

// Start begins a run estimated to take total.
func (p *Progress) Start(total time.Duration) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total, p.start = max(total, time.Second), time.Now()
	p.drawLocked(true)
}

// Step names what runs now.
func (p *Progress) Step(label string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.label = label
	p.drawLocked(true)
}

// Set moves the bar to done (of the estimated total).
func (p *Progress) Set(done time.Duration) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if done > p.done {
		p.done = done
	}
	p.drawLocked(false)
}

// Finish completes the bar and ends its line.
func (p *Progress) Finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done, p.label = p.total, "done"
	p.drawLocked(true)
	if !p.lines {
		fmt.Fprintln(p.w)
	}
}

// Abort ends the bar's line where it stands, labelled why.
func (p *Progress) Abort(why string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.label = why
	p.drawLocked(true)
	if !p.lines {
		fmt.Fprintln(p.w)
	}
}

func (p *Progress) drawLocked(force bool) {
	if p.lines && !force {
		return
	}
	now := time.Now()
	if !force && now.Sub(p.last) < 200*time.Millisecond {
		return
	}
	p.last = now
	frac := min(float64(p.done)/float64(p.total), 1)
	filled := int(frac * progressWidth)
	elapsed := now.Sub(p.start).Round(time.Second)
	line := fmt.Sprintf("\r[%s%s] %3.0f%% %v/~%v %s", strings.Repeat("=", filled),
		strings.Repeat(" ", progressWidth-filled), frac*100, elapsed, p.total.Round(time.Second), p.label)
	if p.lines {
		fmt.Fprintln(p.w, line[1:])
		return
	}
	pad := ""
	if n := len(line); n < p.width {
		pad = strings.Repeat(" ", p.width-n)
	}
	p.width = len(line)
	fmt.Fprint(p.w, line+pad)
}
