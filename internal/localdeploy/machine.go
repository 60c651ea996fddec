package localdeploy

import (
	"fmt"
	"runtime"
	"time"
)

// Machine says what a table's figures were taken on, for its header: the
// CPUs of this machine, which every process of a local deployment shares,
// and the day.
func Machine(day time.Time) string {
	return fmt.Sprintf("%d CPUs, %s", runtime.NumCPU(), day.Format("2006-01-02"))
}
