package mtls

import (
	"context"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/peer"
)

// ServerCreds are gRPC server credentials for the member's listener. A nil
// identity gives plaintext (for unit tests that run no cluster).
func (id *Identity) ServerCreds() credentials.TransportCredentials {
	if id == nil {
		return insecure.NewCredentials()
	}
	return credentials.NewTLS(id.ServerConfig())
}

// ClientCreds are gRPC credentials for dialing member server. A nil
// identity gives plaintext.
func (id *Identity) ClientCreds(server string) credentials.TransportCredentials {
	if id == nil {
		return insecure.NewCredentials()
	}
	return credentials.NewTLS(id.ClientConfig(server))
}

// CallerName returns the member named by the verified client certificate
// of the gRPC call or stream ctx, or false when it carried none.
func CallerName(ctx context.Context) (string, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return "", false
	}
	return PeerName(info.State)
}
