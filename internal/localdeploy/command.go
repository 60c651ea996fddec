package localdeploy

import (
	"flag"
	"log/slog"
	"os"
)

// ParseFlags parses the command line of a command that takes flags only
// (bbb-bench, bbb-faults) and exits 2 with the usage on anything else.
func ParseFlags() {
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
}

// Command is what a command that stands up deployments needs once its
// flags are read: a logger naming the process, on stderr, and the
// repository the worker and starter are built from. It exits 2 outside the
// repository.
func Command(process string) (*slog.Logger, string) {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("process", process)
	root, err := ModuleRoot()
	if err != nil {
		log.Error("cannot find the repository", "err", err)
		os.Exit(2)
	}
	return log, root
}
