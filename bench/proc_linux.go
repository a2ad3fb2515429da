package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat. It is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// ProcStat is what /proc says about one process (or a process tree, summed).
type ProcStat struct {
	// CPUSeconds is user plus system time.
	CPUSeconds float64 `json:"cpu_s"`
	// RSSBytes is the resident set (VmRSS).
	RSSBytes int64 `json:"rss_bytes"`
	// PSSBytes is the proportional set (Pss of /proc/PID/smaps_rollup):
	// pages shared between processes counted once in all, so the PSS of a
	// forking server's tree adds up where its RSS would count the shared
	// pages once per child. Zero where the kernel does not provide it.
	PSSBytes int64 `json:"pss_bytes"`
	// Threads is the kernel thread count.
	Threads int `json:"threads"`
	// Procs is the number of processes summed (1 for a single process).
	Procs int `json:"procs"`
}

// ReadCPU returns the user+system CPU seconds of pid from /proc/PID/stat.
func ReadCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	_, fields, err := parseStat(b)
	if err != nil {
		return 0, fmt.Errorf("bench: /proc/%d/stat: %w", pid, err)
	}
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	ut, err1 := strconv.ParseUint(fields[11], 10, 64)
	st, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bench: /proc/%d/stat: bad utime/stime", pid)
	}
	return float64(ut+st) / clockTicks, nil
}

// parseStat splits /proc/PID/stat after the command name (which may hold
// spaces and parentheses) and returns the parent pid with the fields from
// the state on.
func parseStat(b []byte) (ppid int, fields []string, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, nil, fmt.Errorf("no command name")
	}
	fields = strings.Fields(string(b[i+1:]))
	if len(fields) < 13 {
		return 0, nil, fmt.Errorf("%d fields", len(fields))
	}
	ppid, err = strconv.Atoi(fields[1])
	return ppid, fields, err
}

// ReadStatus returns VmRSS (bytes) and Threads from /proc/PID/status.
func ReadStatus(pid int) (rss int64, threads int, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			f := strings.Fields(line[len("VmRSS:"):])
			if len(f) >= 1 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				rss = kb * 1024
			}
		case strings.HasPrefix(line, "Threads:"):
			threads, _ = strconv.Atoi(strings.TrimSpace(line[len("Threads:"):]))
		}
	}
	return rss, threads, sc.Err()
}

// ReadProc returns the figures of pid alone.
func ReadProc(pid int) (ProcStat, error) {
	cpu, err := ReadCPU(pid)
	if err != nil {
		return ProcStat{}, err
	}
	rss, th, err := ReadStatus(pid)
	if err != nil {
		return ProcStat{}, err
	}
	pss, _ := ReadPSS(pid)
	return ProcStat{CPUSeconds: cpu, RSSBytes: rss, PSSBytes: pss, Threads: th, Procs: 1}, nil
}

// ReadPSS returns the Pss of /proc/PID/smaps_rollup in bytes.
func ReadPSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Pss:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024, err
			}
		}
	}
	return 0, fmt.Errorf("bench: /proc/%d/smaps_rollup: no Pss", pid)
}

// ReadTree returns the figures of pid and all its descendants, summed (a
// forking server's children do the work). Processes that vanish while
// being read are skipped.
func ReadTree(pid int) (ProcStat, error) {
	total, err := ReadProc(pid)
	if err != nil {
		return total, err
	}
	children := map[int][]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		ppid, _, err := parseStat(b)
		if err != nil {
			continue
		}
		id, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil {
			continue
		}
		children[ppid] = append(children[ppid], id)
	}
	queue := append([]int(nil), children[pid]...)
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		st, err := ReadProc(c)
		if err != nil {
			continue
		}
		total.CPUSeconds += st.CPUSeconds
		total.RSSBytes += st.RSSBytes
		total.PSSBytes += st.PSSBytes
		total.Threads += st.Threads
		total.Procs++
		queue = append(queue, children[c]...)
	}
	return total, nil
}

// RaiseFileLimit raises this process's soft open-file limit to its hard
// limit and returns the new soft limit.
func RaiseFileLimit() (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
			return 0, err
		}
	}
	return r.Cur, nil
}
