// Package bench is rpycgo's benchmark harness: load generation, targets
// (rpycgo servers in every mode, Python rpyc servers, raw echo ceilings) and
// reports. It is built on top of every other package and nothing imports it.
package bench
