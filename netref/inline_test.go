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
