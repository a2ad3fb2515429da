package servers

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/services"
)

// lookupService finds the services the tests serve in worker processes.
func lookupService(name string) (conn.Service, error) {
	if strings.EqualFold(name, "CONFORMANCE") {
		return services.Conformance(), nil
	}
	return nil, fmt.Errorf("unknown service %q", name)
}

// TestMain lets the test binary be a process pool's worker.
func TestMain(m *testing.M) {
	RunWorkerIfChild(lookupService)
	holdConnsIfChild()
	os.Exit(m.Run())
}
