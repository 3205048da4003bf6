package chaos

import "time"

// latencyToxic returns the toxiproxy API body of a stock `latency` toxic
// on stream that delays every chunk by d (toxiproxy counts in whole
// milliseconds; jitter 0). A chunk is what one read on the proxy's source
// returned, so a delay applies per write burst rather than per packet, and
// stays in order: the toxic forwards chunks one at a time. Removing it
// forwards a chunk it is still sleeping on at once, so a heal loses
// nothing.
func latencyToxic(name, stream string, d time.Duration) map[string]any {
	return map[string]any{"name": name, "type": "latency", "stream": stream, "toxicity": 1.0,
		"attributes": map[string]any{"latency": d.Milliseconds(), "jitter": 0}}
}
