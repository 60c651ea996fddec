package faults

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bbbridge/buildbot-bridge/internal/localdeploy"
)

// WriteTable prints the matrix: one line per fault, then what went wrong
// and where the logs are.
func (r *Report) WriteTable(w io.Writer) error {
	mode := "full"
	if r.Quick {
		mode = "quick"
	}
	fmt.Fprintf(w, "bbb-faults (%s): %d faults, %s; wall %s\n", mode, len(r.Rows), localdeploy.Machine(r.Started),
		r.Wall.Round(time.Second))
	if len(r.Services) > 0 {
		fmt.Fprintf(w, "dedicated services: %s\n", strings.Join(r.Services, "; "))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "fault\ttasks\tlost\tduplicated\texpired\twrong resolution\tother\ttime\tresult\tnotes")
	fmt.Fprintln(tw, "-----\t-----\t----\t----------\t-------\t----------------\t-----\t----\t------\t-----")
	for _, row := range r.Rows {
		result := "ok"
		if !row.OK() {
			result = "VIOLATED"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", row.Fault, row.Tasks, row.Lost, row.Duplicated,
			row.Expired, row.Wrong, row.Other, row.Duration.Round(time.Second), result, strings.Join(row.Notes, "; "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, row := range r.Rows {
		if len(row.Problems) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", row.Fault)
		for _, p := range row.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
		if row.LogDir != "" {
			fmt.Fprintf(w, "  logs: %s\n", row.LogDir)
		}
	}
	verdict := "every invariant held"
	if !r.OK() {
		verdict = "INVARIANTS VIOLATED"
	}
	_, err := fmt.Fprintf(w, "\nresult: %s\n", verdict)
	return err
}
