package tcfake

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	tcclient "github.com/taskcluster/taskcluster/v44/clients/client-go"
	hawk "github.com/tent/hawk-go"
)

// Taskcluster's auth service allows this much Hawk timestamp skew.
const hawkSkew = 15 * time.Minute

// certSkew is the slack the auth service gives certificate start and expiry.
const certSkew = 5 * time.Minute

type authResult struct {
	failed   bool
	message  string // why authentication failed; never contains a secret
	clientID string // empty for an anonymous caller
	scopes   []string
}

// authorize checks the caller holds scopes satisfying e, authenticating the
// request on first use. It returns the error reply, or nil when allowed.
func (req *apiRequest) authorize(e scopeExpr) *reply {
	q := req.q
	if q.opts.Clients == nil {
		return nil
	}
	if req.authRes == nil {
		req.authRes = q.authenticate(req.r, req.body)
	}
	a := req.authRes
	if a.failed {
		return req.fail("AuthenticationFailed", a.message)
	}
	if e.satisfiedBy(a.scopes) {
		return nil
	}
	if a.clientID == "" {
		return req.fail("InsufficientScopes",
			"This request requires Taskcluster credentials that satisfy the following scope expression:\n\n```\n"+e.String()+"\n```")
	}
	missing := e.missing(a.scopes)
	return req.fail("InsufficientScopes", "Client ID "+a.clientID+
		" does not have sufficient scopes and is missing the following scopes:\n\n```\n"+missing.String()+
		"\n```\n\nThis request requires the client to satisfy the following scope expression:\n\n```\n"+e.String()+"\n```")
}

// authenticate verifies the request's Hawk Authorization header (or bewit)
// the way Taskcluster's auth service does, including temporary credentials
// and authorizedScopes carried in the Hawk ext field.
func (q *Queue) authenticate(r *http.Request, body []byte) *authResult {
	header := r.Header.Get("Authorization")
	bewit := r.URL.Query().Get("bewit")
	failed := func(format string, args ...any) *authResult {
		return &authResult{failed: true, message: fmt.Sprintf(format, args...)}
	}
	if header != "" && bewit != "" {
		return failed("Cannot use two authentication schemes at once this request has both bewit in querystring and 'authorization' header")
	}
	if header == "" && bewit == "" {
		return &authResult{scopes: q.opts.AnonymousScopes}
	}
	var (
		auth *hawk.Auth
		err  error
	)
	// The client signs the path exactly as sent (an artifact name keeps its
	// %2F), so the raw request URI is what must be checked.
	uri := r.RequestURI
	if header != "" {
		auth, err = hawk.ParseRequestHeader(header)
	} else {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return failed("bewit only allows HEAD and GET requests")
		}
		auth, err = hawk.ParseBewit(bewit)
		uri = stripBewit(uri, bewit)
	}
	if err != nil {
		return failed("Unauthorized: %v", err)
	}
	auth.Method = r.Method
	if auth.IsBewit {
		auth.Method = http.MethodGet
	}
	auth.RequestURI = uri
	auth.Host, auth.Port = requestHostPort(r)

	key, scopes, clientID, err := q.credentials(auth.Credentials.ID, auth.Ext)
	if err != nil {
		return failed("%v", err)
	}
	auth.Credentials.Key = key
	auth.Credentials.Hash = sha256.New

	now := time.Now()
	if auth.IsBewit {
		auth.ActualTimestamp = now
	} else {
		if d := now.Sub(auth.Timestamp); d > hawkSkew || d < -hawkSkew {
			return failed("Unauthorized: Stale timestamp")
		}
		// The skew was checked above with the auth service's tolerance;
		// hawk-go's own is one minute.
		auth.ActualTimestamp = auth.Timestamp
	}
	if err := auth.Valid(); err != nil {
		if errors.Is(err, hawk.ErrInvalidMAC) {
			return failed("Unauthorized: Bad mac")
		}
		return failed("Unauthorized: %v", err)
	}
	if len(auth.Hash) > 0 {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		h := auth.PayloadHash(ct)
		h.Write(body)
		if !auth.ValidHash(h) {
			return failed("Invalid payload hash")
		}
	}
	return &authResult{clientID: clientID, scopes: scopes}
}

func stripBewit(uri, bewit string) string {
	re := regexp.MustCompile(`\?bewit=` + regexp.QuoteMeta(bewit) + `\z|bewit=` + regexp.QuoteMeta(bewit) + `&|&bewit=` + regexp.QuoteMeta(bewit) + `\z`)
	return re.ReplaceAllString(uri, "")
}

func requestHostPort(r *http.Request) (string, string) {
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		return r.Host, "80"
	}
	return host, port
}

// authError is a refusal worded as Taskcluster's auth service words it
// (capitals and full stops included), so it is not built with errors.New.
type authError string

func (e authError) Error() string { return string(e) }

func authErrorf(format string, args ...any) error { return authError(fmt.Sprintf(format, args...)) }

// extHeader is the decoded Hawk ext field tcclient sends.
type extHeader struct {
	Certificate      *tcclient.Certificate `json:"certificate"`
	AuthorizedScopes *[]string             `json:"authorizedScopes"`
}

