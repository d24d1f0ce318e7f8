package resilienceotel

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"

	"github.com/resiliencekit/resilience"
	"github.com/resiliencekit/resilience/retry"
)

// errorTyper is the semantic conventions' way for an error to name its
// error.type (semconv.ErrorType reads it too).
type errorTyper interface {
	error
	ErrorType() string
}

type timeouter interface {
	error
	Timeout() bool
}

// classify returns the error.type of err, a value of a small set: never
// the error's text. See the package documentation for the order.
func (o *Observer) classify(err error) string {
	if o.errorType != nil {
		if s := o.errorType(err); s != "" {
			return s
		}
	}
	if et, ok := errors.AsType[errorTyper](err); ok {
		if s := et.ErrorType(); s != "" {
			return s
		}
	}
	if se, ok := errors.AsType[*resilience.StatusError](err); ok {
		return statusCode(se.Code)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	if t, ok := errors.AsType[timeouter](err); ok && t.Timeout() {
		return "timeout"
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	err = peel(err)
	return o.types.get(typeKey{reflect.TypeOf(err)}, typeName)
}

// typeKey is a key of the type names: a reflect.Type in a struct, so that
// the key is one type among the few the cache has.
type typeKey struct{ t reflect.Type }

// typeName is the name of an error's type as semconv.ErrorType makes it:
// the package path and the name of a named type ("syscall.Errno"), the
// type's string otherwise ("*net.OpError", "*breaker.OpenError").
func typeName(k typeKey) string {
	t := k.t
	if pkg, name := t.PkgPath(), t.Name(); pkg != "" && name != "" {
		return pkg + "." + name
	}
	return t.String()
}

var fmtWrapError = reflect.TypeOf(fmt.Errorf("%w", errors.New("")))

// peel unwraps the errors whose type says nothing of the failure: those
// fmt.Errorf made with one %w, and a retry's *retry.ExhaustedError, which
// says only that the retry gave up (the event says that) and wraps the
// failure of its last attempt.
func peel(err error) error {
	for {
		var u error
		switch e := err.(type) {
		case *retry.ExhaustedError:
			u = e.Err
		default:
			if reflect.TypeOf(err) == fmtWrapError {
				u = errors.Unwrap(err)
			}
		}
		if u == nil {
			return err
		}
		err = u
	}
}

// statusCodes are the HTTP status codes as strings, made once.
var statusCodes = func() (s [600]string) {
	for i := 100; i < len(s); i++ {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

func statusCode(code int) string {
	if code >= 100 && code < len(statusCodes) {
		return statusCodes[code]
	}
	return "http_status_other"
}
