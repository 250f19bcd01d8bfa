package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/internal/python"
)

// serverFlags are the flags of the binary `rnc compile --server` writes
// (DIR/cmd/serve) that the manifest may pass.
var serverFlags = []string{"addr", "grpc-addr", "name", "weights", "threads", "max-batch", "max-delay", "queue", "log-level"}

// manifest parses inferenceservice.yaml with python3's yaml module (PyYAML;
// Debian: python3-yaml) into generic JSON values, or skips saying why.
func manifest(t *testing.T) map[string]any {
	t.Helper()
	py, why := python.Find("yaml")
	if py == "" {
		t.Skip("the manifest check parses YAML with python3's yaml module: " + why)
	}
	out, err := exec.Command(py, "-c", `import json, sys, yaml
docs = list(yaml.safe_load_all(open("kserve/inferenceservice.yaml")))
if len(docs) != 1:
    sys.exit("want one YAML document, got %d" % len(docs))
json.dump(docs[0], sys.stdout)`).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("kserve/inferenceservice.yaml does not parse: %v\n%s", err, msg)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// get walks a path of map keys and list indexes.
func get(t *testing.T, v any, path ...any) any {
	t.Helper()
	for i, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("manifest: %v is not a map", path[:i])
			}
			if v, ok = m[k]; !ok {
				t.Fatalf("manifest: no %v", path[:i+1])
			}
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("manifest: %v is not a list of more than %d", path[:i], k)
			}
			v = l[k]
		}
	}
	return v
}

func TestInferenceService(t *testing.T) {
	m := manifest(t)
	if get(t, m, "apiVersion") != "serving.kserve.io/v1beta1" || get(t, m, "kind") != "InferenceService" {
		t.Errorf("apiVersion %v, kind %v", m["apiVersion"], m["kind"])
	}
	containers := get(t, m, "spec", "predictor", "containers").([]any)
	if len(containers) != 1 {
		t.Fatalf("%d predictor containers, want 1", len(containers))
	}
	c := containers[0]
	if get(t, c, "name") != "kserve-container" {
		t.Errorf("container name %v: KServe's storage initializer serves STORAGE_URI to kserve-container only", get(t, c, "name"))
	}
	// Ports: REST and gRPC, as the Dockerfile exposes them.
	var ports []string
	for _, p := range get(t, c, "ports").([]any) {
		ports = append(ports, fmt.Sprintf("%v:%v/%v", get(t, p, "name"), get(t, p, "containerPort"), get(t, p, "protocol")))
	}
	if want := []string{"http1:8080/TCP", "h2c:8081/TCP"}; !slices.Equal(ports, want) {
		t.Errorf("ports %q, want %q", ports, want)
	}
	for probe, path := range map[string]string{"readinessProbe": "/v2/health/ready", "livenessProbe": "/v2/health/live"} {
		if got := get(t, c, probe, "httpGet", "path"); got != path {
			t.Errorf("%s path %v, want %s", probe, got, path)
		}
		if got := get(t, c, probe, "httpGet", "port"); got != 8080.0 {
			t.Errorf("%s port %v, want 8080", probe, got)
		}
	}
	// Arguments: flags of the server binary, each -flag=value.
	var weights string
	for _, a := range get(t, c, "args").([]any) {
		s, _ := a.(string)
		name, value, ok := strings.Cut(strings.TrimPrefix(s, "-"), "=")
		if !ok || !strings.HasPrefix(s, "-") || !slices.Contains(serverFlags, name) || value == "" {
			t.Errorf("argument %q: want -FLAG=VALUE with one of the server's flags %q", s, serverFlags)
		}
		if name == "weights" {
			weights = value
		}
	}
	env := map[string]string{}
	for _, e := range get(t, c, "env").([]any) {
		env[get(t, e, "name").(string)] = jsonString(get(t, e, "value"))
	}
	if uri := env["STORAGE_URI"]; uri == "" || !strings.HasPrefix(weights, "/mnt/models/") || !strings.HasSuffix(strings.Trim(uri, `"`), weights[len("/mnt/models"):]) {
		t.Errorf("-weights=%s is not where the storage initializer puts STORAGE_URI %s (/mnt/models/ and its base name)", weights, uri)
	}
	for _, kind := range []string{"requests", "limits"} {
		if cpu := get(t, c, "resources", kind, "cpu"); cpu != "1" && cpu != "2" {
			t.Errorf("resources.%s.cpu %v, want 1 or 2", kind, cpu)
		}
		if mem, _ := get(t, c, "resources", kind, "memory").(string); !regexp.MustCompile(`^[0-9]+(Mi|Gi)$`).MatchString(mem) {
			t.Errorf("resources.%s.memory %q", kind, mem)
		}
	}
	if get(t, c, "securityContext", "runAsNonRoot") != true || get(t, c, "securityContext", "runAsUser") != 65532.0 {
		t.Error("the container must run as the image's non-root user 65532")
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// The Dockerfile builds the --server binary statically into a distroless
// image, as the non-root user, exposing the manifest's ports.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string // instructions, comments and continuations joined
	for _, l := range strings.Split(strings.ReplaceAll(string(b), "\\\n", " "), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	has := func(re string) bool {
		r := regexp.MustCompile(re)
		return slices.ContainsFunc(lines, r.MatchString)
	}
	for _, want := range []string{
		`^FROM golang:\$\{GO_VERSION\} AS build$`,
		`^ENV CGO_ENABLED=0 `,
		`^ARG MODEL=models/resnet50v2\.rn$`,
		`^RUN go run \./cmd/rnc compile "\$MODEL" -o /src/gen/model --server .*&& go build .*-o /out/serve \./gen/model/cmd/serve `,
		`^FROM gcr\.io/distroless/static-debian12:nonroot$`,
		`^USER 65532:65532$`,
		`^EXPOSE 8080 8081$`,
		`^ENTRYPOINT \["/serve", "-addr", ":8080", "-grpc-addr", ":8081"\]$`,
	} {
		if !has(want) {
			t.Errorf("Dockerfile: no line matching %s", want)
		}
	}
	if has(`^HEALTHCHECK`) {
		t.Error("Dockerfile: a HEALTHCHECK: Kubernetes probes the health endpoints itself")
	}
	if _, err := os.Stat("../models/resnet50v2.rn"); err != nil {
		t.Errorf("the default MODEL: %v", err)
	}
}
