package dispatch

// CONTRACT STUB: the dispatch helper implements this file.

// AsyncResult is the pending outcome of one request: RPyC's AsyncResult.
type AsyncResult struct{}
