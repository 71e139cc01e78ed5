//! CloudWatch metrics in the Embedded Metric Format: a [`Metrics`] accumulator per invocation and
//! one EMF JSON line on stdout, which CloudWatch Logs turns into metrics without any API call.
//!
//! Hand-rolled rather than taken from a crate: `metrique` needs Rust 1.91 (we support 1.88) and
//! brings its own writer stack, and `metrics_cloudwatch_embedded` installs a process-global
//! `metrics` recorder and pulls in `lambda_http` by default. What we need — a few counters, one
//! dimension, one line per invocation — is the small document built below, following
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::{Map, Value, json};

/// The one CloudWatch namespace of the system's metrics.
pub const NAMESPACE: &str = "Rockets";

/// The metrics the functions report. All are counts; [`Metric::PendingMessages`] is a gauge
/// that keeps the largest value seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// Messages ingest validated and enqueued.
    MessagesAccepted,
    /// Messages ingest refused as invalid.
    MessagesRejected,
    /// Messages applied to a rocket's state.
    MessagesApplied,
    /// Messages already applied or pending.
    Duplicates,
    /// Messages stored in pending, waiting for a gap.
    MessagesBuffered,
    /// Largest pending count of any rocket written (gauge).
    PendingMessages,
    /// Conditional writes that lost and were re-folded.
    CasConflicts,
    /// Records reported back to SQS for redelivery.
    BatchItemFailures,
    /// Messages beyond the pending bounds, handed back for later.
    MessagesDeferred,
}

impl Metric {
    /// The CloudWatch metric name.
    pub fn name(self) -> &'static str {
        match self {
            Self::MessagesAccepted => "MessagesAccepted",
            Self::MessagesRejected => "MessagesRejected",
            Self::MessagesApplied => "MessagesApplied",
            Self::Duplicates => "Duplicates",
            Self::MessagesBuffered => "MessagesBuffered",
            Self::PendingMessages => "PendingMessages",
            Self::CasConflicts => "CasConflicts",
            Self::BatchItemFailures => "BatchItemFailures",
            Self::MessagesDeferred => "MessagesDeferred",
        }
    }

    fn is_gauge(self) -> bool {
        self == Self::PendingMessages
    }
}

/// Metric values gathered during one invocation. Only touched metrics are emitted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metrics {
    values: BTreeMap<Metric, u64>,
}

impl Metrics {
    /// No metrics yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `n` to a counter (touching it even when `n` is 0).
    pub fn add(&mut self, metric: Metric, n: u64) {
        let value = self.values.entry(metric).or_insert(0);
        *value = value.saturating_add(n);
    }

    /// Raises a gauge to `value` if that is larger than what it holds.
    pub fn max(&mut self, metric: Metric, value: u64) {
        let current = self.values.entry(metric).or_insert(0);
        *current = (*current).max(value);
    }

    /// The value of a metric, `None` if untouched.
    pub fn get(&self, metric: Metric) -> Option<u64> {
        self.values.get(&metric).copied()
    }

    /// Whether no metric was touched.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Folds another accumulator in: counters add, gauges keep the maximum.
    pub fn merge(&mut self, other: &Self) {
        for (&metric, &value) in &other.values {
            if metric.is_gauge() {
                self.max(metric, value)
            } else {
                self.add(metric, value)
            }
        }
    }

