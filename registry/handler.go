package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/rpycgo/rpycgo/codec"
)

// errIgnored marks a request that gets no reply (rpyc's "continue").
var errIgnored = errors.New("request ignored")

// handler is the protocol of both servers: it turns one request and the
// sender's IP into one reply, or none.
type handler struct {
	cfg config
	mu  sync.Mutex // one command at a time, as rpyc's single serving thread
	// hookMu is taken before mu is released, so that hooks see the events
	// in the order the commands ran, without holding mu while they run.
	hookMu sync.Mutex
}

// event is a join or leave, reported to the hooks after the command ran.
type event struct {
	join   bool
	name   string
	ep     Endpoint
	reason LeaveReason
}

// cmdFunc runs one command for the sender host with the request's args.
type cmdFunc func(h *handler, ctx context.Context, host string, args codec.Tuple) (reply any, evs []event, err error)

// commands is the command table, keyed by the lower-cased command (rpyc
// looks up cmd_<cmd.lower()>).
var commands = map[string]cmdFunc{
	"register":   (*handler).cmdRegister,
	"unregister": (*handler).cmdUnregister,
	"query":      (*handler).cmdQuery,
	"list":       (*handler).cmdList,
}

func newHandler(cfg config) *handler {
	if cfg.backend == nil {
		cfg.backend = NewMemoryBackend()
	}
	return &handler{cfg: cfg}
}

// handle decodes and runs one request from host. It returns the encoded
// reply, or ok false when the request gets no reply; it logs why.
func (h *handler) handle(ctx context.Context, data []byte, host string) (reply []byte, ok bool) {
	log := h.cfg.log
	v, err := decodeValue(data)
	if err != nil {
		log.Warn().Str("from", host).Int("len", len(data)).Err(err).Msg("ignored an undecodable request")
		return nil, false
	}
	req, isTuple := v.(codec.Tuple)
	if !isTuple || len(req) != 3 {
		log.Warn().Str("from", host).Msgf("ignored a request that is not a 3-tuple: %s", short(pyRepr(v)))
		return nil, false
	}
	if magic, isStr := req[0].(string); !isStr || magic != Magic {
		log.Warn().Str("from", host).Msgf("invalid magic: %s", short(pyRepr(req[0])))
		return nil, false
	}
	cmd, isStr := req[1].(string)
	fn := commands[strings.ToLower(cmd)]
	if !isStr || fn == nil {
		log.Warn().Str("from", host).Msgf("unknown command: %s", short(pyRepr(req[1])))
		return nil, false
	}
	args, isTuple := req[2].(codec.Tuple)
	if !isTuple {
		log.Warn().Str("from", host).Msgf("error executing %s: args %s are not a tuple", cmd, short(pyRepr(req[2])))
		return nil, false
	}

	h.mu.Lock()
	r, evs, err := fn(h, ctx, host, args)
	h.hookMu.Lock()
	h.mu.Unlock()
	for _, e := range evs {
		if e.join && h.cfg.onJoin != nil {
			h.cfg.onJoin(e.name, e.ep)
		} else if !e.join && h.cfg.onLeave != nil {
			h.cfg.onLeave(e.name, e.ep, e.reason)
		}
	}
	h.hookMu.Unlock()
	if err != nil {
		log.Warn().Str("from", host).Err(err).Msgf("error executing %s", strings.ToLower(cmd))
		return nil, false
	}
	out, err := codec.Append(nil, r)
	if err != nil {
		log.Error().Err(err).Msg("cannot encode the reply")
		return nil, false
	}
	return out, true
}

