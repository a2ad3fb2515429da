package classic_test

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/services/classic"
)

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, data, 0o644))
}

// treeOf maps the slash paths of the files under root to their contents.
func treeOf(t *testing.T, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		require.NoError(t, err)
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if rel != "." {
				out[filepath.ToSlash(rel)+"/"] = nil
			}
			return nil
		}
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		out[filepath.ToSlash(rel)] = b
		return nil
	}))
	return out
}

func TestUploadDownloadFiles(t *testing.T) {
	cl := dial(t)
	ctx := testCtx(t)
	local := t.TempDir()
	remote := t.TempDir() // same machine: the server writes here
	big := make([]byte, 10<<20+123)
	_, err := rand.Read(big)
	require.NoError(t, err)

	cases := []struct {
		name string
		data []byte
	}{
		{"empty.bin", nil},
		{"small.txt", []byte("hello\nworld\r\n\x00\xff")},
		{"chunk.bin", bytes.Repeat([]byte{7}, classic.DefaultChunkSize)},
		{"big.bin", big},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := filepath.Join(local, tc.name)
			writeFile(t, src, tc.data)
			rpath := filepath.Join(remote, "up-"+tc.name)
			var calls int
			var last, total int64
			require.NoError(t, cl.Upload(ctx, src, rpath, classic.WithProgress(func(d, tot int64) {
				calls++
				require.GreaterOrEqual(t, d, last)
				last, total = d, tot
			})))
			got, err := os.ReadFile(rpath)
			require.NoError(t, err)
			require.True(t, bytes.Equal(tc.data, got), "uploaded content differs")
			require.EqualValues(t, len(tc.data), total)
			require.EqualValues(t, len(tc.data), last)
			require.GreaterOrEqual(t, calls, 1)

			back := filepath.Join(local, "down-"+tc.name)
			last = 0
			require.NoError(t, cl.Download(ctx, rpath, back, classic.WithProgress(func(d, tot int64) { last, total = d, tot })))
			got, err = os.ReadFile(back)
			require.NoError(t, err)
			require.True(t, bytes.Equal(tc.data, got), "downloaded content differs")
			require.EqualValues(t, len(tc.data), last)
			require.EqualValues(t, len(tc.data), total)
		})
	}
}

func TestUploadDownloadTreeWithFilter(t *testing.T) {
	cl := dial(t)
	ctx := testCtx(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a.txt"), []byte("a"))
	writeFile(t, filepath.Join(src, "skip.log"), []byte("log"))
	writeFile(t, filepath.Join(src, "sub", "b.bin"), []byte{0, 1, 2})
	writeFile(t, filepath.Join(src, "sub", "deeper", "c.txt"), nil)
	writeFile(t, filepath.Join(src, "sub", "deeper", "d.log"), []byte("x"))
	writeFile(t, filepath.Join(src, "cache", "junk.txt"), []byte("junk"))
	require.NoError(t, os.MkdirAll(filepath.Join(src, "emptydir"), 0o755))

	noLogsNoCache := classic.WithFilter(func(rel string, isDir bool) bool {
		return !strings.HasSuffix(rel, ".log") && rel != "cache"
	})
	want := map[string][]byte{
		"a.txt": []byte("a"), "sub/": nil, "sub/b.bin": {0, 1, 2},
		"sub/deeper/": nil, "sub/deeper/c.txt": {}, "emptydir/": nil,
	}

	remote := filepath.Join(t.TempDir(), "up", "tree")
	var seen []string
	require.NoError(t, cl.Upload(ctx, src, remote, noLogsNoCache, classic.WithChunkSize(2),
		classic.WithFilter(func(rel string, isDir bool) bool {
			seen = append(seen, rel)
			return !strings.HasSuffix(rel, ".log") && rel != "cache"
		})))
	require.Equal(t, want, treeOf(t, remote))
	sort.Strings(seen)
	require.NotContains(t, seen, "cache/junk.txt", "a rejected directory's content is not offered")

	// Download the full remote tree back (no filter), then a filtered one.
	back := filepath.Join(t.TempDir(), "back")
	require.NoError(t, cl.Download(ctx, remote, back))
	require.Equal(t, want, treeOf(t, back))

	back2 := filepath.Join(t.TempDir(), "back2")
	require.NoError(t, cl.Download(ctx, src, back2, noLogsNoCache))
	require.Equal(t, want, treeOf(t, back2))

	var pe *codec.PyError
	err := cl.Download(ctx, "/no/such/path/rpycgo", filepath.Join(t.TempDir(), "x"))
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "FileNotFoundError", pe.Class)

	err = cl.Upload(ctx, filepath.Join(src, "missing"), remote)
	require.ErrorIs(t, err, os.ErrNotExist)

	// The remote namespace is untouched by the transfer helpers.
	ns, err := cl.Namespace(ctx)
	require.NoError(t, err)
	has, err := ns.Contains(ctx, "walk")
	require.NoError(t, err)
	require.False(t, has)
}
