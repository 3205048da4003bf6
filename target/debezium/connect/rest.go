package connect

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/chaosrun/chaosrun/internal/wait"
)

// REST errors.
var (
	// ErrNotFound reports a connector the cluster does not know.
	ErrNotFound = errors.New("connect: connector not found")
	// ErrExists reports a connector created twice.
	ErrExists = errors.New("connect: connector exists")
	// ErrUnreachable reports that no worker answered.
	ErrUnreachable = errors.New("connect: no worker answered")
	// ErrNoLeader reports that no worker's log names a leader yet.
	ErrNoLeader = errors.New("connect: no leader in the workers' logs")
)

// State is the state of a connector or of one of its tasks, as a worker's
// status view has it.
type State struct {
	State    string `json:"state"` // UNASSIGNED, RUNNING, PAUSED, FAILED, RESTARTING, STOPPED
	WorkerID string `json:"worker_id"`
	Trace    string `json:"trace,omitempty"`
}

// TaskState is a task's State and id.
type TaskState struct {
	ID int `json:"id"`
	State
}

// Status is GET /connectors/<name>/status.
//
// NB: RUNNING is written once the task has started, before Debezium holds
// the replication slot, and an old owner's entry stays RUNNING until the
// new owner writes its own; arriving events prove streaming, status does
// not.
type Status struct {
	Name      string      `json:"name"`
	Connector State       `json:"connector"`
	Tasks     []TaskState `json:"tasks"`
}

// do sends a request to the first worker that answers, in order, and
// returns the status and body. A connection error moves on to the next
// worker; an HTTP answer of any status is returned.
func (c *Cluster) do(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return 0, nil, fmt.Errorf("connect: %s %s: %w", method, path, err)
		}
	}
	var errs []error
	for _, w := range c.workers {
		req, err := http.NewRequestWithContext(ctx, method, "http://"+w.addr()+path, bytes.NewReader(payload))
		if err != nil {
			return 0, nil, fmt.Errorf("connect: %s %s: %w", method, path, err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		resp, err := c.http.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return 0, nil, fmt.Errorf("connect: %s %s: %w", method, path, ctx.Err())
			}
			errs = append(errs, fmt.Errorf("%s: %w", w.name, err))
			continue
		}
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: read body: %w", w.name, err))
			continue
		}
		return resp.StatusCode, b, nil
	}
	return 0, nil, fmt.Errorf("connect: %s %s: %w: %w", method, path, ErrUnreachable, errors.Join(errs...))
}

// CreateConnector registers connector name with config (POST /connectors).
// A 409 during a rebalance is retried (polling until ctx ends); a 409 for
// an existing name gives ErrExists. On another failure the error carries
// the messages of PUT /connector-plugins/<class>/config/validate, which
// names the bad settings where the create call may answer only 500 (G3).
func (c *Cluster) CreateConnector(ctx context.Context, name string, config map[string]string) error {
	body := map[string]any{"name": name, "config": config}
	for {
		code, b, err := c.do(ctx, http.MethodPost, "/connectors", body)
		if err != nil {
			return err
		}
		switch {
		case code == http.StatusCreated || code == http.StatusOK:
			c.log.Info("connector created", "connector", name)
			return nil
		case code == http.StatusConflict && strings.Contains(string(b), "already exists"):
			return fmt.Errorf("create %s: %w", name, ErrExists)
		case code == http.StatusConflict: // rebalance in progress: try again
			if err := wait.Sleep(ctx, pollInterval*5); err != nil {
				return fmt.Errorf("connect: create %s: %w (last: 409 %s)", name, err, b)
			}
			continue
		}
		verr := c.validate(ctx, config)
		return fmt.Errorf("connect: create %s: HTTP %d %s: %w", name, code, bytes.TrimSpace(b), verr)
	}
}

