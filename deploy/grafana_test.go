package deploy_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dashboard is the part of Grafana's dashboard JSON the checks read.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string     `json:"name"`
			Datasource datasource `json:"datasource"`
			Query      struct {
				Query string `json:"query"`
			} `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	GridPos    struct{ H, W, X, Y int }
	Targets    []struct {
		RefID        string      `json:"refId"`
		Expr         string      `json:"expr"`
		LegendFormat string      `json:"legendFormat"`
		Datasource   *datasource `json:"datasource"`
	} `json:"targets"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

var (
	legendLabel = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
	labelValues = regexp.MustCompile(`^label_values\(\s*([^,]+?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)
)

// What the dashboard must show (each as the metric it is read from).
var dashboardMust = map[string]string{
	"open connections":           "depthcast_feed_connections",
	"messages sent per second":   "depthcast_feed_messages_sent_total",
	"slow-consumer closes":       "depthcast_feed_slow_consumers_total",
	"closes by code":             "depthcast_feed_disconnects_total",
	"ingest records per second":  "depthcast_ingest_events_total",
	"rejects by reason":          "depthcast_ingest_records_rejected_total",
	"consumer lag":               "depthcast_ingest_partition_lag",
	"books live (all known ...)": "depthcast_ingest_symbols",
	"books stale":                "depthcast_ingest_books_stale",
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("grafana/dashboards/depthcast.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("depthcast.json: %v", err)
	}
	if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
		t.Fatalf("depthcast.json: uid %q, title %q, %d panels", d.UID, d.Title, len(d.Panels))
	}
	return d
}

// The dashboard is well formed and refers to the provisioned data source.
func TestDashboardStructure(t *testing.T) {
	d := readDashboard(t)
	dsUID := provisionedDatasource(t)
	ids := map[int]bool{}
	type cell struct{ x, y int }
	taken := map[cell]string{}
	for _, p := range d.Panels {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if p.ID == 0 || ids[p.ID] {
			t.Errorf("%s: id missing or repeated", where)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v outside the 24-column grid", where, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := taken[cell{x, y}]; ok {
					t.Errorf("%s overlaps %s", where, other)
					x, y = 1<<30, 1<<30
				}
				taken[cell{x, y}] = where
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Title == "" || len(p.Targets) == 0 {
			t.Errorf("%s: no title or no query", where)
		}
		if p.Datasource == nil || p.Datasource.UID != dsUID {
			t.Errorf("%s: data source %+v, want the provisioned uid %q", where, p.Datasource, dsUID)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("%s: target %q with expr %q: empty or repeated", where, tg.RefID, tg.Expr)
			}
			refs[tg.RefID] = true
			if tg.Datasource != nil && tg.Datasource.UID != dsUID {
				t.Errorf("%s: target data source %q, want %q", where, tg.Datasource.UID, dsUID)
			}
		}
	}
	for _, v := range d.Templating.List {
		if v.Datasource.UID != dsUID {
			t.Errorf("variable %s: data source %q, want %q", v.Name, v.Datasource.UID, dsUID)
		}
	}
}

// Every query of the dashboard reads metrics and labels a real node exports, and together they show what an
// operator of the feed needs.
func TestDashboardQueriesRealMetrics(t *testing.T) {
	d := readDashboard(t)
	metrics := realNode(t).metrics
	queried := map[string]bool{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			where := fmt.Sprintf("panel %q target %s", p.Title, tg.RefID)
			q := checkQuery(t, where, tg.Expr, metrics, "instance", "job", "service")
			for _, m := range q.metrics {
				queried[m] = true
			}
			for _, m := range legendLabel.FindAllStringSubmatch(tg.LegendFormat, -1) {
				if !slices.Contains(q.labels, m[1]) {
					t.Errorf("%s: legend {{%s}} is not a label the query keeps (%v)", where, m[1], q.labels)
				}
			}
		}
	}
	for _, v := range d.Templating.List {
		m := labelValues.FindStringSubmatch(v.Query.Query)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(metric, label)", v.Name, v.Query.Query)
			continue
		}
		checkQuery(t, "variable "+v.Name, m[1]+` by (`+m[2]+`)`, metrics, "instance", "job", "service")
	}
	for what, m := range dashboardMust {
		if !queried[m] {
			t.Errorf("the dashboard shows no %s (%s)", what, m)
		}
	}
}

// provisionedDatasource returns the uid of the Prometheus data source Grafana is provisioned with, after
// checking that it points at the compose stack's Prometheus.
func provisionedDatasource(t *testing.T) string {
	t.Helper()
	doc := readYAML(t, "grafana/provisioning/datasources/prometheus.yaml")[0]
	ds := list(doc, "datasources")
	if len(ds) != 1 || str(ds[0], "type") != "prometheus" || str(ds[0], "uid") == "" {
		t.Fatalf("datasources: want one prometheus data source with a uid, got %v", ds)
	}
	u, err := url.Parse(str(ds[0], "url"))
	if err != nil {
		t.Fatalf("datasource url: %v", err)
	}
	host, port, _ := net.SplitHostPort(u.Host)
	svc := composeServices(t)[host]
	if svc == nil {
		t.Errorf("datasource url %s: no compose service %q", u, host)
	} else if !slices.Contains(stringList(t, "prometheus command", get(svc, "command")), "--config.file=/etc/prometheus/prometheus.yml") || port != "9090" {
		t.Errorf("datasource url %s: want the prometheus service on 9090", u)
	}
	return str(ds[0], "uid")
}

// Grafana loads the dashboards from where compose mounts them.
func TestDashboardProvisioning(t *testing.T) {
	doc := readYAML(t, "grafana/provisioning/dashboards/depthcast.yaml")[0]
	path := str(doc, "providers", 0, "options", "path")
	if path == "" {
		t.Fatal("dashboard provider: no options.path")
	}
	mounts := map[string]string{} // container path -> host path
	for _, v := range stringList(t, "grafana volumes", get(composeServices(t)["grafana"], "volumes")) {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 {
			mounts[parts[1]] = parts[0]
		}
	}
	src, ok := mounts[path]
	if !ok {
		t.Fatalf("grafana: nothing is mounted at the provider path %s (mounts %v)", path, mounts)
	}
	if _, err := os.Stat(filepath.Join(src, "depthcast.json")); err != nil {
		t.Errorf("grafana: %s mounted at %s has no depthcast.json: %v", src, path, err)
	}
	if src, ok := mounts["/etc/grafana/provisioning"]; !ok || filepath.Clean(src) != "grafana/provisioning" {
		t.Errorf("grafana: provisioning mounted from %q, want ./grafana/provisioning", src)
	}
}
