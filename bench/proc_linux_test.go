package bench

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseStat(t *testing.T) {
	// A command name with spaces and a parenthesis, as the kernel writes it.
	line := "4242 (we ird) name) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 130 0 0 20 0 3 0 12345 1000000 500 18446744073709551615\n"
	ppid, fields, err := parseStat([]byte(line))
	require.NoError(t, err)
	require.Equal(t, 17, ppid)
	require.Equal(t, "S", fields[0])
	require.Equal(t, "250", fields[11]) // utime
	require.Equal(t, "130", fields[12]) // stime

	_, _, err = parseStat([]byte("garbage"))
	require.Error(t, err)
	_, _, err = parseStat([]byte("1 (x) S 1 2"))
	require.Error(t, err)
}

func TestReadProcSelf(t *testing.T) {
	// Burn a little CPU so that utime moves.
	deadline := time.Now().Add(50 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	st, err := ReadProc(os.Getpid())
	require.NoError(t, err)
	require.Positive(t, st.RSSBytes)
	require.GreaterOrEqual(t, st.Threads, 1)
	require.Equal(t, 1, st.Procs)
	require.GreaterOrEqual(t, st.CPUSeconds, 0.0)

	_, err = ReadProc(1 << 30) // no such process
	require.Error(t, err)
}

func TestReadTreeCountsChildren(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "sleep 30 & sleep 30 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	// Kill the shell's process group: the shell and its two sleeps.
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
	require.Eventually(t, func() bool {
		st, err := ReadTree(cmd.Process.Pid)
		return err == nil && st.Procs == 3
	}, 5*time.Second, 20*time.Millisecond)
	st, err := ReadTree(cmd.Process.Pid)
	require.NoError(t, err)
	one, err := ReadProc(cmd.Process.Pid)
	require.NoError(t, err)
	require.Greater(t, st.RSSBytes, one.RSSBytes)
	require.GreaterOrEqual(t, st.Threads, 3)
}

func TestRaiseFileLimit(t *testing.T) {
	n, err := RaiseFileLimit()
	require.NoError(t, err)
	require.Positive(t, n)
}
