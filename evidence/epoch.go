package evidence

import "time"

// EpochsFile is the epoch history in a run directory: a JSON array of Epoch.
const EpochsFile = "epochs.json"

// Epoch is one entry of a changefeed's append-only epoch history: epoch
// Epoch of Changefeed was granted at GrantedAt (wall clock of the granting
// node) by Node. Revision is the meta store's revision of the grant, when
// known.
type Epoch struct {
	Changefeed string    `json:"changefeed"`
	Epoch      uint64    `json:"epoch"`
	GrantedAt  time.Time `json:"granted_at"`
	Node       string    `json:"node"`
	Revision   int64     `json:"revision,omitempty"`
}