// credentials returns the Hawk key, the effective scopes and the client id
// for a request signed as clientID with the given ext field.
func (q *Queue) credentials(clientID, ext string) (key string, scopes []string, name string, err error) {
	var x extHeader
	if ext != "" {
		raw, derr := base64.StdEncoding.DecodeString(ext)
		if derr != nil {
			return "", nil, "", authError("Failed to parse ext: not base64")
		}
		if jerr := json.Unmarshal(raw, &x); jerr != nil {
			return "", nil, "", authError("Failed to parse ext: not JSON")
		}
	}
	issuer := clientID
	cert := x.Certificate
	if cert != nil && cert.Issuer != "" {
		if cert.Issuer == clientID {
			return "", nil, "", authError("ext.certificate.issuer must differ from the supplied clientId")
		}
		issuer = cert.Issuer
	}
	key, scopes, known := q.lookupClient(issuer)
	if !known {
		return "", nil, "", authErrorf("Client ID %s does not exist", issuer)
	}
	if cert != nil {
		if err := q.checkCertificate(cert, clientID, issuer, key, scopes); err != nil {
			return "", nil, "", err
		}
		key = temporaryAccessToken(key, cert.Seed)
		scopes = cert.Scopes
	}
	if x.AuthorizedScopes != nil {
		held := append(append([]string{}, scopes...), q.opts.AnonymousScopes...)
		for _, s := range *x.AuthorizedScopes {
			if !hasScope(held, s) {
				return "", nil, "", authError("ext.authorizedScopes oversteps your scopes")
			}
		}
		scopes = *x.AuthorizedScopes
	}
	scopes = append(append([]string{}, scopes...), q.opts.AnonymousScopes...)
	return key, scopes, clientID, nil
}

func (q *Queue) lookupClient(id string) (string, []string, bool) {
	if id == issuerClientID {
		return q.issuerToken, []string{"*"}, true
	}
	c, ok := q.opts.Clients[id]
	return c.AccessToken, c.Scopes, ok
}

func (q *Queue) checkCertificate(cert *tcclient.Certificate, clientID, issuer, issuerKey string, issuerScopes []string) error {
	if cert.Version != 1 {
		return authError("ext.certificate.version must be 1")
	}
	if len(cert.Seed) != 44 {
		return authError("ext.certificate.seed must be 44 characters")
	}
	now := q.clock.Now().UnixMilli()
	if cert.Start > now+certSkew.Milliseconds() {
		return authError("ext.certificate.start > now")
	}
	if cert.Expiry < now-certSkew.Milliseconds() {
		return authError("ext.certificate.expiry < now")
	}
	if cert.Expiry-cert.Start > (31 * 24 * time.Hour).Milliseconds() {
		return authError("ext.certificate cannot last longer than 31 days!")
	}
	if issuer != clientID && !hasScope(issuerScopes, "auth:create-client:"+clientID) {
		return authErrorf("ext.certificate issuer `%s` doesn't have `auth:create-client:%s` for supplied clientId.", issuer, clientID)
	}
	for _, s := range cert.Scopes {
		if !hasScope(issuerScopes, s) {
			return authErrorf("ext.certificate issuer `%s` doesn't satisfy all certificate scopes %s.  The temporary credentials were not generated correctly.",
				issuer, strings.Join(cert.Scopes, ", "))
		}
	}
	want := certSignature(cert, issuerKey, clientID)
	if !hmac.Equal([]byte(cert.Signature), []byte(want)) {
		if cert.Issuer != "" {
			return authError("ext.certificate.signature is not valid, or wrong clientId provided")
		}
		return authError("ext.certificate.signature is not valid")
	}
	return nil
}

// certSignature computes a certificate's signature as the auth service does.
func certSignature(cert *tcclient.Certificate, key, clientID string) string {
	lines := []string{"version:1"}
	if cert.Issuer != "" {
		lines = append(lines, "clientId:"+clientID, "issuer:"+cert.Issuer)
	}
	lines = append(lines,
		"seed:"+cert.Seed,
		"start:"+strconv.FormatInt(cert.Start, 10),
		"expiry:"+strconv.FormatInt(cert.Expiry, 10),
		"scopes:")
	lines = append(lines, cert.Scopes...)
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(strings.Join(lines, "\n")))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func temporaryAccessToken(key, seed string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(seed))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// credentialsJSON is schemas/queue/v1/task-credentials.json.
type credentialsJSON struct {
	ClientID    string `json:"clientId"`
	AccessToken string `json:"accessToken"`
	Certificate string `json:"certificate"`
}

// taskCredentials issues the temporary credentials of a claimed run, as
// services/queue/src/task-creds.js does: named task-client/..., valid until
// takenUntil, scoped to the run plus the task's own scopes.
func (q *Queue) taskCredentials(t *task, runID int, workerGroup, workerID string, takenUntil time.Time) (credentialsJSON, error) {
	seed := make([]byte, 33)
	if _, err := rand.Read(seed); err != nil {
		return credentialsJSON{}, err
	}
	clientID := strings.Join([]string{
		"task-client", t.id, strconv.Itoa(runID), "on", workerGroup, workerID, "until",
		strconv.FormatFloat(float64(takenUntil.UnixMilli())/1000, 'f', -1, 64),
	}, "/")
	run := t.id + "/" + strconv.Itoa(runID)
	cert := &tcclient.Certificate{
		Version: 1,
		Scopes: append([]string{
			"queue:reclaim-task:" + run,
			"queue:resolve-task:" + run,
			"queue:create-artifact:" + run,
		}, t.def.Scopes...),
		Start:  q.now().UnixMilli(),
		Expiry: takenUntil.UnixMilli(),
		Seed:   base64.RawURLEncoding.EncodeToString(seed),
		Issuer: issuerClientID,
	}
	cert.Signature = certSignature(cert, q.issuerToken, clientID)
	certJSON, err := json.Marshal(cert)
	if err != nil {
		return credentialsJSON{}, err
	}
	return credentialsJSON{
		ClientID:    clientID,
		AccessToken: temporaryAccessToken(q.issuerToken, cert.Seed),
		Certificate: string(certJSON),
	}, nil
}
