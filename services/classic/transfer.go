package classic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/netref"
)

// DefaultChunkSize is the size of one remote read or write during a
// transfer (one round trip each).
const DefaultChunkSize = 64 << 10

// TransferOption configures Upload and Download.
type TransferOption func(*transferConfig)

type transferConfig struct {
	chunk    int
	filter   func(rel string, isDir bool) bool
	progress func(done, total int64)
}

// WithChunkSize sets the bytes moved per round trip (DefaultChunkSize by
// default; values below 1 are ignored).
func WithChunkSize(n int) TransferOption {
	return func(c *transferConfig) {
		if n > 0 {
			c.chunk = n
		}
	}
}

// WithFilter selects what a directory transfer moves. keep is called for
// every entry below the source directory with its path relative to it
// (slash-separated, e.g. "sub/a.txt") and whether it is a directory;
// returning false skips the file, or the directory with everything in it.
// A single-file transfer does not consult it.
func WithFilter(keep func(rel string, isDir bool) bool) TransferOption {
	return func(c *transferConfig) { c.filter = keep }
}

// WithProgress reports progress after every chunk: done bytes of total,
// counted over all the files of the transfer. It runs on the caller's
// goroutine and must not block for long.
func WithProgress(fn func(done, total int64)) TransferOption {
	return func(c *transferConfig) { c.progress = fn }
}

func buildTransfer(opts []TransferOption) transferConfig {
	cfg := transferConfig{chunk: DefaultChunkSize}
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// entry is one file or directory of a transfer, relative to its root.
type entry struct {
	rel   string // slash-separated; "" for a single-file transfer
	isDir bool
	size  int64
}

// selectEntries applies the filter, pruning the subtrees of rejected
// directories. entries lists parents before their children.
func (cfg *transferConfig) selectEntries(entries []entry) (kept []entry, total int64) {
	var pruned []string
	for _, e := range entries {
		if e.rel == "" {
			kept = append(kept, e)
			total += e.size
			continue
		}
		skip := false
		for _, p := range pruned {
			if strings.HasPrefix(e.rel, p+"/") {
				skip = true
				break
			}
		}
		if skip {
			continue
		}
		if cfg.filter != nil && !cfg.filter(e.rel, e.isDir) {
			if e.isDir {
				pruned = append(pruned, e.rel)
			}
			continue
		}
		kept = append(kept, e)
		total += e.size
	}
	return kept, total
}

// progress counts the bytes moved by a transfer.
type progress struct {
	done, total int64
	fn          func(done, total int64)
}

func (p *progress) add(n int) {
	p.done += int64(n)
	if p.fn != nil {
		p.fn(p.done, p.total)
	}
}

// Upload copies the local file or directory tree local to the path remote
// on the server, creating remote directories (also the parent of a single
// remote file) as needed and replacing
// existing files. Files are written in chunks through the remote builtin
// open(remote, "wb"); content is preserved byte for byte. Symbolic links are
// followed for the root only; links inside a tree are skipped.
func (cl *Client) Upload(ctx context.Context, local, remote string, opts ...TransferOption) error {
	cfg := buildTransfer(opts)
	st, err := os.Stat(local)
	if err != nil {
		return fmt.Errorf("classic: upload: %w", err)
	}
	var entries []entry
	if !st.IsDir() {
		entries = []entry{{size: st.Size()}}
	} else {
		entries = []entry{{isDir: true}}
		err := filepath.WalkDir(local, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path == local {
				return nil
			}
			rel, err := filepath.Rel(local, path)
			if err != nil {
				return err
			}
			e := entry{rel: filepath.ToSlash(rel), isDir: d.IsDir()}
			if !e.isDir {
				if !d.Type().IsRegular() {
					return nil
				}
				info, err := d.Info()
				if err != nil {
					return err
				}
				e.size = info.Size()
			}
			entries = append(entries, e)
			return nil
		})
		if err != nil {
			return fmt.Errorf("classic: upload: %w", err)
		}
	}
	kept, total := cfg.selectEntries(entries)
	r, err := cl.remoteFS(ctx)
	if err != nil {
		return fmt.Errorf("classic: upload: %w", err)
	}
	pr := &progress{total: total, fn: cfg.progress}
	if pr.fn != nil {
		pr.fn(0, total)
	}
	buf := make([]byte, cfg.chunk)
	for _, e := range kept {
		lp := filepath.Join(local, filepath.FromSlash(e.rel))
		rp := r.join(remote, e.rel)
		if e.isDir {
			if err := r.makedirs(ctx, rp); err != nil {
				return fmt.Errorf("classic: upload: %w", err)
			}
			continue
		}
		if e.rel == "" { // a single file: make its remote directory
			dir, err := r.path.CallMethod(ctx, "dirname", rp)
			if err != nil {
				return fmt.Errorf("classic: upload: %w", err)
			}
			if d, _ := dir.(string); d != "" {
				if err := r.makedirs(ctx, d); err != nil {
					return fmt.Errorf("classic: upload: %w", err)
				}
			}
		}
		if err := cl.uploadFile(ctx, r, lp, rp, buf, pr); err != nil {
			return fmt.Errorf("classic: upload %s: %w", lp, err)
		}
	}
	return nil
}

