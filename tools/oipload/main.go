// Command oipload is a bounded load generator for any Open Inference Protocol (KServe v2) REST server: throughput, latency percentiles, 503s, answer checks and the server's peak memory.
//
//	go run ./tools/oipload -url http://127.0.0.1:8080 -model resnet50v2 -concurrency 8 -requests 400 -check -pid $PID
//
// With -wait D it first polls GET /v2/health/ready until the server is
// ready, for at most D. It reads the model's input shape from
// GET /v2/models/{name}, builds -distinct request bodies of -images images each (deterministic values
// k/128 − 1 drawn from -seed, a different image for every image index),
// and sends them in turn, each with its own "id", from -concurrency
// workers: never more than -requests requests and never for longer than
// -duration (requests the end of -duration cuts off are counted as
// cancelled). The request bodies are encoded once, before the clock
// starts.
//
// With -binary the input travels as little-endian float32 bytes after
// a JSON header, as the protocol's binary tensor data extension says
// (Inference-Header-Content-Length), and the output is asked for the same
// way (an answer in JSON is read too).
//
// A 200 whose answer echoes the request's id and holds one FP32 output of
// shape [n, classes] is OK; a 503 is counted as overloaded; anything else
// (other statuses, malformed answers, timeouts, refused connections) is an
// error. With -check, every OK answer is compared bit for bit with the
// expected output of its own images: those of a -reference file, or,
// without one, the answers to each distinct body fetched first, one at a
// time, before the load phase and outside its counts, in at most another
// -duration (-save-reference writes them). A wrong answer is a mismatch; one
// equal to another image's expected output is reported as mixed up.
//
// It prints one summary line (key=value) and, with -json PATH, the report
// as JSON (-json -: the JSON on stdout, the summary on stderr). Latency percentiles are nearest-rank over
// the OK requests, from sending the request to reading the whole answer.
// -pid PID adds the server's peak resident memory (VmHWM of
// /proc/PID/status, Linux). Throughput counts the images of OK requests
// over the load phase's wall time.
//
// Exit status: 0; 1 when an error or a mismatch was counted (503s are not
// errors: they are the server's backpressure); 2 for bad flags or when the
// run cannot start (metadata unreadable, the expected outputs not
// fetched). Output files are created, never overwritten.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/rnc-dev/rnc/internal/fileio"
)

