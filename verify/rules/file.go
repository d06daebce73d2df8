package rules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

// MaxFileSize bounds what is read: a rules file is text a person writes.
const MaxFileSize = 1 << 20

// PollInterval is how often a running gate reads the rules file to see
// whether it changed.
const PollInterval = time.Second

// ReadFile returns a rules file's content, following symlinks (so a
// Kubernetes ConfigMap's "..data" swap is seen), at most MaxFileSize.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, MaxFileSize)
	}
	return data, nil
}

// LoadFile reads and parses the rules file at path: the one loader of the
// gate's start, its reloads, and "authgate rules check" and "explain", so
// all of them say the same thing about the same file.
func LoadFile(path string) (*Set, []string, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return Parse(path, data)
}

// File keeps a rules file in force in a running gate. It is loaded by
// OpenFile (a bad file is an error), then, while Watch runs, read every
// Every and reloaded when its content changed, and reloaded at once on a
// send to Reload (the gate subscribes SIGHUP to it). Polling the content,
// rather than watching for file events, sees every way a file is
// replaced: written in place, renamed over, or swapped under a symlink as
// Kubernetes does when a ConfigMap changes (the mounted directory's
// "..data" link is replaced; the file itself is never written). Reading a
// small file once a second costs nothing.
//
// A new file that does not load changes nothing: the rules in force stay,
// and the error is logged once per content. A good one is swapped in
// whole through the Holder, so no request ever sees half of it.
type File struct {
	Path   string
	Holder *Holder
	// Every is the polling interval (PollInterval; tests lengthen it to
	// see Reload alone at work). Set it before Watch starts.
	Every  time.Duration
	Reload chan os.Signal
	// OnReload, when set before Watch starts, hears of every reload a
	// change or a Reload triggered: nil for a file put in force, else why
	// it was not (metrics count them).
	OnReload func(err error)

	log *slog.Logger
	// seen is what the last look found: the content's sha256, or the
	// error that kept it from being read. Only Watch touches it.
	seen string
}

// OpenFile loads path and puts it in force.
func OpenFile(path string, log *slog.Logger) (*File, error) {
	f := &File{Path: path, Holder: new(Holder), Every: PollInterval, Reload: make(chan os.Signal, 1), log: log}
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	set, warnings, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	f.seen = contentKey(data)
	f.put(set, warnings)
	return f, nil
}

func contentKey(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// put swaps set in and says so.
func (f *File) put(set *Set, warnings []string) {
	f.Holder.Store(set)
	for _, w := range warnings {
		f.log.Warn("access rules: "+w, "file", f.Path)
	}
	f.log.Info("access rules loaded", "file", f.Path, "rules", len(set.Rules), "default", set.Default.String())
}

// Watch reloads the file until ctx ends.
func (f *File) Watch(ctx context.Context) {
	t := time.NewTicker(f.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.look(false)
		case <-f.Reload:
			f.look(true)
		}
	}
}

// look reads the file and loads it when its content differs from what
// the last look found, or when forced.
func (f *File) look(force bool) {
	data, err := ReadFile(f.Path)
	key := ""
	if err != nil {
		key = "error:" + err.Error()
	} else {
		key = contentKey(data)
	}
	if key == f.seen && !force {
		return
	}
	f.seen = key
	if err == nil {
		var set *Set
		var warnings []string
		if set, warnings, err = Parse(f.Path, data); err == nil {
			f.put(set, warnings)
			f.reloaded(nil)
			return
		}
	}
	f.log.Error("access rules not reloaded; the rules loaded before stay in force", "file", f.Path, "err", err)
	f.reloaded(err)
}

func (f *File) reloaded(err error) {
	if f.OnReload != nil {
		f.OnReload(err)
	}
}
