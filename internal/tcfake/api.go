package tcfake

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"time"
)

const apiPrefix = "/api/queue/v1"

// maxBody is the API's input limit.
const maxBody = 10 << 20

// URL parameter patterns from services/queue/src/api.js.
var (
	slugIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{8}[Q-T][A-Za-z0-9_-][CGKOSWaeimquy26-][A-Za-z0-9_-]{10}[AQgw]$`)
	runIDPattern  = regexp.MustCompile(`^[1-9]*[0-9]+$`)
	namePattern   = regexp.MustCompile(`^[\x20-\x7e]+$`)

	wildcardPattern = regexp.MustCompile(`\{(\w+)(?:\.\.\.)?\}`)
)

// Error codes and the statuses taskcluster-lib-api gives them.
var errorStatus = map[string]int{
	"MalformedPayload":        400,
	"InvalidRequestArguments": 400,
	"InputValidationError":    400,
	"InputError":              400,
	"AuthenticationFailed":    401,
	"InsufficientScopes":      403,
	"ResourceNotFound":        404,
	"RequestConflict":         409,
	"InternalServerError":     500,
}

// apiRequest is one call to an API method while it is being handled.
type apiRequest struct {
	q       *Queue
	method  string
	r       *http.Request
	params  map[string]string
	body    []byte
	payload any // the parsed body, {} when empty
	authRes *authResult
	// msgs are published, in order, after the state change and before the
	// reply, as the real queue awaits its publishes before answering.
	msgs []pulseMessage
}

// reply is what a handler answers.
type reply struct {
	status  int
	body    any
	headers map[string]string
}

func okReply(body any) *reply { return &reply{status: http.StatusOK, body: body} }

type errorBody struct {
	Code        string      `json:"code"`
	Message     string      `json:"message"`
	RequestInfo requestInfo `json:"requestInfo"`
}

type requestInfo struct {
	Method  string            `json:"method"`
	Params  map[string]string `json:"params"`
	Payload any               `json:"payload"`
	Time    string            `json:"time"`
}

// fail builds an error reply shaped like taskcluster-lib-api's.
func (req *apiRequest) fail(code, message string) *reply {
	status, known := errorStatus[code]
	if !known {
		status, code = 500, "InternalServerError"
	}
	now := formatTime(req.q.clock.Now())
	msg := message + fmt.Sprintf("\n\n---\n\n* method:     %s\n* errorCode:  %s\n* statusCode: %d\n* time:       %s",
		req.method, code, status, now)
	r := &reply{status: status, body: errorBody{
		Code:    code,
		Message: msg,
		RequestInfo: requestInfo{
			Method:  req.method,
			Params:  req.params,
			Payload: req.payload,
			Time:    now,
		},
	}}
	if code == "AuthenticationFailed" {
		r.headers = map[string]string{"WWW-Authenticate": "hawk"}
	}
	return r
}

// codeForStatus names an injected fault's status the way lib-api would.
func codeForStatus(status int) string {
	switch status {
	case 400:
		return "InputError"
	case 401:
		return "AuthenticationFailed"
	case 403:
		return "InsufficientScopes"
	case 404:
		return "ResourceNotFound"
	case 409:
		return "RequestConflict"
	}
	return "InternalServerError"
}

// endpoint describes one API method.
type endpoint struct {
	name string
	// input is the request body schema, if the method takes one.
	input string
	// urlScopes, when set, is the method's scope expression rendered from URL
	// parameters only; lib-api then authorizes before the handler runs.
	urlScopes func(params map[string]string) scopeExpr
	handle    func(*apiRequest) *reply
}

func (q *Queue) routes() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern string, e endpoint) {
		var params []string
		for _, m := range wildcardPattern.FindAllStringSubmatch(pattern, -1) {
			params = append(params, m[1])
		}
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { q.serveAPI(w, r, e, params) })
	}
	api("GET "+apiPrefix+"/ping", endpoint{name: "ping", handle: handlePing})
	api("PUT "+apiPrefix+"/task/{taskId}", endpoint{name: "createTask", input: "create-task-request", handle: handleCreateTask})
	api("GET "+apiPrefix+"/task/{taskId}", endpoint{name: "task", urlScopes: scopeFor("queue:get-task:<taskId>"), handle: handleTask})
	api("GET "+apiPrefix+"/task/{taskId}/status", endpoint{name: "status", urlScopes: scopeFor("queue:status:<taskId>"), handle: handleStatus})
	api("POST "+apiPrefix+"/task/{taskId}/rerun", endpoint{name: "rerunTask", handle: handleRerunTask})
	api("POST "+apiPrefix+"/task/{taskId}/cancel", endpoint{name: "cancelTask", handle: handleCancelTask})
	api("POST "+apiPrefix+"/task/{taskId}/runs/{runId}/claim", endpoint{name: "claimTask", input: "task-claim-request", handle: handleClaimTask})
	api("POST "+apiPrefix+"/task/{taskId}/runs/{runId}/reclaim", endpoint{name: "reclaimTask", urlScopes: scopeFor("queue:reclaim-task:<taskId>/<runId>"), handle: handleReclaimTask})
	api("POST "+apiPrefix+"/task/{taskId}/runs/{runId}/completed", endpoint{name: "reportCompleted", urlScopes: scopeFor("queue:resolve-task:<taskId>/<runId>"), handle: handleReportCompleted})
	api("POST "+apiPrefix+"/task/{taskId}/runs/{runId}/failed", endpoint{name: "reportFailed", urlScopes: scopeFor("queue:resolve-task:<taskId>/<runId>"), handle: handleReportFailed})
	api("POST "+apiPrefix+"/task/{taskId}/runs/{runId}/exception", endpoint{name: "reportException", input: "task-exception-request", urlScopes: scopeFor("queue:resolve-task:<taskId>/<runId>"), handle: handleReportException})
	api("POST "+apiPrefix+"/task/{taskId}/runs/{runId}/artifacts/{name...}", endpoint{name: "createArtifact", input: "post-artifact-request", urlScopes: scopeFor("queue:create-artifact:<taskId>/<runId>"), handle: handleCreateArtifact})
	api("GET "+apiPrefix+"/task/{taskId}/runs/{runId}/artifacts/{name...}", endpoint{name: "getArtifact", handle: handleGetArtifact})
	api("GET "+apiPrefix+"/task/{taskId}/artifacts/{name...}", endpoint{name: "getLatestArtifact", handle: handleGetLatestArtifact})
	api("GET "+apiPrefix+"/task/{taskId}/runs/{runId}/artifacts", endpoint{name: "listArtifacts", urlScopes: scopeFor("queue:list-artifacts:<taskId>:<runId>"), handle: handleListArtifacts})
	api("GET "+apiPrefix+"/task/{taskId}/artifacts", endpoint{name: "listLatestArtifacts", urlScopes: scopeFor("queue:list-artifacts:<taskId>"), handle: handleListLatestArtifacts})
	mux.HandleFunc("PUT "+s3Prefix+"/{taskId}/{runId}/{name...}", q.serveS3Put)
	mux.HandleFunc("GET "+s3Prefix+"/{taskId}/{runId}/{name...}", q.serveS3Get)
	mux.HandleFunc("/", q.serveNotFound)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The reply's Date is the queue's clock, as every timestamp in
		// it is: the bridge measures the claim period against it.
		w.Header().Set("Date", q.clock.Now().UTC().Format(http.TimeFormat))
		// A known path with another method: answer like an unknown route
		// (JSON 404), not with ServeMux's plain-text 405.
		if _, pattern := mux.Handler(r); pattern == "" {
			q.serveNotFound(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (q *Queue) serveNotFound(w http.ResponseWriter, r *http.Request) {
	req := &apiRequest{q: q, method: "", r: r, params: map[string]string{}, payload: map[string]any{}}
	writeReply(w, req.fail("ResourceNotFound", fmt.Sprintf("tcfake: no API method for %s %s", r.Method, r.URL.EscapedPath())))
}

func (q *Queue) serveAPI(w http.ResponseWriter, r *http.Request, e endpoint, params []string) {
	req := &apiRequest{q: q, method: e.name, r: r, params: map[string]string{}, payload: map[string]any{}}
	for _, p := range params {
		req.params[p] = r.PathValue(p)
	}
	q.mu.Lock()
	fault := q.fault
	q.mu.Unlock()
	faultStatus, afterApply := 0, false
	if fault != nil {
		faultStatus, afterApply = fault(e.name)
	}
	var rep *reply
	if faultStatus != 0 && !afterApply {
		// The call is lost on its way in: nothing is applied.
		_ = req.readBody()
		rep = req.faultReply(faultStatus, "tcfake: injected fault")
	} else {
		rep = q.handleAPI(req, e)
		q.publishAll(req.msgs)
		if faultStatus != 0 {
			rep = req.faultReply(faultStatus, "tcfake: injected fault (the call was applied)")
		}
	}
	q.record(req, rep.status)
	writeReply(w, rep)
}

func (req *apiRequest) faultReply(status int, message string) *reply {
	rep := req.fail(codeForStatus(status), message)
	rep.status = status
	return rep
}

// readBody reads and parses the request body into req.body and req.payload.
func (req *apiRequest) readBody() *reply {
	body, err := io.ReadAll(io.LimitReader(req.r.Body, maxBody+1))
	if err != nil {
		return req.fail("MalformedPayload", "tcfake: reading the request body failed")
	}
	if len(body) > maxBody {
		return req.fail("MalformedPayload", "Payload too large")
	}
	req.body = body
	if len(body) > 0 && isJSON(req.r) {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return req.fail("MalformedPayload", "Failed to parse JSON: "+err.Error())
		}
		switch v.(type) {
		case map[string]any, []any:
		default:
			return req.fail("MalformedPayload", "Failed to parse JSON: Must be an object or array")
		}
		req.payload = v
	}
	return nil
}

// handleAPI runs lib-api's middleware order: parse body, authorize from URL
// parameters, validate parameters, validate the input schema, handler.
func (q *Queue) handleAPI(req *apiRequest, e endpoint) *reply {
	if rep := req.readBody(); rep != nil {
		return rep
	}
	if e.urlScopes != nil {
		if rep := req.authorize(e.urlScopes(req.params)); rep != nil {
			return rep
		}
	}
	if rep := req.validateParams(); rep != nil {
		return rep
	}
	if e.input != "" {
		if !isJSON(req.r) {
			return req.fail("MalformedPayload", fmt.Sprintf(
				"Payload must be JSON with content-type: application/json got content-type: %s", req.r.Header.Get("Content-Type")))
		}
		if err := q.schemas.Validate(e.input, req.body); err != nil {
			return req.fail("InputValidationError", "Request payload must match the schema "+e.input+".json:\n"+err.Error())
		}
	}
	return e.handle(req)
}

func isJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

func (req *apiRequest) validateParams() *reply {
	var problems []string
	check := func(param string, re *regexp.Regexp) {
		v, ok := req.params[param]
		if ok && !re.MatchString(v) {
			problems = append(problems, fmt.Sprintf("URL parameter '%s' given  as '%s' is not valid: does not match regular expression: '%s'", param, v, re.String()))
		}
	}
	check("taskId", slugIDPattern)
	check("runId", runIDPattern)
	check("name", namePattern)
	if len(problems) > 0 {
		msg := "Invalid URL patterns:"
		for _, p := range problems {
			msg += "\n" + p
		}
		return req.fail("InvalidRequestArguments", msg)
	}
	return nil
}

// runID returns the runId URL parameter as a number; validateParams has
// checked its form. Absurdly large values map to -1 (no such run).
func (req *apiRequest) runID() int {
	n, err := strconv.Atoi(req.params["runId"])
	if err != nil {
		return -1
	}
	return n
}

func (q *Queue) record(req *apiRequest, status int) {
	runID := -1
	if v, ok := req.params["runId"]; ok {
		if n, err := strconv.Atoi(v); err == nil {
			runID = n
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls = append(q.calls, Call{
		Method: req.method,
		TaskID: req.params["taskId"],
		RunID:  runID,
		Status: status,
		At:     q.clock.Now(),
		Body:   req.body,
	})
}

func writeReply(w http.ResponseWriter, rep *reply) {
	for k, v := range rep.headers {
		w.Header().Set(k, v)
	}
	data, err := json.Marshal(rep.body)
	if err != nil {
		http.Error(w, "tcfake: cannot encode reply", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(rep.status)
	_, _ = w.Write(data)
}

// publishAll sends msgs in order. A failed publish is logged and dropped:
// the state change stands, as when the real queue loses a message.
func (q *Queue) publishAll(msgs []pulseMessage) {
	if q.opts.Publisher == nil {
		return
	}
	for _, m := range msgs {
		q.publish(m)
	}
}

func (q *Queue) publish(m pulseMessage) {
	data, err := json.Marshal(m.body)
	if err != nil {
		q.log.Error("encode pulse message", "exchange", m.exchange, "err", err)
		return
	}
	exchange := q.opts.ExchangePrefix + m.exchange
	for _, key := range m.routingKeys() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := q.opts.Publisher.Publish(ctx, exchange, key, data)
		cancel()
		if err != nil {
			q.log.Warn("pulse message dropped", "exchange", exchange, "routingKey", key, "err", err)
		}
	}
}

func handlePing(req *apiRequest) *reply {
	return okReply(map[string]any{"alive": true, "uptime": time.Since(processStart).Seconds()})
}

var processStart = time.Now()