// maxReference bounds a -reference file.
const maxReference = 1 << 30

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("oipload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8080", "the server's base URL")
	fs.StringVar(&o.Model, "model", "", "the served model's name (required)")
	fs.IntVar(&o.Concurrency, "concurrency", 1, "requests in flight at once, 1–64")
	fs.IntVar(&o.Requests, "requests", 0, "requests the load phase sends at most (0: as many as -duration allows; -check's reference requests, one per distinct body, come before and are not counted)")
	fs.DurationVar(&o.Duration, "duration", 0, "how long the load phase may run at most (0: until -requests are answered)")
	fs.IntVar(&o.Images, "images", 1, "images per request")
	fs.IntVar(&o.Distinct, "distinct", 0, "distinct request bodies, cycled (0: 2×concurrency, at most -requests)")
	seed := fs.Uint64("seed", 1, "seeds the input images")
	fs.DurationVar(&o.Timeout, "timeout", 60*time.Second, "one request's time limit")
	fs.DurationVar(&o.Wait, "wait", 0, "first wait up to this long for GET /v2/health/ready to answer 200 (a server starting)")
	fs.BoolVar(&o.Binary, "binary", false, "send the input as bytes with the binary tensor data extension (Inference-Header-Content-Length) and ask for the output so")
	fs.BoolVar(&o.Check, "check", false, "verify that every OK answer is its own images' expected output")
	refPath := fs.String("reference", "", "with -check: a file of expected outputs (what -save-reference writes) instead of fetching them")
	savePath := fs.String("save-reference", "", "with -check: write the expected outputs used to this new file")
	jsonPath := fs.String("json", "", `write the report as JSON to this new file ("-": stdout)`)
	pid := fs.Int("pid", 0, "the server's process id: report its peak RSS (VmHWM)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: oipload -model NAME [-url URL] [-concurrency N] [-requests N] [-duration D] [-images N] [-check] [-pid PID] [-json PATH]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "oipload: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	o.Seed = *seed
	if (*refPath != "" || *savePath != "") && !o.Check {
		fmt.Fprintln(stderr, "oipload: -reference and -save-reference need -check")
		return 2
	}
	if *refPath != "" && *savePath != "" {
		fmt.Fprintln(stderr, "oipload: -reference and -save-reference together: the reference would be copied, not made")
		return 2
	}
	if *pid < 0 {
		fmt.Fprintf(stderr, "oipload: -pid %d: want a process id\n", *pid)
		return 2
	}
	if *refPath != "" {
		ref, err := readReference(*refPath)
		if err != nil {
			fmt.Fprintf(stderr, "oipload: %v\n", err)
			return 2
		}
		o.Reference = ref
	}
	if *pid > 0 { // fail before the run, not after it
		if _, err := peakRSS(*pid); err != nil {
			fmt.Fprintf(stderr, "oipload: -pid: %v\n", err)
			return 2
		}
	}
	for _, p := range []string{*savePath, *jsonPath} {
		if p != "" && p != "-" {
			if _, err := os.Lstat(p); err == nil {
				fmt.Fprintf(stderr, "oipload: %s exists: oipload writes new files only\n", p)
				return 2
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, ref, err := Run(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "oipload: %v\n", err)
		return 2
	}
	if *pid > 0 {
		rss, err := peakRSS(*pid)
		if err != nil {
			fmt.Fprintf(stderr, "oipload: -pid: %v (the server exited?)\n", err)
		} else {
			rep.PeakRSS = rss
		}
	}
	if *jsonPath == "-" { // stdout is the JSON alone
		fmt.Fprintln(stderr, summary(rep, o.Check))
	} else {
		fmt.Fprintln(stdout, summary(rep, o.Check))
	}
	status := 0
	if *savePath != "" {
		b, err := json.Marshal(ref)
		if err == nil {
			err = createFile(*savePath, b)
		}
		if err != nil {
			fmt.Fprintf(stderr, "oipload: -save-reference: %v\n", err)
			status = 1
		}
	}
	if *jsonPath != "" {
		b, _ := json.MarshalIndent(rep, "", "  ") // a Report always marshals
		b = append(b, '\n')
		if *jsonPath == "-" {
			stdout.Write(b)
		} else if err := createFile(*jsonPath, b); err != nil {
			fmt.Fprintf(stderr, "oipload: -json: %v\n", err)
			status = 1
		}
	}
	if rep.FirstError != "" {
		fmt.Fprintf(stderr, "oipload: first error: %s\n", rep.FirstError)
	}
	if rep.FirstMismatch != "" {
		fmt.Fprintf(stderr, "oipload: first mismatch: %s\n", rep.FirstMismatch)
	}
	if rep.Errors > 0 || rep.Mismatch > 0 {
		status = 1
	}
	return status
}

// summary is the report's one line.
func summary(r *Report, check bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "model=%s concurrency=%d images=%d encoding=%s sent=%d ok=%d 503=%d errors=%d cancelled=%d images/s=%.2f p50=%.2fms p90=%.2fms p99=%.2fms seconds=%.2f",
		r.Model, r.Concurrency, r.Images, r.Encoding, r.Sent, r.OK, r.Overloaded, r.Errors, r.Cancelled, r.ImagesPerSec, r.P50, r.P90, r.P99, r.Seconds)
	if r.PeakRSS > 0 {
		fmt.Fprintf(&b, " peak_rss=%.1fMiB", float64(r.PeakRSS)/(1<<20))
	}
	if check {
		fmt.Fprintf(&b, " checked=%d mismatched=%d", r.Checked, r.Mismatch)
	}
	return b.String()
}

// peakRSS reads VmHWM, the peak resident set size, from /proc/PID/status.
func peakRSS(pid int) (int64, error) {
	// Not fileio.ReadFile: /proc files report a size of 0. The path is
	// made here, not named by the user.
	path := "/proc/" + strconv.Itoa(pid) + "/status"
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", path, err)
	}
	return parseVmHWM(b, path)
}

// parseVmHWM finds the line "VmHWM:   123456 kB" in a status file's text.
func parseVmHWM(b []byte, path string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%s: malformed line %q", path, sc.Text())
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 || kb > 1<<40 {
			return 0, fmt.Errorf("%s: malformed line %q", path, sc.Text())
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("%s: no VmHWM line (not Linux, or a kernel thread?)", path)
}

// readReference reads a -reference file.
func readReference(path string) (*Reference, error) {
	b, err := fileio.ReadFile(path, maxReference)
	if err != nil {
		return nil, fmt.Errorf("-reference: %w", err)
	}
	var r Reference
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("-reference %s: malformed JSON: %w", path, err)
	}
	if r.Model == "" || len(r.Outputs) == 0 {
		return nil, fmt.Errorf("-reference %s: no model name or no outputs: not what -save-reference writes", path)
	}
	return &r, nil
}

// createFile writes b to a new file at path; an existing file is an error.
func createFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists: oipload writes new files only", path)
		}
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
