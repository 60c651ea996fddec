package tcfake

import "strconv"

// exchangeNames are the queue's exchanges (services/queue/src/exchanges.js),
// all declared at Start because the queue owns them.
var exchangeNames = []string{
	"task-defined",
	"task-pending",
	"task-running",
	"artifact-created",
	"task-completed",
	"task-failed",
	"task-exception",
	"task-group-resolved",
}

// messageBody is the body of every task message the queue publishes. RunID
// is a pointer so that run 0 is sent (tcqueueevents' struct would drop it).
type messageBody struct {
	Version     int           `json:"version"`
	Status      statusJSON    `json:"status"`
	RunID       *int          `json:"runId,omitempty"`
	Task        *tagsJSON     `json:"task,omitempty"`
	WorkerGroup string        `json:"workerGroup,omitempty"`
	WorkerID    string        `json:"workerId,omitempty"`
	TakenUntil  string        `json:"takenUntil,omitempty"`
	Artifact    *artifactJSON `json:"artifact,omitempty"`
}

// pulseMessage is one message with what its routing keys are built from.
type pulseMessage struct {
	exchange string
	body     messageBody
	routes   []string
}

// newMessage snapshots t (the caller holds q.mu). runID < 0 means the message
// names no run; workerGroup/workerID may be empty.
func newMessage(exchange string, t *task, runID int, workerGroup, workerID string, withTask bool) pulseMessage {
	m := pulseMessage{
		exchange: exchange,
		body: messageBody{
			Version:     1,
			Status:      t.status(),
			WorkerGroup: workerGroup,
			WorkerID:    workerID,
		},
		routes: t.def.Routes,
	}
	if runID >= 0 {
		id := runID
		m.body.RunID = &id
	}
	if withTask {
		m.body.Task = t.pulseTask()
	}
	return m
}

// routingKeys returns the primary routing key and one "route.<route>" key per
// task route. taskcluster-lib-pulse sends the route keys as the CC header of
// a single publish; here each is a separate publish with the same body.
func (m pulseMessage) routingKeys() []string {
	word := func(s string) string {
		if s == "" {
			return "_"
		}
		return s
	}
	run := "_"
	if m.body.RunID != nil {
		run = strconv.Itoa(*m.body.RunID)
	}
	s := m.body.Status
	primary := "primary." + s.TaskID + "." + run + "." + word(m.body.WorkerGroup) + "." + word(m.body.WorkerID) + "." +
		s.ProvisionerID + "." + s.WorkerType + "." + s.SchedulerID + "." + s.TaskGroupID + "._"
	keys := []string{primary}
	for _, r := range m.routes {
		keys = append(keys, "route."+r)
	}
	return keys
}
