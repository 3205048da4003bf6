package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/chaosrun/chaosrun/system/mtls"
	"github.com/chaosrun/chaosrun/upstreampb"
)

// Service serves a DB over gRPC (upstreampb.UpstreamServer).
type Service struct {
	upstreampb.UnimplementedUpstreamServer
	db *DB
}

// NewService wraps db. The caller keeps owning db (and closes it).
func NewService(db *DB) *Service { return &Service{db: db} }

// Commit implements upstreampb.UpstreamServer.
func (s *Service) Commit(ctx context.Context, req *upstreampb.CommitRequest) (*upstreampb.CommitResponse, error) {
	ws, err := writesFromPB(req.GetWrites())
	if err != nil {
		return nil, toStatus(err)
	}
	ts, err := s.db.Commit(ctx, ws)
	if err != nil {
		return nil, toStatus(err)
	}
	return &upstreampb.CommitResponse{CommitTs: ts}, nil
}

// EventFeed implements upstreampb.UpstreamServer.
func (s *Service) EventFeed(req *upstreampb.EventFeedRequest, stream grpc.ServerStreamingServer[upstreampb.EventFeedResponse]) error {
	err := s.db.Feed(stream.Context(), spanFromPB(req.GetSpan()), req.GetStartTs(), func(ev FeedEvent) error {
		resp := &upstreampb.EventFeedResponse{ResolvedTs: ev.ResolvedTs, Rows: make([]*upstreampb.RowChange, len(ev.Rows))}
		for i, c := range ev.Rows {
			resp.Rows[i] = changeToPB(c)
		}
		return stream.Send(resp)
	})
	return toStatus(err)
}

// Snapshot implements upstreampb.UpstreamServer.
func (s *Service) Snapshot(_ context.Context, req *upstreampb.SnapshotRequest) (*upstreampb.SnapshotResponse, error) {
	rows, readTs, err := s.db.Snapshot(spanFromPB(req.GetSpan()))
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &upstreampb.SnapshotResponse{ReadTs: readTs, Rows: make([]*upstreampb.Row, len(rows))}
	for i, r := range rows {
		resp.Rows[i] = &upstreampb.Row{Pk: r.PK, Columns: colsToPB(r.Columns), CommitTs: r.CommitTs}
	}
	return resp, nil
}

// Tables implements upstreampb.UpstreamServer.
func (s *Service) Tables(context.Context, *upstreampb.TablesRequest) (*upstreampb.TablesResponse, error) {
	ts := s.db.Tables()
	resp := &upstreampb.TablesResponse{Tables: make([]*upstreampb.Table, len(ts))}
	for i, t := range ts {
		resp.Tables[i] = &upstreampb.Table{Name: t.Name, Rows: t.Rows}
	}
	return resp, nil
}

// GetTS implements upstreampb.UpstreamServer.
func (s *Service) GetTS(context.Context, *upstreampb.GetTSRequest) (*upstreampb.GetTSResponse, error) {
	ts, err := s.db.GetTS()
	if err != nil {
		return nil, toStatus(err)
	}
	return &upstreampb.GetTSResponse{Ts: ts}, nil
}

// codeOf pairs each sentinel with its gRPC code; the client maps back.
var codeOf = []struct {
	err  error
	code codes.Code
}{
	{ErrInvalid, codes.InvalidArgument},
	{ErrUnknownTable, codes.NotFound},
	{ErrDuplicateKey, codes.AlreadyExists},
	{ErrRowNotFound, codes.FailedPrecondition},
	{ErrConflict, codes.Aborted},
	{ErrClosed, codes.Unavailable},
	{ErrLogFailed, codes.DataLoss},
}

func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	for _, c := range codeOf {
		if errors.Is(err, c.err) {
			return status.Error(c.code, err.Error())
		}
	}
	return status.Error(codes.Internal, err.Error())
}

// ServeConfig configures Serve.
type ServeConfig struct {
	DB Config
	// Listen is the gRPC host:port. Empty means 127.0.0.1:0.
	Listen string
	// Identity, when set, serves mutual TLS: only clients with a
	// certificate of the run CA get through. Nil serves plaintext (tests).
	Identity *mtls.Identity
}

// Member is the name the upstream's certificate carries; clients dial it
// with Identity.ClientCreds(Member).
const Member = "upstream"

// Serve opens the DB, serves it on cfg.Listen, calls ready with the bound
// address once it accepts connections, and blocks until ctx is cancelled
// (clean shutdown: feeds end, in-flight commits finish, the log is closed;
// nil error) or serving fails.
func Serve(ctx context.Context, cfg ServeConfig, ready func(addr string)) error {
	log := cfg.DB.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	db, err := Open(ctx, cfg.DB)
	if err != nil {
		return err
	}
	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		_ = db.Close()
		return fmt.Errorf("upstream: listen %s: %w", cfg.Listen, err)
	}
	// Clients may ping every second to notice a partition (the nodes do).
	gs := grpc.NewServer(grpc.Creds(cfg.Identity.ServerCreds()), grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}))
	upstreampb.RegisterUpstreamServer(gs, NewService(db))
	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(lis) }()
	addr := lis.Addr().String()
	log.Info("upstream serving", "addr", addr, "dir", cfg.DB.Dir)
	if ready != nil {
		ready(addr)
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		serveErr = fmt.Errorf("upstream: serve %s: %w", addr, serveErr)
	}
	// Close the DB first: it ends every feed, so GracefulStop can finish.
	closeErr := db.Close()
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		gs.Stop()
		<-stopped
	}
	log.Info("upstream stopped", "addr", addr)
	return errors.Join(serveErr, closeErr)
}
