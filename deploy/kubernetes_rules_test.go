package deploy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/verify/rules"
)

// rulesMount is where the Deployment's AUTHGATE_RULES_FILE comes from:
// the volume mount that holds it, and the ConfigMap key behind it.
type rulesMount struct {
	file      string // AUTHGATE_RULES_FILE
	mountPath string
	subPath   string
	readOnly  bool
	configMap string
	key       string
	content   string
}

// findRulesMount follows AUTHGATE_RULES_FILE to its volume mount, the
// volume's ConfigMap in the Deployment's namespace and the key in it.
func (g *gateManifests) findRulesMount() (rulesMount, error) {
	rm := rulesMount{file: g.env["AUTHGATE_RULES_FILE"]}
	if rm.file == "" {
		return rm, errors.New("AUTHGATE_RULES_FILE is not set: every request must be signed in, and the ConfigMap authgate-rules is not read")
	}
	if !path.IsAbs(rm.file) || path.Clean(rm.file) != rm.file {
		return rm, fmt.Errorf("AUTHGATE_RULES_FILE=%s: want a clean absolute path", rm.file)
	}
	volume := ""
	for _, m := range g.c.VolumeMounts {
		mp := path.Clean(m.MountPath)
		var key string
		switch {
		case m.SubPath != "" && mp == rm.file:
			key = m.SubPath // a single file, mounted with subPath
		case m.SubPath == "" && path.Dir(rm.file) == mp:
			key = path.Base(rm.file)
		default:
			continue
		}
		rm.mountPath, rm.subPath, rm.readOnly, rm.key, volume = mp, m.SubPath, m.ReadOnly, key, m.Name
	}
	if volume == "" {
		return rm, fmt.Errorf("AUTHGATE_RULES_FILE=%s is in no volume mount of the container (want the file directly in a mounted ConfigMap's directory)", rm.file)
	}
	for _, v := range g.d.Template.Spec.Volumes {
		if v.Name != volume {
			continue
		}
		if v.ConfigMap == nil {
			return rm, fmt.Errorf("AUTHGATE_RULES_FILE=%s: volume %s is not a configMap volume", rm.file, volume)
		}
		if len(v.ConfigMap.Items) > 0 {
			return rm, fmt.Errorf("volume %s: items rename the ConfigMap's keys, which this test does not follow; mount the whole ConfigMap", volume)
		}
		rm.configMap = v.ConfigMap.Name
	}
	if rm.configMap == "" {
		return rm, fmt.Errorf("AUTHGATE_RULES_FILE=%s: the pod has no volume %s", rm.file, volume)
	}
	var found bool
	for _, o := range g.objs {
		if o.Kind == "ConfigMap" && o.Metadata.Namespace == g.dep.Metadata.Namespace && o.Metadata.Name == rm.configMap {
			rm.content, found = o.Data[rm.key]
			if !found {
				return rm, fmt.Errorf("ConfigMap %s/%s has no key %s (AUTHGATE_RULES_FILE=%s)", o.Metadata.Namespace, rm.configMap, rm.key, rm.file)
			}
		}
	}
	if !found {
		return rm, fmt.Errorf("no ConfigMap %s in the namespace %s, which the volume %s mounts", rm.configMap, g.dep.Metadata.Namespace, volume)
	}
	return rm, nil
}

