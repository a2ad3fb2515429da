package netref

import (
	"testing"

	"github.com/stretchr/testify/require"
)

type inlineType struct{}

func (inlineType) RPyCInline() []string { return []string{"Quick", "Missing"} }
func (inlineType) Quick() int           { return 1 }
func (inlineType) Slow() int            { return 2 }

func TestInlineNamer(t *testing.T) {
	o := Wrap(inlineType{})
	in, ok := o.(Inliner)
	require.True(t, ok)
	require.True(t, in.InlineMethod("quick"))
	require.False(t, in.InlineMethod("slow"), "not listed")
	require.False(t, in.InlineMethod("missing"), "listed but no such method")
	require.False(t, in.InlineMethod("r_py_c_inline"))
	require.NotContains(t, o.Inspect(), "r_py_c_inline")
	_, err := o.GetAttr(t.Context(), "r_py_c_inline")
	require.Error(t, err, "RPyCInline is plumbing, not exposed")

	require.True(t, SetInline(inlineType{}, "Slow", true))
	t.Cleanup(func() { SetInline(inlineType{}, "Slow", false) })
	require.True(t, in.InlineMethod("slow"))
	in.NotInline("slow")
	require.False(t, in.InlineMethod("slow"))
	require.False(t, SetInline(inlineType{}, "Nope", true))
	require.False(t, SetInline(nil, "Quick", true))
}

// Overruns are strikes: the InlineStrikes-th demotes the method, once;
// SetInline clears them.
func TestInlineOverrunStrikes(t *testing.T) {
	o := Wrap(inlineType{})
	oc, ok := o.(OverrunCounter)
	require.True(t, ok)
	in := o.(Inliner)
	t.Cleanup(func() { SetInline(inlineType{}, "Quick", true) })
	for range 2 {
		require.True(t, SetInline(inlineType{}, "Quick", true))
		for i := 1; i < InlineStrikes; i++ {
			require.False(t, oc.Overran("quick"), "overrun %d", i)
			require.True(t, in.InlineMethod("quick"))
		}
		require.True(t, oc.Overran("quick"), "the last strike demotes")
		require.False(t, in.InlineMethod("quick"))
		require.False(t, oc.Overran("quick"), "demoted once")
	}
	require.False(t, oc.Overran("missing"))

	// Strikes further apart than InlineStrikeWindow start over.
	require.True(t, SetInline(inlineType{}, "Quick", true))
	sig := o.(*object).ti.methods["quick"]
	for i := 1; i < InlineStrikes; i++ {
		require.False(t, oc.Overran("quick"))
	}
	sig.strikeMu.Lock()
	sig.struckAt = sig.struckAt.Add(-2 * InlineStrikeWindow)
	sig.strikeMu.Unlock()
	require.False(t, oc.Overran("quick"), "the window passed: a first strike again")
	require.True(t, in.InlineMethod("quick"))
}
