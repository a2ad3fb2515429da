package classic_test

import (
	"context"
	"fmt"
	"os"

	"github.com/rpycgo/rpycgo/services/classic"
)

// A classic session against `rpyc_classic` on its default port.
func Example() {
	ctx := context.Background()
	cl, err := classic.Connect(ctx, "localhost", 0) // port 18812
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()
	osm, _ := cl.Module(ctx, "os")
	cwd, _ := osm.CallMethod(ctx, "getcwd")
	v, _ := cl.Eval(ctx, "sum(range(10))")
	fmt.Println(cwd, v)
	_ = cl.WithRedirectedStdio(ctx, os.Stdout, func() error {
		return cl.Execute(ctx, "print('printed by the server, shown here')")
	})
	_ = cl.Upload(ctx, "build/report.pdf", "/tmp/report.pdf",
		classic.WithProgress(func(done, total int64) { fmt.Printf("\r%d/%d", done, total) }))
}
