package randmodel

import (
	"regexp"
	"testing"
)

// TestConvArguments: the models of the default seeds of codegen
// TestRandomGraphs (1–48) have dilated convs — "same" and "valid", strided
// and not, square and not — and convs with an activation argument, so
// that the differential test runs them on every target.
func TestConvArguments(t *testing.T) {
	dilated := regexp.MustCompile(`Conv2D\(([^\n]*)dilation_rate = (\d|\[\d, \d\])`)
	kinds := map[string]int{}
	for seed := uint64(1); seed <= 48; seed++ {
		m := New(seed)
		for _, c := range dilated.FindAllStringSubmatch(m.Source, -1) {
			args, rate := c[1], c[2]
			kinds["dilated"]++
			if regexp.MustCompile(`padding = "same"`).MatchString(args) {
				kinds["same"]++
			} else {
				kinds["valid"]++
			}
			if regexp.MustCompile(`strides = `).MatchString(args) {
				kinds["strided"]++
			}
			if rate[0] == '[' {
				kinds["non-square"]++
			}
		}
		kinds["activation"] += m.Ops["Conv2D(activation)"]
		if m.Ops["Conv2D(dilation_rate)"] != len(dilated.FindAllString(m.Source, -1)) {
			t.Errorf("seed %d: Ops counts %d dilated convs, the source has %d", seed, m.Ops["Conv2D(dilation_rate)"], len(dilated.FindAllString(m.Source, -1)))
		}
	}
	t.Logf("%v", kinds)
	for _, k := range []string{"dilated", "same", "valid", "strided", "non-square", "activation"} {
		if kinds[k] == 0 {
			t.Errorf("no %s conv in seeds 1-48: %v", k, kinds)
		}
	}
}
