// Package workflows holds the bridge's two Temporal workflows: TaskWorkflow,
// one per Taskcluster task (ID task-<taskId>), which is the bridge's whole
// record of that task, and SweepWorkflow, the single periodic look for
// BuildRequests cancelled in Buildbot. Workflows do no I/O: everything that
// touches TC, the scheduler DB or self-serve is an activity of package
// activities, run as a local activity through options.go.
//
// A task's lifecycle, reading the files top to bottom: task.go (the shell),
// task_start.go (act only on what TC says now; adopt mode),
// validate_inject.go, task_events.go (the event loop and its one timer),
// claim.go, reclaim.go, resolve.go, cancel.go, safety_net.go,
// continue_as_new.go, settle.go (how a run ends), visibility.go (state
// query, search attributes, memo).
//
//	phase       events                        what happens
//	----------  ----------------------------  ------------------------------------------------------------
//	validating  task-pending (start)          TaskStatus: act only if the run is TC's latest and pending;
//	                                          PrepareTask: ignored builder → phase ignored, no TC call;
//	                                          malformed → ClaimRun, ReportException malformed-payload;
//	                                          else InjectBuildRequest (submitted at the run's scheduled time)
//	pending     check timer (CheckInterval)   ReadBuildRequest: complete & never claimed → CancelTask, end;
//	                                          complete with results → resolve from the row after
//	                                          FinishedGrace unless the finished event comes (its
//	                                          CreateArtifacts has only build-result.json); a build
//	                                          running unannounced → ClaimRun
//	pending     build-started                 ClaimRun (a reply without takenUntil is not a claim)
//	pending     task-exception canceled /     ReadBuildRequest (a missed start?), CancelBuildRequest, end;
//	            deadline-exceeded             a build found running is handled as below
//	running     reclaim timer                 ReclaimRun at takenUntil − min(ReclaimLead, period/3), then
//	                                          ReadBuildRequest; 409 → TaskStatus: newer pending run →
//	                                          ClaimRun it; run resolved by someone else → wait for the
//	                                          finished event; expired/deadline/canceled → CancelBuilds, end;
//	                                          404/403 → end
//	running     task-exception canceled /     CancelBuilds → cancelling
//	            deadline-exceeded
//	any         build-finished                (ClaimRun if not claimed), CreateArtifacts, then
//	                                          SUCCESS → ReportCompleted; WARNINGS/FAILURE → ReportFailed;
//	                                          EXCEPTION → ReportException malformed-payload;
//	                                          CANCELLED → CancelTask; all end;
//	                                          RETRY → ReportException worker-shutdown, RerunTask, back to
//	                                          pending for the new run on the same BuildRequest;
//	                                          SKIPPED/unknown → logged, the task stays
//	any         task-pending (newer run)      BuildRequest incomplete → carry on for the new run (ClaimRun
//	                                          at once if its build runs); complete → as validating
//	any         buildrequest-cancelled        CancelTask, end
//	any         cancel (operator signal, or   cancel in Buildbot (request or builds) and CancelTask; a
//	            a cancel request)             running build → cancelling, otherwise end (as cancelled);
//	                                          a cancel request waits behind events already received and
//	                                          closes the workflow as Canceled
//	cancelling  build-finished / grace        CreateArtifacts (no resolution call), end; or end after
//	                                          FinishedGrace
//	resolved,   —                             the workflow has completed
//	ignored,
//	cancelled
//
// Repeated events are dropped by their content-derived ids. History stays
// bounded: the workflow continues as new when the SDK suggests it or when
// it nears the server's 10,000-signals-per-run limit, carrying its state
// (ResumeState) and any signals drained from its channels.
package workflows
