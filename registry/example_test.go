package registry_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/rpycgo/rpycgo/registry"
)

// A registry, a server registering itself and a client discovering it,
// all on the loopback.
func Example() {
	srv := registry.NewUDPServer(registry.WithHost("127.0.0.1"), registry.WithPort(0))
	if err := srv.Start(); err != nil {
		panic(err)
	}
	defer srv.Close()
	c := registry.NewUDPClient(registry.WithHost("127.0.0.1"),
		registry.WithPort(srv.Addr().(*net.UDPAddr).Port))
	reg := registry.NewRegistrar(c, []string{"MYSERVICE"}, 18861)
	if err := reg.Start(); err != nil {
		panic(err)
	}
	defer reg.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		eps, err := registry.DiscoverWith(ctx, c, "myservice")
		if err == nil || ctx.Err() != nil {
			fmt.Println(eps, err)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Output: [127.0.0.1:18861] <nil>
}
