// Package classic is the Go client of RPyC's classic mode: it drives a
// Python rpyc_classic server (SlaveService) the way rpyc.classic.connect
// does — remote modules by dotted name, builtins, eval, execute, the remote
// namespace — and adds file and directory transfer (Upload, Download) and
// remote stdio redirection (RedirectStdio, WithRedirectedStdio).
//
// The wire traffic is the minimal one of PROTOCOL.md §12.4: GETROOT once,
// then CALLATTR(root, "getmodule"|"eval"|"execute", ...) and
// GETATTR(root, "namespace"); none of the automatic requests a Python
// ClassicService client sends on connect.
//
// classic sits above conn and netref; servers and registry must not import
// it.
package classic