// short cuts a log excerpt of untrusted input to 200 bytes.
func short(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

func arity(args codec.Tuple, n int) error {
	if len(args) != n {
		return fmt.Errorf("%w: takes %d arguments, got %d", errIgnored, n, len(args))
	}
	return nil
}

// cmdRegister: REGISTER (aliases, port) → "OK".
func (h *handler) cmdRegister(ctx context.Context, host string, args codec.Tuple) (any, []event, error) {
	if err := arity(args, 2); err != nil {
		return nil, nil, err
	}
	var names []string
	switch a := args[0].(type) {
	case codec.Tuple:
		names = make([]string, 0, len(a))
		for _, n := range a {
			s, ok := n.(string)
			if !ok {
				return nil, nil, fmt.Errorf("%w: alias %s is not a str", errIgnored, pyRepr(n))
			}
			names = append(names, s)
		}
	case codec.FrozenSet:
		for _, n := range a {
			s, ok := n.(string)
			if !ok {
				return nil, nil, fmt.Errorf("%w: alias %s is not a str", errIgnored, pyRepr(n))
			}
			names = append(names, s)
		}
	case string: // Python iterates the characters of a str
		for _, r := range a {
			names = append(names, string(r))
		}
	default:
		return nil, nil, fmt.Errorf("%w: aliases %s are not a tuple of str", errIgnored, pyRepr(args[0]))
	}
	port, ok := codec.ToInt64(args[1])
	if !ok {
		return nil, nil, fmt.Errorf("%w: port %s is not an int", errIgnored, pyRepr(args[1]))
	}
	ep := Endpoint{Host: host, Port: int(port)}
	h.cfg.log.Debug().Msgf("registering %s:%d as %s", host, port, strings.Join(names, ", "))
	upper := make([]string, len(names))
	for i, n := range names {
		upper[i] = strings.ToUpper(n)
	}
	joined, err := h.cfg.backend.Register(ctx, upper, ep, h.cfg.now())
	var evs []event
	for _, n := range joined {
		evs = append(evs, event{join: true, name: n, ep: ep})
	}
	if err != nil {
		return nil, evs, err
	}
	return "OK", evs, nil
}

// cmdUnregister: UNREGISTER (port,) → "OK"; removes (sender, port) from
// every name.
func (h *handler) cmdUnregister(ctx context.Context, host string, args codec.Tuple) (any, []event, error) {
	if err := arity(args, 1); err != nil {
		return nil, nil, err
	}
	h.cfg.log.Debug().Msgf("unregistering %s:%s", host, pyReprBare(args[0]))
	port, ok := codec.ToInt64(args[0])
	if !ok {
		return "OK", nil, nil // nothing can be registered under it
	}
	ep := Endpoint{Host: host, Port: int(port)}
	left, err := h.cfg.backend.Unregister(ctx, ep)
	var evs []event
	for _, n := range left {
		evs = append(evs, event{name: n, ep: ep, reason: Unregistered})
	}
	if err != nil {
		return nil, evs, err
	}
	return "OK", evs, nil
}

// cmdQuery: QUERY (name,) → ((ip, port), ...), oldest first, after pruning
// the stale entries of that name.
func (h *handler) cmdQuery(ctx context.Context, _ string, args codec.Tuple) (any, []event, error) {
	if err := arity(args, 1); err != nil {
		return nil, nil, err
	}
	var name string
	switch n := args[0].(type) {
	case string:
		name = strings.ToUpper(n)
	case []byte: // bytes.upper() is never a registered (str) name
		h.cfg.log.Debug().Msgf("querying for %s", pyRepr(n))
		return codec.Tuple{}, nil, nil
	default:
		return nil, nil, fmt.Errorf("%w: name %s is not a str", errIgnored, pyRepr(args[0]))
	}
	log := h.cfg.log
	log.Debug().Msgf("querying for %s", pyRepr(name))
	pruned, err := h.cfg.backend.Prune(ctx, name, h.cfg.now().Add(-h.cfg.pruning))
	var evs []event
	for _, ep := range pruned {
		log.Debug().Msgf("discarding stale %s:%d", ep.Host, ep.Port)
		evs = append(evs, event{name: name, ep: ep, reason: Pruned})
	}
	if err != nil {
		return nil, evs, err
	}
	eps, err := h.cfg.backend.Query(ctx, name)
	if err != nil {
		return nil, evs, err
	}
	if len(eps) == 0 && len(pruned) == 0 {
		log.Debug().Msg("no such service")
		return codec.Tuple{}, evs, nil
	}
	reply := make(codec.Tuple, len(eps))
	parts := make([]string, len(eps))
	for i, ep := range eps {
		reply[i] = codec.Tuple{ep.Host, ep.Port}
		parts[i] = pyRepr(codec.Tuple{ep.Host, ep.Port})
	}
	log.Debug().Msgf("replying with [%s]", strings.Join(parts, ", "))
	return reply, evs, nil
}

// cmdList: LIST ((filter,),) → None when listing is off, else the names
// (all, or those with an endpoint whose IP is filter).
func (h *handler) cmdList(ctx context.Context, _ string, args codec.Tuple) (any, []event, error) {
	if err := arity(args, 1); err != nil {
		return nil, nil, err
	}
	log := h.cfg.log
	log.Debug().Msg("querying for services list:")
	if !h.cfg.listing {
		log.Debug().Msg("listing is disabled")
		return nil, nil, nil
	}
	var filter any
	switch f := args[0].(type) { // Python indexes it: filter_host[0]
	case codec.Tuple:
		if len(f) == 0 {
			return nil, nil, fmt.Errorf("%w: empty LIST filter", errIgnored)
		}
		filter = f[0]
	case string:
		if f == "" {
			return nil, nil, fmt.Errorf("%w: empty LIST filter", errIgnored)
		}
		filter = string([]rune(f)[0])
	default:
		return nil, nil, fmt.Errorf("%w: LIST filter %s is not subscriptable", errIgnored, pyRepr(args[0]))
	}
	var host string
	if truthy(filter) {
		s, ok := filter.(string)
		if !ok { // no IP equals a non-str
			log.Debug().Msg("replying with ()")
			return codec.Tuple{}, nil, nil
		}
		host = s
	}
	names, err := h.cfg.backend.List(ctx, host)
	if err != nil {
		return nil, nil, err
	}
	reply := make(codec.Tuple, len(names))
	for i, n := range names {
		reply[i] = n
	}
	log.Debug().Msgf("replying with %s", pyRepr(reply))
	return reply, nil, nil
}

// truthy is Python's bool() for the brine values a filter can be.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case []byte:
		return len(x) > 0
	case codec.Tuple:
		return len(x) > 0
	case codec.FrozenSet:
		return len(x) > 0
	case float64:
		return x != 0
	}
	if n, ok := codec.ToInt64(v); ok {
		return n != 0
	}
	return true
}

// pyReprBare is pyRepr without quotes around a str (Python's str()).
func pyReprBare(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return pyRepr(v)
}
