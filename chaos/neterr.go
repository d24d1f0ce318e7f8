package chaos

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
)

// netError builds the error a network fault returns for call c: the same
// types and causes that the net package returns, so code that classifies
// errors (net.Error, *net.OpError, errors.Is with syscall.ECONNRESET,
// io.EOF, os.ErrDeadlineExceeded) sees what it sees in production.
func netError(k Kind, c Call) error {
	switch k {
	case KindConnReset:
		return &net.OpError{Op: "read", Net: "tcp", Addr: remoteAddr(c), Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	case KindConnRefused:
		return &net.OpError{Op: "dial", Net: "tcp", Addr: remoteAddr(c), Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	case KindDialTimeout:
		return &net.OpError{Op: "dial", Net: "tcp", Addr: remoteAddr(c), Err: timeoutError{}}
	case KindEOF:
		return io.EOF
	}
	panic("chaos: not a network fault: " + k.String())
}

// timeoutError is the cause of a dial timeout. It behaves as the net
// package's own (unexported) timeout error: "i/o timeout", a net.Error
// whose Timeout is true, matching context.DeadlineExceeded; it matches
// os.ErrDeadlineExceeded too, the other timeout value net returns.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
func (timeoutError) Is(err error) bool {
	return err == context.DeadlineExceeded || err == os.ErrDeadlineExceeded
}

// remoteAddr is the address a network error names: the request's host and
// port (the scheme's port when the URL has none), or the call's key. It is
// a *net.TCPAddr when the host is an IP address, as in production once a
// name is resolved, and nil when nothing is known.
func remoteAddr(c Call) net.Addr {
	hp := c.Key
	if r := c.Request; r != nil && r.URL != nil && r.URL.Host != "" {
		hp = r.URL.Host
		if _, _, err := net.SplitHostPort(hp); err != nil {
			port := "80"
			if r.URL.Scheme == "https" {
				port = "443"
			}
			hp = net.JoinHostPort(r.URL.Hostname(), port)
		}
	}
	if hp == "" {
		return nil
	}
	if ap, err := netip.ParseAddrPort(hp); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return hostAddr(hp)
}

// hostAddr is a TCP address known by name only.
type hostAddr string

func (hostAddr) Network() string  { return "tcp" }
func (a hostAddr) String() string { return string(a) }
