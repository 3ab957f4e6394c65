package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Row is one line of the results: a depthcast figure beside one baseline. Trials hold every trial's value
// in run order (trials of the contender and the baseline alternate); Value and BaselineValue are medians.
type Row struct {
	Scenario       string    `json:"scenario"`
	Metric         string    `json:"metric"`
	Value          float64   `json:"value"`
	Unit           string    `json:"unit"`
	Baseline       string    `json:"baseline,omitempty"`
	BaselineValue  float64   `json:"baseline_value,omitempty"`
	Ratio          float64   `json:"ratio,omitempty"` // Value / BaselineValue
	PerCPUSecond   float64   `json:"per_cpu_second,omitempty"`
	BaselinePerCPU float64   `json:"baseline_per_cpu_second,omitempty"`
	Target         string    `json:"target,omitempty"`
	Pass           *bool     `json:"pass,omitempty"`
	Trials         []float64 `json:"trials,omitempty"`
	BaselineTrials []float64 `json:"baseline_trials,omitempty"`
	Notes          string    `json:"notes,omitempty"`
}

// Machine describes where the figures come from.
type Machine struct {
	CPUModel      string `json:"cpu_model"`
	Cores         int    `json:"cores"`
	GOMAXPROCS    int    `json:"gomaxprocs"`
	GoVersion     string `json:"go_version"`
	OS            string `json:"os"`
	Arch          string `json:"arch"`
	Kernel        string `json:"kernel,omitempty"`
	MemTotal      string `json:"mem_total,omitempty"`
	LoadAvgBefore string `json:"load_avg_before,omitempty"`
	LoadAvgAfter  string `json:"load_avg_after,omitempty"`
}

type report struct {
	Mode      string   `json:"mode"`
	StartedAt string   `json:"started_at"`
	DurationS float64  `json:"duration_s"`
	Machine   Machine  `json:"machine"`
	Results   []Row    `json:"results"`
	Notes     []string `json:"notes,omitempty"`
}

func newReport(quick bool) *report {
	mode := "full"
	if quick {
		mode = "quick"
	}
	return &report{Mode: mode, StartedAt: time.Now().UTC().Format(time.RFC3339), Machine: machineInfo()}
}

func (r *report) add(row Row) {
	if row.BaselineValue != 0 {
		row.Ratio = row.Value / row.BaselineValue
	}
	r.Results = append(r.Results, row)
	fmt.Fprintf(os.Stderr, "   %-28s %-26s %s\n", row.Scenario, row.Metric, rowSummary(row))
}

func (r *report) note(format string, a ...any) {
	s := fmt.Sprintf(format, a...)
	r.Notes = append(r.Notes, s)
	fmt.Fprintln(os.Stderr, "   note:", s)
}

func rowSummary(row Row) string {
	s := fmtNum(row.Value) + " " + row.Unit
	if row.Baseline != "" {
		s += fmt.Sprintf("  vs %s %s  (x%.2f)", row.Baseline, fmtNum(row.BaselineValue), row.Ratio)
	}
	if row.Pass != nil {
		s += fmt.Sprintf("  pass=%v", *row.Pass)
	}
	return s
}

func (r *report) finish(d time.Duration) {
	r.DurationS = math.Round(d.Seconds()*10) / 10
	r.Machine.LoadAvgAfter = loadAvg()
}

func (r *report) write(dir, md string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "latest.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "latest.md"), []byte(md), 0o644)
}

func (r *report) markdown() string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "### depthcast bench (%s mode, %s, %.0f s)\n\n", r.Mode, r.StartedAt, r.DurationS)
	fmt.Fprintf(&b, "Machine: %s, %d cores (GOMAXPROCS %d), %s, %s/%s, kernel %s, RAM %s. Load average before %s, after %s.\n\n",
		m.CPUModel, m.Cores, m.GOMAXPROCS, m.GoVersion, m.OS, m.Arch, m.Kernel, m.MemTotal, m.LoadAvgBefore, m.LoadAvgAfter)
	b.WriteString("| scenario | metric | depthcast | unit | baseline | baseline value | ratio | per CPU-s (dc / base) | target | pass |\n")
	b.WriteString("|---|---|---:|---|---|---:|---:|---|---|---|\n")
	for _, row := range r.Results {
		base, bval, ratio := "", "", ""
		if row.Baseline != "" {
			base, bval, ratio = row.Baseline, fmtNum(row.BaselineValue), fmt.Sprintf("%.2f", row.Ratio)
		}
		cpu := ""
		if row.PerCPUSecond != 0 {
			cpu = fmtNum(row.PerCPUSecond)
			if row.BaselinePerCPU != 0 {
				cpu += " / " + fmtNum(row.BaselinePerCPU)
			}
		}
		pass := ""
		if row.Pass != nil {
			pass = map[bool]string{true: "yes", false: "**no**"}[*row.Pass]
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			row.Scenario, row.Metric, fmtNum(row.Value), row.Unit, base, bval, ratio, cpu, row.Target, pass)
	}
	var notes []string
	for _, row := range r.Results {
		if row.Notes != "" {
			notes = append(notes, fmt.Sprintf("- %s / %s: %s", row.Scenario, row.Metric, row.Notes))
		}
	}
	for _, n := range r.Notes {
		notes = append(notes, "- "+n)
	}
	if len(notes) > 0 {
		b.WriteString("\nNotes:\n\n")
		b.WriteString(strings.Join(notes, "\n"))
		b.WriteString("\n")
	}
	return b.String()
}

// fmtNum prints a figure with a precision that suits its size.
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

func boolp(b bool) *bool { return &b }

// median of xs (0 for none). xs is not modified.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of sorted xs: the smallest value
// with at least p% of the samples at or below it, i.e. the ceil(p·n/100)-th. p·n/100 is computed in
// floating point, where e.g. 99.9·1000/100 comes out as 999.0000000000001: a result within a relative
// 1e-9 of an integer is taken as that integer, so the ceiling does not pick one rank too high.
func percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := nearestRank(p, len(sorted))
	return sorted[rank-1]
}

// nearestRank is ceil(p·n/100), clamped to 1..n, with the float rounding guard of percentile.
func nearestRank(p float64, n int) int {
	x := p * float64(n) / 100
	r := math.Round(x)
	if math.Abs(x-r) > 1e-9*math.Max(1, x) {
		r = math.Ceil(x)
	}
	return min(max(int(r), 1), n)
}

// latencyStats summarizes samples in nanoseconds (sorted in place).
type latencyStats struct {
	N                         int
	P50, P99, P999, Max, Mean time.Duration
}

func summarize(ns []int64) latencyStats {
	if len(ns) == 0 {
		return latencyStats{}
	}
	slices.Sort(ns)
	var sum float64
	for _, v := range ns {
		sum += float64(v)
	}
	return latencyStats{N: len(ns), P50: time.Duration(percentile(ns, 50)), P99: time.Duration(percentile(ns, 99)),
		P999: time.Duration(percentile(ns, 99.9)), Max: time.Duration(ns[len(ns)-1]), Mean: time.Duration(sum / float64(len(ns)))}
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func machineInfo() Machine {
	m := Machine{Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		OS: runtime.GOOS, Arch: runtime.GOARCH, LoadAvgBefore: loadAvg()}
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	m.MemTotal = procField("/proc/meminfo", "MemTotal")
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
