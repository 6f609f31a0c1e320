package bqsink

// SetMaxRequestBytes lets tests split batches into several appends without
// writing megabytes.
func SetMaxRequestBytes(s *Sink, n int) { s.maxRequest = n }
