package localdeploy

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// Tasks are created by concurrent callers, each once, at the rate asked.
func TestCreateTasksPacesConcurrentCallers(t *testing.T) {
	var mu sync.Mutex
	seen := map[int]int{}
	start := time.Now()
	err := CreateTasks(context.Background(), 21, 4, 100, func(i int) error {
		mu.Lock()
		seen[i]++
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("21 tasks at 100/s took %s, want at least 200ms", took)
	}
	for i := range 21 {
		if seen[i] != 1 {
			t.Errorf("task %d created %d times", i, seen[i])
		}
	}
}

// A refused creation stops the run with that error.
func TestCreateTasksStopsAtTheFirstError(t *testing.T) {
	refused := errors.New("createTask: 400")
	err := CreateTasks(context.Background(), 1000, 8, 0, func(i int) error {
		if i == 10 {
			return refused
		}
		return nil
	})
	if !errors.Is(err, refused) {
		t.Errorf("err = %v, want the refusal", err)
	}
}