// The access rules come from the ConfigMap authgate-rules, mounted as a
// directory (a subPath mount is a copy the kubelet never updates, so an
// edit of the ConfigMap would never reach the gate), and the gate accepts
// them without warnings: a warning names a rule that can never match.
func (g *gateManifests) checkRulesConfigMap(t *testing.T) {
	rm, err := g.findRulesMount()
	if err != nil {
		t.Fatal(err)
	}
	if rm.configMap != "authgate-rules" {
		t.Errorf("AUTHGATE_RULES_FILE comes from the ConfigMap %s, want authgate-rules (the name the README and the comments use)", rm.configMap)
	}
	if rm.subPath != "" {
		t.Errorf("AUTHGATE_RULES_FILE=%s is mounted with subPath %s: the kubelet never updates a subPath mount, so an edit of the ConfigMap would need a restart; mount the directory", rm.file, rm.subPath)
	}
	if !rm.readOnly {
		t.Errorf("the rules mount %s is not readOnly", rm.mountPath)
	}
	name := fmt.Sprintf("%s (ConfigMap %s, key %s)", g.authgateYML, rm.configMap, rm.key)
	set, warnings, err := rules.Parse(name, []byte(rm.content))
	if err != nil {
		t.Fatalf("the gate would refuse to start: %v", err)
	}
	for _, w := range warnings {
		t.Errorf("%s: %s", name, w)
	}
	if len(set.Rules) == 0 {
		t.Errorf("%s has no rules: show at least one of each kind", name)
	}
}

// rulesYAML is the content of the Deployment's rules file.
func (g *gateManifests) rulesYAML(t *testing.T) string {
	t.Helper()
	rm, err := g.findRulesMount()
	if err != nil {
		t.Fatal(err)
	}
	return rm.content
}

// configMapFiles is the content of the files the Deployment reads from
// ConfigMaps, by variable, for localEnv.
func (g *gateManifests) configMapFiles(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{"AUTHGATE_RULES_FILE": g.rulesYAML(t)}
}

// kubeletVolume is a directory laid out as the kubelet lays out a
// ConfigMap volume (its AtomicWriter): the files in a timestamped
// directory, the symlink ..data pointing to it, and each key a symlink
// through ..data. An update writes a new timestamped directory and renames
// a new symlink over ..data, so a reader sees the old files or the new
// ones, never a mix; the key's own symlink never changes.
type kubeletVolume struct {
	dir     string
	current string // the timestamped directory ..data points to
	n       int
}

func newKubeletVolume(tb testing.TB, dir string, files map[string]string) *kubeletVolume {
	tb.Helper()
	v := &kubeletVolume{dir: dir}
	v.update(tb, files)
	for name := range files {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			tb.Fatal(err)
		}
	}
	return v
}

// update swaps the volume's files for files, with the same keys.
func (v *kubeletVolume) update(tb testing.TB, files map[string]string) {
	tb.Helper()
	v.n++
	ts := fmt.Sprintf("..2026_12_03_10_%02d_00.%d", v.n-1, v.n)
	if err := os.Mkdir(filepath.Join(v.dir, ts), 0o755); err != nil {
		tb.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(v.dir, ts, name), []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(v.dir, "..data")); err != nil {
		tb.Fatal(err)
	}
	if v.current != "" {
		if err := os.RemoveAll(filepath.Join(v.dir, v.current)); err != nil {
			tb.Fatal(err)
		}
	}
	v.current = ts
}

