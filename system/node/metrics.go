package node

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the node's Prometheus series.
type metrics struct {
	reg            *prometheus.Registry
	checkpointLag  *prometheus.GaugeVec
	resolvedLag    *prometheus.GaugeVec
	epoch          *prometheus.GaugeVec
	role           *prometheus.GaugeVec
	rowsWritten    *prometheus.CounterVec
	watermarks     *prometheus.CounterVec
	decisions      *prometheus.CounterVec
	produceUnknown prometheus.Counter
}

func newMetrics(node string) *metrics {
	labels := prometheus.Labels{"node": node}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		checkpointLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "chaosrun_checkpoint_lag_seconds",
			Help: "Now minus the physical time of the changefeed checkpoint this node last wrote as a watermark.", ConstLabels: labels},
			[]string{"changefeed"}),
		resolvedLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "chaosrun_resolved_lag_seconds",
			Help: "Now minus the physical time of the slowest local dispatcher's checkpoint.", ConstLabels: labels},
			[]string{"changefeed"}),
		epoch: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "chaosrun_maintainer_epoch",
			Help: "Maintainer epoch of the local dispatcher manager's recorded owner.", ConstLabels: labels},
			[]string{"changefeed"}),
		role: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "chaosrun_role",
			Help: "1 while the node holds the role.", ConstLabels: labels},
			[]string{"role"}),
		rowsWritten: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chaosrun_rows_written_total",
			Help: "Row records acknowledged by Kafka.", ConstLabels: labels},
			[]string{"changefeed"}),
		watermarks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chaosrun_watermarks_written_total",
			Help: "Watermark broadcasts acknowledged by Kafka.", ConstLabels: labels},
			[]string{"changefeed"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chaosrun_fencing_decisions_total",
			Help: "Fencing decisions by rule and verdict.", ConstLabels: labels},
			[]string{"rule", "verdict"}),
		produceUnknown: prometheus.NewCounter(prometheus.CounterOpts{Name: "chaosrun_produce_unknown_total",
			Help: "Records whose produce outcome was unknown and were resent.", ConstLabels: labels}),
	}
	m.reg.MustRegister(m.checkpointLag, m.resolvedLag, m.epoch, m.role, m.rowsWritten, m.watermarks, m.decisions, m.produceUnknown)
	return m
}
