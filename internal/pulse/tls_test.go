package pulse_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/config"
	"github.com/bbbridge/buildbot-bridge/internal/pulse"

	"github.com/bbbridge/buildbot-bridge/internal/testenv"
)

// tlsServer accepts TLS connections that must present a client certificate
// from the test CA, and reports each handshake's outcome: the AMQP
// handshake after it is never answered.
func tlsServer(t *testing.T, pki testenv.PKI) (addr string, handshakes <-chan tls.ConnectionState, failures <-chan error) {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(pki.ServerCertFile, pki.ServerKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(pki.CA)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ok := make(chan tls.ConnectionState, 10)
	bad := make(chan error, 10)
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
					bad <- err
					return
				}
				ok <- tc.ConnectionState()
			}()
		}
	}()
	return ln.Addr().String(), ok, bad
}

// loadPulseTLS goes through the config file, as the starter does.
func loadPulseTLS(t *testing.T, pulseURL string, tlsSection map[string]string) *config.Config {
	t.Helper()
	section := ""
	if tlsSection != nil {
		section = fmt.Sprintf(`"pulse_tls": {"ca_file": %q, "cert_file": %q, "key_file": %q},`,
			tlsSection["ca_file"], tlsSection["cert_file"], tlsSection["key_file"])
	}
	doc := `{
  "taskcluster_queue_config": {"rootUrl": "https://tc.example.com", "credentials": {"clientId": "c", "accessToken": "t"}},
  "buildbot_scheduler_db": "mysql://u:p@db.example.com/sched",
  "selfserve_url": "https://buildapi.example.com/self-serve",
  "pulse_url": "` + pulseURL + `", ` + section + `
  "pulse_queue_basename": "queue/bbb", "tc_worker_group": "g", "tc_worker_id": "w",
  "tclistener": {"pulse_exchange_basename": "exchange/taskcluster-queue/v1", "worker_type": "buildbot-bridge", "provisioner_id": "buildbot-bridge"}
}`
	c, err := config.Parse([]byte(doc), nil, nil)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return c
}

func TestDialTLSUsesTheConfiguredCAAndClientCertificate(t *testing.T) {
	pki := testenv.NewPKI(t)
	addr, handshakes, failures := tlsServer(t, pki)
	cfg := loadPulseTLS(t, "amqps://bbb:pw@"+addr+"/", map[string]string{
		"ca_file": pki.CAFile, "cert_file": pki.ClientCertFile, "key_file": pki.ClientKeyFile,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pulse.DialTLS(ctx, string(cfg.PulseURL), "tls-test", cfg.PulseTLS.ClientConfig())
	if err == nil {
		conn.Close()
		t.Fatal("the AMQP handshake succeeded against a server that never speaks AMQP")
	}
	var uaErr x509.UnknownAuthorityError
	if errors.As(err, &uaErr) {
		t.Fatalf("certificate not verified with the configured CA: %v", err)
	}
	select {
	case st := <-handshakes:
		if len(st.PeerCertificates) == 0 || st.PeerCertificates[0].Subject.CommonName != pki.ClientCert.Subject.CommonName {
			t.Errorf("server saw client certificates %v, want the configured one", st.PeerCertificates)
		}
	case err := <-failures:
		t.Fatalf("TLS handshake failed on the server: %v", err)
	case <-ctx.Done():
		t.Fatal("no TLS handshake")
	}
}

func TestDialTLSWithoutTheCAFails(t *testing.T) {
	pki := testenv.NewPKI(t)
	addr, handshakes, _ := tlsServer(t, pki)
	// No pulse_tls: the system's roots, which do not know the test CA.
	cfg := loadPulseTLS(t, "amqps://bbb:pw@"+addr+"/", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pulse.DialTLS(ctx, string(cfg.PulseURL), "tls-test", cfg.PulseTLS.ClientConfig())
	if err == nil {
		conn.Close()
		t.Fatal("connected without trusting the server's CA")
	}
	if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("error %q does not say the certificate was refused", err)
	}
	if strings.Contains(err.Error(), ":pw@") {
		t.Errorf("error %q shows the password", err)
	}
	select {
	case <-handshakes:
		t.Fatal("a TLS handshake completed without the CA")
	case <-time.After(200 * time.Millisecond):
	}
}

// The consumer dials with ConsumerOptions.TLS too.
func TestConsumerDialsWithTLS(t *testing.T) {
	pki := testenv.NewPKI(t)
	addr, handshakes, failures := tlsServer(t, pki)
	cfg := loadPulseTLS(t, "amqps://bbb:pw@"+addr+"/", map[string]string{
		"ca_file": pki.CAFile, "cert_file": pki.ClientCertFile, "key_file": pki.ClientKeyFile,
	})
	c, err := pulse.NewConsumer(pulse.ConsumerOptions{URL: string(cfg.PulseURL), TLS: cfg.PulseTLS.ClientConfig(), DeadLetterQueue: "queue/bbb/dead-letter"},
		pulse.Subscription{
			Binding: pulse.Binding{Queue: "queue/bbb/task-pending", Exchange: "exchange/taskcluster-queue/v1/task-pending", RoutingKey: "#"},
			Handle:  func(context.Context, pulse.Message) error { return nil },
		})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	select {
	case <-handshakes:
	case err := <-failures:
		t.Fatalf("TLS handshake failed on the server: %v", err)
	case <-ctx.Done():
		t.Fatal("the consumer made no TLS handshake")
	}
	cancel()
	<-done
}
