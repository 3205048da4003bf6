package upstream

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/chaosrun/chaosrun/upstreampb"
)

// Client talks to an upstream server. It is safe for concurrent use.
type Client struct {
	conn *grpc.ClientConn
	rpc  upstreampb.UpstreamClient
}

// Dial connects to addr and waits, bounded by ctx, until the connection is
// ready, so an unreachable upstream is reported at start. Extra options are
// appended to the defaults (plaintext); members pass
// grpc.WithTransportCredentials(identity.ClientCreds(Member)).
func Dial(ctx context.Context, addr string, opts ...grpc.DialOption) (*Client, error) {
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("upstream: dial %s: %w", addr, err)
	}
	conn.Connect()
	for {
		s := conn.GetState()
		if s == connectivity.Ready {
			break
		}
		if !conn.WaitForStateChange(ctx, s) {
			_ = conn.Close()
			return nil, fmt.Errorf("upstream: %s unreachable (state %s): %w", addr, s, ctx.Err())
		}
	}
	return &Client{conn: conn, rpc: upstreampb.NewUpstreamClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Commit commits writes as one transaction and returns the commit ts.
// Errors wrap the package's sentinels (errors.Is works); any other error,
// notably Unavailable or DeadlineExceeded, is an unknown outcome.
func (c *Client) Commit(ctx context.Context, writes ...Write) (uint64, error) {
	resp, err := c.rpc.Commit(ctx, &upstreampb.CommitRequest{Writes: writesToPB(writes)})
	if err != nil {
		return 0, fromStatus(err)
	}
	return resp.GetCommitTs(), nil
}

// Snapshot returns the span's current rows and their read ts.
func (c *Client) Snapshot(ctx context.Context, span Span) ([]Row, uint64, error) {
	resp, err := c.rpc.Snapshot(ctx, &upstreampb.SnapshotRequest{Span: spanToPB(span)})
	if err != nil {
		return nil, 0, fromStatus(err)
	}
	rows := make([]Row, len(resp.GetRows()))
	for i, r := range resp.GetRows() {
		cols, err := colsFromPB(r.GetColumns())
		if err != nil {
			return nil, 0, err
		}
		rows[i] = Row{PK: r.GetPk(), Columns: cols, CommitTs: r.GetCommitTs()}
	}
	return rows, resp.GetReadTs(), nil
}

// Tables lists the tables.
func (c *Client) Tables(ctx context.Context) ([]TableInfo, error) {
	resp, err := c.rpc.Tables(ctx, &upstreampb.TablesRequest{})
	if err != nil {
		return nil, fromStatus(err)
	}
	out := make([]TableInfo, len(resp.GetTables()))
	for i, t := range resp.GetTables() {
		out[i] = TableInfo{Name: t.GetName(), Rows: t.GetRows()}
	}
	return out, nil
}

// GetTS allocates a fresh ts from the upstream TSO.
func (c *Client) GetTS(ctx context.Context) (uint64, error) {
	resp, err := c.rpc.GetTS(ctx, &upstreampb.GetTSRequest{})
	if err != nil {
		return 0, fromStatus(err)
	}
	return resp.GetTs(), nil
}

// FeedStream is an open EventFeed. Cancel the ctx given to EventFeed to end
// it.
type FeedStream struct {
	s grpc.ServerStreamingClient[upstreampb.EventFeedResponse]
}

// EventFeed opens a feed of span's changes with commit ts > startTs.
func (c *Client) EventFeed(ctx context.Context, span Span, startTs uint64) (*FeedStream, error) {
	s, err := c.rpc.EventFeed(ctx, &upstreampb.EventFeedRequest{Span: spanToPB(span), StartTs: startTs})
	if err != nil {
		return nil, fromStatus(err)
	}
	return &FeedStream{s: s}, nil
}

// Recv blocks for the next delivery. A feed never ends by itself: any
// error (the server closing, the connection breaking, ctx ending) means the
// caller must reopen it from its resolved ts.
func (f *FeedStream) Recv() (FeedEvent, error) {
	resp, err := f.s.Recv()
	if err != nil {
		return FeedEvent{}, fromStatus(err)
	}
	ev := FeedEvent{ResolvedTs: resp.GetResolvedTs(), Rows: make([]Change, len(resp.GetRows()))}
	for i, r := range resp.GetRows() {
		if ev.Rows[i], err = changeFromPB(r); err != nil {
			return FeedEvent{}, err
		}
	}
	return ev, nil
}

// remoteError is a server error carrying the sentinel it was mapped from.
type remoteError struct {
	sentinel error
	msg      string
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

func fromStatus(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("upstream: %w", err)
	}
	switch st.Code() {
	case codes.Canceled:
		return fmt.Errorf("upstream: %s: %w", st.Message(), context.Canceled)
	case codes.DeadlineExceeded:
		return fmt.Errorf("upstream: %s: %w", st.Message(), context.DeadlineExceeded)
	case codes.Unavailable:
		// NB: not mapped back to ErrClosed: a broken connection is also
		// Unavailable, and its outcome is unknown.
		return fmt.Errorf("upstream: %w", err)
	}
	for _, c := range codeOf {
		if st.Code() == c.code {
			return &remoteError{sentinel: c.err, msg: st.Message()}
		}
	}
	return fmt.Errorf("upstream: %w", err)
}
