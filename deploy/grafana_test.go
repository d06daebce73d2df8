package deploy

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// grafanaDashboard is deploy/grafana/authgate.json, as far as the test
// reads it.
type grafanaDashboard struct {
	UID           string         `json:"uid"`
	Title         string         `json:"title"`
	SchemaVersion int            `json:"schemaVersion"`
	ID            *int           `json:"id"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query string `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type grafanaDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaPanel struct {
	ID         int                `json:"id"`
	Type       string             `json:"type"`
	Title      string             `json:"title"`
	Datasource *grafanaDatasource `json:"datasource"`
	GridPos    struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string             `json:"refId"`
		Expr       string             `json:"expr"`
		Datasource *grafanaDatasource `json:"datasource"`
	} `json:"targets"`
}

// TestGrafanaDashboard: deploy/grafana/authgate.json is a dashboard Grafana
// imports (valid JSON, a uid, panels that fit the grid, every query on the
// dashboard's Prometheus variable), and every query asks for what the real
// gate exports: the metric names, their labels and the values of the
// labels from fixed sets, checked against a scrape of the binary's
// metrics listener. Every authgate_ metric has a place on it.
func TestGrafanaDashboard(t *testing.T) {
	t.Parallel()
	path := filepath.Join("grafana", "authgate.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) {
		t.Fatalf("%s is not valid JSON", path)
	}
	var d grafanaDashboard
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if d.UID == "" || len(d.UID) > 40 || d.Title == "" {
		t.Errorf("dashboard uid %q (1 to 40 characters) and title %q are required", d.UID, d.Title)
	}
	if d.ID != nil {
		t.Errorf(`dashboard "id": %d: an exported dashboard has "id": null, or an import overwrites another`, *d.ID)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d: want 36 or later (datasource references by uid)", d.SchemaVersion)
	}
	if len(d.Panels) == 0 {
		t.Fatal("the dashboard has no panels")
	}

	// One Prometheus data source variable, which every query uses: the
	// importer picks the data source, and a provisioned file works as is.
	var dsVar string
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && v.Query == "prometheus" {
			dsVar = "${" + v.Name + "}"
		}
	}
	if dsVar == "" {
		t.Fatal("no templating variable of type datasource for prometheus")
	}
	usesVar := func(ds *grafanaDatasource) bool { return ds != nil && ds.Type == "prometheus" && ds.UID == dsVar }

	e := exportedMetrics(t)
	used := map[string]bool{}
	ids := map[int]bool{}
	cells := map[[2]int]int{} // grid cell: the panel on it
	for _, p := range d.Panels {
		where := "panel " + p.Title
		if p.ID <= 0 || ids[p.ID] {
			t.Errorf("%s: id %d is not positive and unique", where, p.ID)
		}
		ids[p.ID] = true
		if p.Title == "" || (p.Type != "timeseries" && p.Type != "stat") {
			t.Errorf("panel %d: title %q, type %q (timeseries or stat)", p.ID, p.Title, p.Type)
		}
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v does not fit Grafana's 24 columns", where, g)
		}
		overlaps := map[int]bool{}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := cells[[2]int{x, y}]; ok {
					overlaps[other] = true
				}
				cells[[2]int{x, y}] = p.ID
			}
		}
		for other := range overlaps {
			t.Errorf("%s: gridPos %+v overlaps panel %d", where, g, other)
		}
		if !usesVar(p.Datasource) {
			t.Errorf("%s: datasource %+v, want prometheus %s", where, p.Datasource, dsVar)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no query", where)
		}
		refs := map[string]bool{}
		for _, q := range p.Targets {
			if q.RefID == "" || refs[q.RefID] {
				t.Errorf("%s: refId %q is not unique", where, q.RefID)
			}
			refs[q.RefID] = true
			if !usesVar(q.Datasource) {
				t.Errorf("%s %s: datasource %+v, want prometheus %s", where, q.RefID, q.Datasource, dsVar)
			}
			checkPromQL(t, where+" "+q.RefID, q.Expr, e)
			for _, n := range promName.FindAllString(q.Expr, -1) {
				if f, ok := e.family(n); ok {
					used[f] = true
				}
			}
		}
	}
	for _, f := range e.families("authgate_") {
		if !used[f] {
			t.Errorf("no panel shows %s: give a new metric a place on %s", f, path)
		}
	}

	// The panels the README promises.
	var titles []string
	for _, p := range d.Panels {
		titles = append(titles, strings.ToLower(p.Title))
	}
	for _, want := range []string{"by code", "latency", "by reason", "sign-ins", "lockouts", "store up", "hit ratio", "rules loaded", "reload errors"} {
		if !slices.ContainsFunc(titles, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("no panel titled ...%s...", want)
		}
	}
}