    /// One EMF document: the `_aws` metadata declaring every touched metric (unit `Count`) under
    /// `namespace` with the single dimension `Function`, and the values as top-level members.
    pub fn to_emf_json(&self, namespace: &str, function: &str, timestamp_millis: i64) -> Value {
        let declared: Vec<Value> = self
            .values
            .keys()
            .map(|m| json!({ "Name": m.name(), "Unit": "Count" }))
            .collect();
        let mut document = Map::new();
        document.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": timestamp_millis,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [["Function"]],
                    "Metrics": declared,
                }],
            }),
        );
        document.insert("Function".to_owned(), Value::from(function));
        for (metric, value) in &self.values {
            document.insert(metric.name().to_owned(), Value::from(*value));
        }
        Value::Object(document)
    }

    /// Writes the EMF document as one line to `out`; writes nothing when no metric was touched.
    ///
    /// # Errors
    /// Whatever writing to `out` fails with.
    pub fn write_emf(
        &self,
        out: &mut impl Write,
        namespace: &str,
        function: &str,
        timestamp_millis: i64,
    ) -> io::Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let line = self.to_emf_json(namespace, function, timestamp_millis);
        writeln!(out, "{line}")
    }

    /// [`Metrics::emit`] in the [`NAMESPACE`] namespace, stamped with the current time.
    pub fn emit_now(&self, function: &str) {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        self.emit(NAMESPACE, function, millis);
    }

    /// Prints the EMF document as one line on stdout, where Lambda's log capture picks it up.
    /// A failed write is logged, never raised: losing a metric line must not fail a batch.
    pub fn emit(&self, namespace: &str, function: &str, timestamp_millis: i64) {
        let mut stdout = io::stdout().lock();
        if let Err(e) = self.write_emf(&mut stdout, namespace, function, timestamp_millis) {
            tracing::warn!(error = %e, "could not write the EMF metrics line");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_declares_exactly_the_touched_metrics() {
        let mut metrics = Metrics::new();
        metrics.add(Metric::MessagesApplied, 12);
        metrics.add(Metric::MessagesApplied, 3);
        metrics.add(Metric::CasConflicts, 0);
        metrics.max(Metric::PendingMessages, 4);
        metrics.max(Metric::PendingMessages, 2);

        let mut out = Vec::new();
        metrics
            .write_emf(&mut out, "Rockets", "consumer", 1_700_000_000_123)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches('\n').count(), 1, "one line");
        let doc: Value = serde_json::from_str(text.trim_end()).unwrap();

        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_123_i64);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Rockets");
        assert_eq!(directive["Dimensions"], json!([["Function"]]));
        assert_eq!(
            directive["Metrics"],
            json!([
                {"Name": "MessagesApplied", "Unit": "Count"},
                {"Name": "PendingMessages", "Unit": "Count"},
                {"Name": "CasConflicts", "Unit": "Count"},
            ])
        );
        assert_eq!(doc["Function"], "consumer");
        assert_eq!(doc["MessagesApplied"], 15);
        assert_eq!(doc["PendingMessages"], 4);
        assert_eq!(doc["CasConflicts"], 0);
        assert!(
            doc.get("Duplicates").is_none(),
            "untouched metrics are left out"
        );
    }

    #[test]
    fn every_declared_metric_has_a_value_and_nothing_is_written_when_empty() {
        let mut metrics = Metrics::new();
        for m in [
            Metric::MessagesAccepted,
            Metric::MessagesRejected,
            Metric::Duplicates,
        ] {
            metrics.add(m, 1);
        }
        let doc = metrics.to_emf_json("Rockets", "ingest", 0);
        for declared in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
        {
            let name = declared["Name"].as_str().unwrap();
            assert!(doc[name].is_u64(), "{name} has a numeric value");
        }

        let mut out = Vec::new();
        Metrics::new()
            .write_emf(&mut out, "Rockets", "ingest", 0)
            .unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn merge_adds_counters_and_keeps_the_largest_gauge() {
        let mut a = Metrics::new();
        a.add(Metric::BatchItemFailures, 2);
        a.max(Metric::PendingMessages, 7);
        let mut b = Metrics::new();
        b.add(Metric::BatchItemFailures, 1);
        b.max(Metric::PendingMessages, 3);
        b.add(Metric::MessagesDeferred, 5);
        a.merge(&b);
        assert_eq!(a.get(Metric::BatchItemFailures), Some(3));
        assert_eq!(a.get(Metric::PendingMessages), Some(7));
        assert_eq!(a.get(Metric::MessagesDeferred), Some(5));
    }
}
