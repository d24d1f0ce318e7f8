// Package bulkhead caps the number of concurrent calls to a dependency, so
// that one slow dependency cannot take every goroutine, connection and byte
// of memory of the process with it.
package bulkhead
