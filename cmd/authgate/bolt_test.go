package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestBoltKeepsEveryAnsweredRegistration kills the gate with SIGKILL in the
// middle of a stream of registrations: every account that was answered 201
// is there after the restart.
func TestBoltKeepsEveryAnsweredRegistration(t *testing.T) {
	store := "AUTHGATE_STORE=bolt://" + filepath.Join(t.TempDir(), "authgate.db")
	env := []string{store, "AUTHGATE_SECRET=" + goodSecret}
	g := startGate(t, env...)

	// A second gate on the same file fails fast and says why.
	second := startGateExpectingExit(t, env...)
	if !strings.Contains(second, "AUTHGATE_STORE") || !strings.Contains(second, "in use by another authgate process") {
		t.Fatalf("second gate on the same file: %q", second)
	}

	const workers = 4
	var (
		mu       sync.Mutex
		answered []string
		wg       sync.WaitGroup
		failed   [workers]atomic.Int64 // calls of each worker that got no answer
	)
	client := &http.Client{Timeout: 5 * time.Second}
	stop := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("u%d-%d", w, i)
				resp, err := client.Post(g.base+"/register", "application/json",
					strings.NewReader(`{"username":"`+name+`","password":"`+pw+`"}`))
				if err != nil {
					failed[w].Add(1)
					continue // the gate is gone; keep trying until told to stop
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusCreated {
					mu.Lock()
					answered = append(answered, name)
					mu.Unlock()
				}
			}
		}()
	}
	eventually(t, 20*time.Second, "40 registrations answered 201", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(answered) < 40 {
			return fmt.Errorf("%d so far", len(answered))
		}
		return nil
	})
	if err := g.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-g.exited
	// Every worker's call in flight at the kill, or its next one, fails:
	// then no registration is still on its way.
	var before [workers]int64
	for w := range workers {
		before[w] = failed[w].Load()
	}
	eventually(t, 10*time.Second, "a failed call from every client after the kill", func() error {
		for w := range workers {
			if failed[w].Load() == before[w] {
				return fmt.Errorf("worker %d has not seen the gate gone", w)
			}
		}
		return nil
	})
	close(stop)
	wg.Wait()

	out, err := runCLI(t, "", env, "users", "list", "-json")
	if err != nil {
		t.Fatalf("users list after SIGKILL: %v", err)
	}
	var listed []struct{ Name string }
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("users list -json: %v\n%s", err, out)
	}
	have := map[string]bool{}
	for _, u := range listed {
		have[u.Name] = true
	}
	for _, name := range answered {
		if !have[name] {
			t.Errorf("%s was answered 201 but is not in the store", name)
		}
	}
	g2 := startGate(t, env...)
	for _, name := range []string{answered[0], answered[len(answered)-1]} {
		if tok, code := g2.login(t, name); tok == "" {
			t.Errorf("login as %s after the restart: %d", name, code)
		}
	}
	t.Logf("%d registrations answered 201 before SIGKILL, %d accounts in the file", len(answered), len(listed))
}
