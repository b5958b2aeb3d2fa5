package proc

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// A Saver is a benchmark's report.
type Saver interface {
	// Save writes the report and says where.
	Save() error
}

// Run is a benchmark command's life around bench: a context the first
// Ctrl-C or SIGTERM cancels (a second ends the program at once; the
// children get Pdeathsig), a Group whose children are stopped when bench
// returns, before its report is saved, and a temporary directory named
// after tmpPrefix, removed afterwards unless keep. It prints an error as
// "<name>: <error>" and returns the exit code: 0, 1, or 130 when
// interrupted.
func Run(name, tmpPrefix string, keep bool, bench func(ctx context.Context, ps *Group, tmp string) (Saver, error)) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()
	ps := &Group{}
	defer ps.StopAll()
	tmp, err := os.MkdirTemp("", tmpPrefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		return 1
	}
	if keep {
		fmt.Println("temporary directory (kept):", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	rep, err := bench(ctx, ps, tmp)
	ps.StopAll()
	if err == nil {
		err = rep.Save()
	}
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, name+": interrupted")
			return 130
		}
		fmt.Fprintln(os.Stderr, name+":", err)
		return 1
	}
	return 0
}
