package bbsim

import "strconv"

// Buildbot build results (buildbot.status.builder; CANCELLED is Mozilla's
// fork). They are the values of buildrequests.results and of "results" in
// the Pulse messages.
const (
	SUCCESS   = 0
	WARNINGS  = 1
	FAILURE   = 2
	SKIPPED   = 3
	EXCEPTION = 4
	RETRY     = 5
	CANCELLED = 6
)

// ResultName returns Buildbot's name of a result ("success", "retry", ...).
func ResultName(r int) string {
	switch r {
	case SUCCESS:
		return "success"
	case WARNINGS:
		return "warnings"
	case FAILURE:
		return "failure"
	case SKIPPED:
		return "skipped"
	case EXCEPTION:
		return "exception"
	case RETRY:
		return "retry"
	case CANCELLED:
		return "cancelled"
	}
	return "result " + strconv.Itoa(r)
}

// resultText is the build status text Buildbot shows for a finished build
// (BuildStatus.getText).
func resultText(r int) []string {
	switch r {
	case SUCCESS:
		return []string{"build", "successful"}
	case WARNINGS:
		return []string{"warnings"}
	case FAILURE:
		return []string{"failed"}
	case SKIPPED:
		return []string{"skipped"}
	case EXCEPTION:
		return []string{"exception"}
	case RETRY:
		return []string{"retry"}
	case CANCELLED:
		return []string{"cancelled"}
	}
	return []string{ResultName(r)}
}