func (cl *Client) uploadFile(ctx context.Context, r *remoteFS, local, remote string, buf []byte, pr *progress) (err error) {
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	rf, err := proxyOf(r.builtins.CallMethod(ctx, "open", remote, "wb"))
	if err != nil {
		return err
	}
	defer func() {
		_, cerr := rf.CallMethod(ctx, "close")
		rf.Close()
		if err == nil {
			err = cerr
		}
	}()
	for {
		n, rerr := io.ReadFull(f, buf)
		if n > 0 {
			if _, err := rf.CallMethod(ctx, "write", buf[:n]); err != nil {
				return err
			}
			pr.add(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// Download copies the remote file or directory tree remote from the server
// to the local path local, creating local directories as needed and
// replacing existing files. The remote tree is listed in one round trip;
// files are read in chunks through the remote builtin open(remote, "rb").
func (cl *Client) Download(ctx context.Context, remote, local string, opts ...TransferOption) error {
	cfg := buildTransfer(opts)
	r, err := cl.remoteFS(ctx)
	if err != nil {
		return fmt.Errorf("classic: download: %w", err)
	}
	v, err := r.walk.Call(ctx, remote)
	if err != nil {
		return fmt.Errorf("classic: download %s: %w", remote, err)
	}
	entries, err := parseListing(v)
	if err != nil {
		return fmt.Errorf("classic: download %s: %w", remote, err)
	}
	kept, total := cfg.selectEntries(entries)
	pr := &progress{total: total, fn: cfg.progress}
	if pr.fn != nil {
		pr.fn(0, total)
	}
	for _, e := range kept {
		lp := filepath.Join(local, filepath.FromSlash(e.rel))
		if e.isDir {
			if err := os.MkdirAll(lp, 0o755); err != nil {
				return fmt.Errorf("classic: download: %w", err)
			}
			continue
		}
		if err := cl.downloadFile(ctx, r, r.join(remote, e.rel), lp, cfg.chunk, pr); err != nil {
			return fmt.Errorf("classic: download %s: %w", r.join(remote, e.rel), err)
		}
	}
	return nil
}

func parseListing(v any) ([]entry, error) {
	t, ok := v.(codec.Tuple)
	if !ok {
		return nil, fmt.Errorf("remote listing is %T, not a tuple", v)
	}
	out := make([]entry, 0, len(t))
	for _, it := range t {
		e, ok := it.(codec.Tuple)
		if !ok || len(e) != 3 {
			return nil, fmt.Errorf("remote listing entry is %T", it)
		}
		rel, ok1 := e[0].(string)
		isDir, ok2 := e[1].(bool)
		size, ok3 := codec.ToInt64(e[2])
		if !ok1 || !ok2 || !ok3 {
			return nil, fmt.Errorf("remote listing entry %v is malformed", e)
		}
		out = append(out, entry{rel: rel, isDir: isDir, size: size})
	}
	return out, nil
}

func (cl *Client) downloadFile(ctx context.Context, r *remoteFS, remote, local string, chunk int, pr *progress) (err error) {
	rf, err := proxyOf(r.builtins.CallMethod(ctx, "open", remote, "rb"))
	if err != nil {
		return err
	}
	defer func() {
		_, _ = rf.CallMethod(ctx, "close")
		rf.Close()
	}()
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		return err
	}
	f, err := os.Create(local)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	for {
		v, err := rf.CallMethod(ctx, "read", chunk)
		if err != nil {
			return err
		}
		b, ok := v.([]byte)
		if !ok {
			return fmt.Errorf("remote read returned %T, not bytes", v)
		}
		if len(b) == 0 {
			return nil
		}
		if _, err := f.Write(b); err != nil {
			return err
		}
		pr.add(len(b))
	}
}

// remoteFS holds the remote helpers of the transfers, fetched once per
// Client.
type remoteFS struct {
	builtins *netref.Proxy
	os       *netref.Proxy
	path     *netref.Proxy // os.path
	sep      string
	walk     *netref.Proxy // walk(root) -> ((rel, is_dir, size), ...)
}

// makedirs is os.makedirs(dir, exist_ok=True) on the server.
func (r *remoteFS) makedirs(ctx context.Context, dir string) error {
	if _, err := r.os.CallMethodKw(ctx, "makedirs", []any{dir}, []netref.Kwarg{{Name: "exist_ok", Value: true}}); err != nil {
		return fmt.Errorf("makedirs %s: %w", dir, err)
	}
	return nil
}

// join joins a slash-separated relative path to a remote path with the
// server's separator.
func (r *remoteFS) join(root, rel string) string {
	if rel == "" {
		return root
	}
	return strings.TrimRight(root, r.sep) + r.sep + strings.ReplaceAll(rel, "/", r.sep)
}

// walkSource defines the remote listing function in a private globals dict
// (the remote namespace is left untouched). It lists a tree in one reply:
// parents before children, sorted, regular files only; a root that is a
// file gives a single entry with an empty relative path.
const walkSource = `import os
def walk(root):
    if not os.path.isdir(root):
        return (("", False, os.path.getsize(root)),)
    out = [("", True, 0)]
    for d, dirs, files in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(d, root)
        rel = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        for n in dirs:
            out.append((rel + n, True, 0))
        for n in sorted(files):
            p = os.path.join(d, n)
            if os.path.isfile(p) and not os.path.islink(p):
                out.append((rel + n, False, os.path.getsize(p)))
    return tuple(out)
`

var errNoWalk = errors.New("remote helper did not define walk")

func (cl *Client) remoteFS(ctx context.Context) (*remoteFS, error) {
	cl.mu.Lock()
	r := cl.fs
	cl.mu.Unlock()
	if r != nil {
		return r, nil
	}
	b, err := cl.Builtins(ctx)
	if err != nil {
		return nil, err
	}
	osm, err := cl.Module(ctx, "os")
	if err != nil {
		return nil, err
	}
	pathm, err := cl.Module(ctx, "os.path")
	if err != nil {
		return nil, err
	}
	sepv, err := osm.GetAttr(ctx, "sep")
	if err != nil {
		return nil, err
	}
	sep, _ := sepv.(string)
	if sep == "" {
		sep = "/"
	}
	g, err := proxyOf(b.CallMethod(ctx, "dict"))
	if err != nil {
		return nil, err
	}
	defer g.Close()
	if _, err := b.CallMethod(ctx, "exec", walkSource, g); err != nil {
		return nil, err
	}
	walk, err := proxyOf(g.GetItem(ctx, "walk"))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoWalk, err)
	}
	r = &remoteFS{builtins: b, os: osm, path: pathm, sep: sep, walk: walk}
	cl.mu.Lock()
	if cl.fs == nil {
		cl.fs = r
	}
	r = cl.fs
	cl.mu.Unlock()
	return r, nil
}
