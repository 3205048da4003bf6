package tail

import "github.com/IBM/sarama"

// AbortSession ends the current session with err, as a failing partition
// consumer would; the Tailer reconnects and resumes. It reports whether a
// session was running.
func (t *Tailer) AbortSession(err error) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.abort == nil {
		return false
	}
	t.abort(err)
	return true
}

// SaramaConfig is the consumer configuration the Tailer uses, for the raw
// sarama baseline of the consume benchmark.
func SaramaConfig(clientID string, readCommitted bool) *sarama.Config {
	return saramaConfig(clientID, readCommitted)
}
