package outbox

import "errors"

// ErrInvalidMessage is matched (errors.Is) by the error Add returns for a
// message it refuses: no topic, or a field longer than its limit.
var ErrInvalidMessage = errors.New("outbox: invalid message")

// ErrRunning is returned by Relay.Run when the relay is already running:
// run several relays, not one relay several times.
var ErrRunning = errors.New("outbox: relay already running")
