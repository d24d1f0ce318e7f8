package errs_test

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/resiliencekit/resilience/internal/errs"
)

type coded interface{ Code() int }

type codeErr int

func (c codeErr) Error() string { return fmt.Sprint("code ", int(c)) }
func (c codeErr) Code() int     { return int(c) }

// asAny matches any target of type *codeErr by its As method only.
type asAny struct{}

func (asAny) Error() string { return "as" }
func (asAny) As(target any) bool {
	if p, ok := target.(*coded); ok {
		*p = codeErr(7)
		return true
	}
	return false
}

// The walk must agree with errors.As on every shape of tree.
func TestAsAgreesWithErrorsAs(t *testing.T) {
	t.Parallel()
	trees := []error{
		nil,
		errors.New("plain"),
		codeErr(1),
		fmt.Errorf("a: %w", codeErr(2)),
		fmt.Errorf("a: %w", fmt.Errorf("b: %w", codeErr(3))),
		errors.Join(errors.New("x"), codeErr(4), codeErr(5)),
		fmt.Errorf("%w and %w", errors.New("x"), fmt.Errorf("y: %w", codeErr(6))),
		fmt.Errorf("a: %w", asAny{}),
		errors.Join(asAny{}, codeErr(8)),
		errors.Join(codeErr(9), asAny{}),
		&fs.PathError{Op: "open", Path: "/x", Err: codeErr(10)},
	}
	for i, tree := range trees {
		got, ok := errs.As[coded](tree)
		var want coded
		wantOK := errors.As(tree, &want)
		assert.Equal(t, wantOK, ok, "tree %d", i)
		assert.Equal(t, want, got, "tree %d", i)

		gotC, okC := errs.As[codeErr](tree)
		var wantC codeErr
		assert.Equal(t, errors.As(tree, &wantC), okC, "tree %d concrete", i)
		assert.Equal(t, wantC, gotC, "tree %d concrete", i)
	}
}

func TestAsAllocatesNothing(t *testing.T) {
	err := fmt.Errorf("a: %w", fmt.Errorf("b: %w", codeErr(3)))
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := errs.As[coded](err); !ok {
			t.Fatal("not found")
		}
	})
	assert.Zero(t, allocs)
}
