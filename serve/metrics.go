package serve

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are a server's Prometheus metrics, in a registry of their own
// (not the global one), served by Handler at GET /metrics:
//
//	rnc_requests_total{model, code}            requests answered, by status code (499: the client went away)
//	rnc_request_duration_seconds{model}        request latency, body read to answer written
//	rnc_queue_wait_seconds{model}              time a request waited in the Batcher's queue
//	rnc_batch_size{model}                      images per Predict the Batcher ran
//	rnc_queue_depth{model}                     requests waiting in the Batcher's queue
//
// with the Go runtime's and the process's collectors. A nil *Metrics
// records nothing.
type Metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	wait       *prometheus.HistogramVec
	batch      *prometheus.HistogramVec
	queueGauge *prometheus.GaugeVec
}

// NewMetrics makes a server's metrics in a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rnc_requests_total", Help: "Inference requests answered, by model and HTTP status code (gRPC: the code's HTTP equivalent).",
		}, []string{"model", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rnc_request_duration_seconds", Help: "Inference request latency, from the request's arrival to its answer.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms … 16 s
		}, []string{"model"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rnc_queue_wait_seconds", Help: "Time a request waited in the batching queue before its batch took it.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 0.1 ms … 3.3 s
		}, []string{"model"}),
		batch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rnc_batch_size", Help: "Images per Predict the batcher ran.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10), // 1 … 512
		}, []string{"model"}),
		queueGauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rnc_queue_depth", Help: "Requests waiting in the batching queue.",
		}, []string{"model"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.wait, m.batch, m.queueGauge,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is the metrics' registry, for a transport's own metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveRequest records one answered request of model: its status code
// and latency. Transports other than REST call it too.
func (m *Metrics) ObserveRequest(model string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(model, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(model).Observe(d.Seconds())
}

func (m *Metrics) queueWait(model string, d time.Duration) {
	if m != nil {
		m.wait.WithLabelValues(model).Observe(d.Seconds())
	}
}

func (m *Metrics) batchSize(model string, n int) {
	if m != nil {
		m.batch.WithLabelValues(model).Observe(float64(n))
	}
}

func (m *Metrics) queueDepth(model string, delta int) {
	if m != nil {
		m.queueGauge.WithLabelValues(model).Add(float64(delta))
	}
}
