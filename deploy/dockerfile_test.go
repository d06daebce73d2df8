package deploy

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dockerInstruction is one Dockerfile instruction, continuation lines joined.
type dockerInstruction struct {
	cmd  string // upper case
	args string
}

func parseDockerfile(tb testing.TB, p string) []dockerInstruction {
	tb.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	var out []dockerInstruction
	var cur strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, dockerInstruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	p := filepath.Join("docker", "Dockerfile")
	ins := parseDockerfile(t, p)
	known := map[string]bool{"FROM": true, "WORKDIR": true, "COPY": true, "RUN": true, "USER": true, "ENV": true,
		"EXPOSE": true, "ENTRYPOINT": true, "CMD": true, "ARG": true, "LABEL": true}
	var froms []string
	var user, entrypoint, listen, expose, build string
	var finalCopies []string
	for _, in := range ins {
		if !known[in.cmd] {
			t.Errorf("%s: unknown instruction %q", p, in.cmd)
		}
		switch in.cmd {
		case "FROM":
			froms = append(froms, in.args)
			user, finalCopies = "", nil
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "ENV":
			if v, ok := strings.CutPrefix(in.args, "AUTHGATE_LISTEN="); ok {
				listen = v
			}
		case "EXPOSE":
			expose = in.args
		case "RUN":
			if strings.Contains(in.args, "go build") {
				build = in.args
			}
		case "COPY":
			finalCopies = append(finalCopies, in.args)
		}
	}
	if len(froms) < 2 {
		t.Fatalf("%s: want a multi-stage build, got FROM %v", p, froms)
	}

	// The build stage's Go is the one go.mod asks for.
	gomod, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	if want := "golang:" + string(m[1]); !strings.HasPrefix(froms[0], want) {
		t.Errorf("%s: build stage %q, want %s (go.mod says go %s)", p, froms[0], want, m[1])
	}
	if !strings.Contains(build, "CGO_ENABLED=0") || !strings.Contains(build, "./cmd/authgate") {
		t.Errorf("%s: build step %q must build ./cmd/authgate with CGO_ENABLED=0 (a static binary)", p, build)
	}
	out := regexp.MustCompile(`-o\s+(\S+)`).FindStringSubmatch(build)
	final := froms[len(froms)-1]
	if !strings.HasPrefix(final, "gcr.io/distroless/static") || !strings.HasSuffix(final, ":nonroot") {
		t.Errorf("%s: final stage %q, want gcr.io/distroless/static...:nonroot", p, final)
	}
	if user != "nonroot" && user != "nonroot:nonroot" && user != "65532" && user != "65532:65532" {
		t.Errorf("%s: final stage USER %q, want nonroot", p, user)
	}
	var entry []string
	if err := json.Unmarshal([]byte(entrypoint), &entry); err != nil || len(entry) == 0 {
		t.Fatalf("%s: ENTRYPOINT %q is not the exec (JSON) form", p, entrypoint)
	}
	copied := false
	for _, c := range finalCopies {
		f := strings.Fields(c)
		copied = copied || (out != nil && len(f) == 3 && strings.HasPrefix(f[0], "--from=") && f[1] == out[1] && f[2] == entry[0])
	}
	if !copied {
		t.Errorf("%s: the final stage does not COPY the built binary (%v) to the ENTRYPOINT %s", p, out, entry[0])
	}
	if _, port, err := net.SplitHostPort(listen); err != nil || port != expose {
		t.Errorf("%s: EXPOSE %q, AUTHGATE_LISTEN %q", p, expose, listen)
	}

	t.Run("dockerignore keeps what the build needs", func(t *testing.T) {
		ignore := filepath.Join("docker", "Dockerfile.dockerignore")
		b, err := os.ReadFile(ignore)
		if err != nil {
			t.Fatal(err)
		}
		var patterns []string
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				patterns = append(patterns, l)
			}
		}
		if !slices.Contains(patterns, "deploy") {
			t.Errorf("%s does not exclude deploy/, where compose.yml's secret lives", ignore)
		}
		cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", "./cmd/authgate")
		cmd.Dir = ".."
		outb, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list: %v", err)
		}
		root, _ := filepath.Abs("..")
		for _, dir := range strings.Fields(string(outb)) {
			rel, err := filepath.Rel(root, dir)
			if err != nil || strings.HasPrefix(rel, "..") {
				continue // a module dependency, downloaded by go mod download
			}
			for _, pat := range patterns {
				if ok, _ := filepath.Match(pat, strings.Split(rel, string(filepath.Separator))[0]); ok {
					t.Errorf("%s excludes %s, which ./cmd/authgate needs", ignore, rel)
				}
			}
		}
	})
}
