// Package observe holds what the policies share about their
// resilience.Observer: the check of Config.Observer at construction.
package observe

import (
	"fmt"
	"reflect"

	"github.com/resiliencekit/resilience"
)

// Check panics, with a message prefixed pkg, when o is a typed nil (a nil
// pointer, func, map, ... in the interface), which would fail at the first
// event rather than at construction. A nil o is no observer, and fine.
func Check(pkg string, o resilience.Observer) {
	if o == nil {
		return
	}
	switch rv := reflect.ValueOf(o); rv.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Map, reflect.Slice, reflect.Chan, reflect.Interface, reflect.UnsafePointer:
		if rv.IsNil() {
			panic(fmt.Sprintf("%s: Observer is a nil %T", pkg, o))
		}
	}
}
