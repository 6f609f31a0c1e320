// Package e2e holds end-to-end tests across components: real queues, the
// real worker, real sinks, and the chorus binary killed and restarted. It
// has no code of its own; each test starts the servers it needs and skips
// (or fails under CI=true) when one is missing.
package e2e
