package temporalclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/config"

	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

// Dial with temporal.tls presents the client certificate (mTLS), trusts the
// configured CA and sends the configured server name. The listener is a
// bare TLS server that requires a client certificate: the gRPC exchange
// after the handshake is not answered, so Dial itself fails.
func TestDialTLSPresentsTheClientCertificate(t *testing.T) {
	pki := testenv.NewPKI(t)
	cert, err := tls.LoadX509KeyPair(pki.ServerCertFile, pki.ServerKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(pki.CA)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
		NextProtos: []string{"h2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	states := make(chan tls.ConnectionState, 10)
	failures := make(chan error, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := c.(*tls.Conn)
				_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
				if err := tc.Handshake(); err != nil {
					failures <- err
					return
				}
				states <- tc.ConnectionState()
			}()
		}
	}()

	doc := fmt.Sprintf(`{
  "taskcluster_queue_config": {"rootUrl": "https://tc.example.com", "credentials": {"clientId": "c", "accessToken": "t"}},
  "buildbot_scheduler_db": "mysql://u:p@db.example.com/sched",
  "selfserve_url": "https://buildapi.example.com/self-serve",
  "pulse_user": "u", "pulse_password": "p",
  "pulse_queue_basename": "queue/bbb", "tc_worker_group": "g", "tc_worker_id": "w",
  "tclistener": {"pulse_exchange_basename": "exchange/taskcluster-queue/v1", "worker_type": "buildbot-bridge", "provisioner_id": "buildbot-bridge"},
  "temporal": {"address": %q, "tls": {"ca_file": %q, "cert_file": %q, "key_file": %q, "server_name": "temporal.test"}}
}`, ln.Addr().String(), pki.CAFile, pki.ClientCertFile, pki.ClientKeyFile)
	cfg, err := config.Parse([]byte(doc), nil, nil)
	if err != nil {
		t.Fatalf("config: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := DialTLS(ctx, cfg.Temporal.Address, cfg.Temporal.Namespace, cfg.Temporal.TLS.ClientConfig(), slog.New(slog.DiscardHandler))
	if err == nil {
		c.Close()
		t.Fatal("Dial succeeded against a server that never speaks gRPC")
	}
	select {
	case st := <-states:
		if len(st.PeerCertificates) == 0 || !st.PeerCertificates[0].Equal(pki.ClientCert) {
			t.Errorf("the server saw client certificates %v, want the configured one", st.PeerCertificates)
		}
		if st.ServerName != "temporal.test" {
			t.Errorf("server name sent %q, want temporal.tls.server_name %q", st.ServerName, "temporal.test")
		}
	case err := <-failures:
		t.Fatalf("TLS handshake failed on the server: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Dial made no TLS handshake")
	}
}