// checkRulesReload runs the real gate on the Deployment's rules in a
// directory laid out as the kubelet mounts the ConfigMap, then edits the
// ConfigMap as the kubelet applies an edit: the gate's answers follow
// without a restart, and a broken edit leaves the rules in force.
func checkRulesReload(t *testing.T, original string) {
	dir := t.TempDir()
	vol := newKubeletVolume(t, dir, map[string]string{"rules.yaml": original})
	file := filepath.Join(dir, "rules.yaml")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	gate := startGate(t, gateConfig{addr: addr, loginURL: "https://auth.example.com/login",
		extraEnv: []string{"AUTHGATE_RULES_FILE=" + file}})

	// The edit: the documentation becomes public.
	edited := original + `  - name: docs
    hosts: [app.example.com]
    paths: ["/docs/*"]
    action: allow
`
	// A broken edit: "group" is not a key of a rule.
	broken := edited + `  - name: reports
    hosts: [app.example.com]
    paths: ["/reports/*"]
    action: authenticated
    group: [admins]
`
	for _, tc := range []struct {
		name, content string
		valid         bool
	}{{"edited", edited, true}, {"broken", broken, false}} {
		set, warnings, err := rules.Parse(tc.name, []byte(tc.content))
		if tc.valid && (err != nil || len(warnings) > 0 || set.Rules[len(set.Rules)-1].Name != "docs") {
			t.Fatalf("the test's own edit of the ConfigMap's rules.yaml does not append the rule docs (%v %q): update the test with the file", err, warnings)
		}
		if !tc.valid && err == nil {
			t.Fatal("the test's broken edit parses")
		}
	}

	client := &http.Client{Timeout: 5 * time.Second}
	// verify asks the gate as the proxy would, for an anonymous GET of
	// https://host/uri: the test's requests come from 127.0.0.1, a
	// trusted proxy, so the forwarded headers describe the original.
	verify := func(host, uri string) (int, error) {
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/verify", nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("X-Forwarded-Host", host)
		req.Header.Set("X-Forwarded-Uri", uri)
		req.Header.Set("X-Forwarded-Method", http.MethodGet)
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	type want struct {
		host, uri string
		status    int
	}
	check := func(t *testing.T, wants ...want) {
		t.Helper()
		for _, w := range wants {
			got, err := verify(w.host, w.uri)
			if err != nil {
				t.Fatal(err)
			}
			if got != w.status {
				t.Errorf("https://%s%s: %d, want %d", w.host, w.uri, got, w.status)
			}
		}
	}
	// waitFor polls until /verify answers status for host and uri: the
	// gate notices a change of the file within about a second.
	waitFor := func(t *testing.T, host, uri string, status int) {
		t.Helper()
		start := time.Now()
		eventually(t, 10*time.Second, fmt.Sprintf("https://%s%s answered %d", host, uri, status), func() error {
			got, err := verify(host, uri)
			if err != nil {
				return err
			}
			if got != status {
				return fmt.Errorf("still %d", got)
			}
			return nil
		})
		t.Logf("https://%s%s answered %d after %v", host, uri, status, time.Since(start).Round(time.Millisecond))
	}
	// What stays the same through every edit.
	unchanged := []want{
		{"app.example.com", "/healthz", http.StatusOK},
		{"app.example.com", "/admin/users", http.StatusUnauthorized},
		{"old.example.com", "/", http.StatusForbidden},
		{"app.example.com", "/whoami", http.StatusUnauthorized},
	}

	t.Run("the ConfigMap as shipped", func(t *testing.T) {
		check(t, append(unchanged, want{"app.example.com", "/docs/guide", http.StatusUnauthorized})...)
	})
	t.Run("an edit applies without a restart", func(t *testing.T) {
		vol.update(t, map[string]string{"rules.yaml": edited})
		waitFor(t, "app.example.com", "/docs/guide", http.StatusOK)
		check(t, unchanged...)
	})
	t.Run("a broken edit keeps the rules in force", func(t *testing.T) {
		vol.update(t, map[string]string{"rules.yaml": broken})
		// The gate says why in its log, in the words of `authgate rules
		// check` (the file, the line, the rule), quoted by the text log.
		_, _, perr := rules.Parse(file, []byte(broken))
		logged := "err=" + strconv.Quote(perr.Error())
		waitUntil(t, gate, "the broken rules logged", 10*time.Second, func() error {
			if !strings.Contains(gate.logTail(1<<16), logged) {
				return fmt.Errorf("no log line with %s yet", logged)
			}
			return nil
		})
		check(t, append(unchanged, want{"app.example.com", "/docs/guide", http.StatusOK})...)
	})
	t.Run("the next good edit applies", func(t *testing.T) {
		vol.update(t, map[string]string{"rules.yaml": original})
		waitFor(t, "app.example.com", "/docs/guide", http.StatusUnauthorized)
		check(t, unchanged...)
	})
	if gate.exited() || strings.Count(gate.logTail(1<<20), "authgate listening") != 1 {
		t.Errorf("the gate restarted or stopped (exited: %v)", gate.exited())
	}
}