// validate returns the configuration errors the plugin reports for config,
// or an error saying there were none.
func (c *Cluster) validate(ctx context.Context, config map[string]string) error {
	class := config["connector.class"]
	code, b, err := c.do(ctx, http.MethodPut, "/connector-plugins/"+url.PathEscape(class)+"/config/validate", config)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("validate: HTTP %d %s", code, bytes.TrimSpace(b))
	}
	var v struct {
		ErrorCount int `json:"error_count"`
		Configs    []struct {
			Value struct {
				Name   string   `json:"name"`
				Errors []string `json:"errors"`
			} `json:"value"`
		} `json:"configs"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("validate: %w", err)
	}
	if v.ErrorCount == 0 {
		return errors.New("validate: no configuration errors")
	}
	var msgs []string
	for _, cfg := range v.Configs {
		for _, e := range cfg.Value.Errors {
			msgs = append(msgs, cfg.Value.Name+": "+e)
		}
	}
	return fmt.Errorf("validate: %d errors: %s", v.ErrorCount, strings.Join(msgs, "; "))
}

// Status returns connector name's status as the first answering worker
// sees it.
func (c *Cluster) Status(ctx context.Context, name string) (Status, error) {
	var s Status
	code, b, err := c.do(ctx, http.MethodGet, "/connectors/"+url.PathEscape(name)+"/status", nil)
	if err != nil {
		return s, err
	}
	switch code {
	case http.StatusOK:
	case http.StatusNotFound:
		return s, fmt.Errorf("status of %s: %w", name, ErrNotFound)
	default:
		return s, fmt.Errorf("connect: status of %s: HTTP %d %s", name, code, bytes.TrimSpace(b))
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("connect: status of %s: %w", name, err)
	}
	return s, nil
}

// TaskWorker returns the name of the worker that runs task 0 of connector
// name, by its status (see Status for what that proves).
func (c *Cluster) TaskWorker(ctx context.Context, name string) (string, error) {
	s, err := c.Status(ctx, name)
	if err != nil {
		return "", err
	}
	for _, t := range s.Tasks {
		if t.ID == 0 && t.WorkerID != "" {
			return c.workerByAddr(t.WorkerID)
		}
	}
	return "", fmt.Errorf("connect: %s has no assigned task 0 (connector %s)", name, s.Connector.State)
}

// workerByAddr maps an advertised host:port (a worker_id) to a worker name.
func (c *Cluster) workerByAddr(addr string) (string, error) {
	for _, w := range c.workers {
		if w.addr() == addr {
			return w.name, nil
		}
	}
	return "", fmt.Errorf("%w: none advertises %s", ErrNoWorker, addr)
}

// DeleteConnector removes connector name. Debezium's replication slot and
// publication stay in PostgreSQL (the slot pins WAL): drop them there.
func (c *Cluster) DeleteConnector(ctx context.Context, name string) error {
	code, b, err := c.do(ctx, http.MethodDelete, "/connectors/"+url.PathEscape(name), nil)
	if err != nil {
		return err
	}
	switch code {
	case http.StatusNoContent, http.StatusOK:
		return nil
	case http.StatusNotFound:
		return fmt.Errorf("delete %s: %w", name, ErrNotFound)
	}
	return fmt.Errorf("connect: delete %s: HTTP %d %s", name, code, bytes.TrimSpace(b))
}

// joinedRE matches the WorkerCoordinator's line after each rebalance:
// "Joined group at generation N ... leaderUrl='http://host:port/' ...".
var joinedRE = regexp.MustCompile(`Joined group at generation (\d+) .*leaderUrl='([^']*)'`)

// Leader returns the name of the group's leader, read from the newest
// (highest generation) "Joined group" line in the workers' logs: the REST
// API does not say. A worker cut off from the group may not have logged
// the latest generation; the others have.
func (c *Cluster) Leader(ctx context.Context) (string, error) {
	best, leaderURL := -1, ""
	for _, w := range c.workers {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		gen, u, err := lastJoin(w.logPath)
		if err != nil {
			return "", err
		}
		if gen > best {
			best, leaderURL = gen, u
		}
	}
	if best < 0 {
		return "", ErrNoLeader
	}
	u, err := url.Parse(leaderURL)
	if err != nil {
		return "", fmt.Errorf("connect: leader url %q: %w", leaderURL, err)
	}
	return c.workerByAddr(u.Host)
}

// lastJoin returns the highest generation and its leader URL in a worker's
// log; -1 when none.
func lastJoin(path string) (int, string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return -1, "", nil
	}
	if err != nil {
		return -1, "", fmt.Errorf("connect: %w", err)
	}
	defer func() { _ = f.Close() }()
	gen, leader := -1, ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		m := joinedRE.FindSubmatch(sc.Bytes())
		if m == nil {
			continue
		}
		if g, err := strconv.Atoi(string(m[1])); err == nil && g >= gen {
			gen, leader = g, string(m[2])
		}
	}
	if err := sc.Err(); err != nil {
		return -1, "", fmt.Errorf("connect: read %s: %w", path, err)
	}
	return gen, leader, nil
}

// WaitTaskRunning polls until task 0 of connector name is RUNNING on some
// worker and returns that worker, or ctx ends. A FAILED task ends the wait
// with its trace.
func (c *Cluster) WaitTaskRunning(ctx context.Context, name string) (string, error) {
	for {
		s, err := c.Status(ctx, name)
		if err == nil {
			for _, t := range s.Tasks {
				if t.ID != 0 {
					continue
				}
				switch t.State.State {
				case "RUNNING":
					return c.workerByAddr(t.WorkerID)
				case "FAILED":
					return "", fmt.Errorf("connect: task %s-0 FAILED on %s: %s", name, t.WorkerID, t.Trace)
				}
			}
		}
		if werr := wait.Sleep(ctx, 200*time.Millisecond); werr != nil {
			return "", fmt.Errorf("connect: task %s-0 not running (last: %+v, %v): %w", name, s, err, werr)
		}
	}
}
