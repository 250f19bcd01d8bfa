package main

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestReportVariants regenerates docs/variants.md without latencies (rnc
// report variants --no-latency) and checks that the committed document
// equals it in everything but the latency line and column, so that it
// cannot go stale: a change to a model, a pass or the kernels that moves a
// column needs `rnc report variants -o docs/variants.md`.
func TestReportVariants(t *testing.T) {
	got, err := rnc(t, "report", "variants", "--no-latency")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(path("docs/variants.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "\nLatency: not measured") || strings.Count(got, "\n| ") < 30 {
		t.Fatalf("report:\n%s", got)
	}
	if strings.Contains(string(want), "\nLatency: not measured") {
		t.Errorf("docs/variants.md has no latencies: run rnc report variants -o docs/variants.md")
	}
	if d := cmp.Diff(maskLatency(string(want)), maskLatency(got)); d != "" {
		t.Errorf("docs/variants.md is stale: run rnc report variants -o docs/variants.md (-committed +now):\n%s", d)
	}
}

func TestReportErrors(t *testing.T) {
	if _, err := rnc(t, "report", "nope"); err == nil || !strings.Contains(err.Error(), `unknown report "nope"`) {
		t.Errorf("error %v", err)
	}
	if _, err := rnc(t, "report", "variants", "--runs", "0"); err == nil {
		t.Error("--runs 0: no error")
	}
}

// TestMaskLatency: masking keeps everything but the latency line and
// column.
func TestMaskLatency(t *testing.T) {
	a := "x\nLatency: measured on a day\n| variant | model | p | c | g | s | go | k | ms | err |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n| v | m | 1 | 2 | 3 | 4 | 5 | 6 | 1.25 | 6.61 |\n"
	b := "x\nLatency: not measured\n| variant | model | p | c | g | s | go | k | ms | err |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n| v | m | 1 | 2 | 3 | 4 | 5 | 6 |  | 6.61 |\n"
	if maskLatency(a) != maskLatency(b) {
		t.Errorf("%q\n%q", maskLatency(a), maskLatency(b))
	}
	if c := strings.Replace(b, "| 6 |", "| 7 |", 1); maskLatency(c) == maskLatency(a) {
		t.Error("a kernel count change is masked")
	}
}
