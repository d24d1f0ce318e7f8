// Package hedge runs hedged calls: when an attempt has not answered within
// a delay, another one starts, and the first to succeed wins.
package hedge
