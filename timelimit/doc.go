// Package timelimit bounds how long a call may take. Placed outside a retry
// policy it is the budget of the whole call; placed inside, the budget of
// each attempt.
package timelimit
