//! What `/proc` tells about a process: CPU seconds and resident memory.

/// Clock ticks per second of `/proc/*/stat` times (USER_HZ; 100 on every Linux target we run).
const USER_HZ: f64 = 100.0;

/// User + system CPU seconds of process `pid` (`"self"` for this one), all threads included.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) is fields[0]; utime is field 14, stime field 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// A `/proc/PID/status` value in KiB, e.g. `VmRSS` or `VmHWM`.
pub fn status_kib(pid: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// CPU and memory of the broker (when its pid is known) and of this process over a window.
#[derive(Debug, Clone)]
pub struct Usage {
    broker: Option<String>,
    broker_cpu0: Option<f64>,
    self_cpu0: Option<f64>,
    started: std::time::Instant,
}

impl Usage {
    /// Start a window now.
    pub fn start(broker_pid: Option<u32>) -> Usage {
        let broker = broker_pid.map(|p| p.to_string());
        Usage {
            broker_cpu0: broker.as_deref().and_then(cpu_seconds),
            self_cpu0: cpu_seconds("self"),
            broker,
            started: std::time::Instant::now(),
        }
    }

    /// The broker's resident set now, KiB.
    pub fn broker_rss_kib(&self) -> Option<u64> {
        status_kib(self.broker.as_deref()?, "VmRSS")
    }

    /// Close the window: CPU seconds used by broker and load generator, and the wall time.
    pub fn finish(&self) -> serde_json::Value {
        let wall = self.started.elapsed().as_secs_f64();
        let broker_cpu = match (
            self.broker.as_deref().and_then(cpu_seconds),
            self.broker_cpu0,
        ) {
            (Some(b), Some(a)) => Some(b - a),
            _ => None,
        };
        let self_cpu = match (cpu_seconds("self"), self.self_cpu0) {
            (Some(b), Some(a)) => Some(b - a),
            _ => None,
        };
        let hwm = self.broker.as_deref().and_then(|p| status_kib(p, "VmHWM"));
        serde_json::json!({
            "window_s": round3(wall),
            "broker_cpu_s": broker_cpu.map(round3),
            "broker_cpu_pct": broker_cpu.map(|c| round3(100.0 * c / wall.max(1e-9))),
            "broker_peak_rss_kib": hwm,
            "broker_rss_kib": self.broker_rss_kib(),
            "bench_cpu_s": self_cpu.map(round3),
            "bench_cpu_pct": self_cpu.map(|c| round3(100.0 * c / wall.max(1e-9))),
        })
    }
}

/// `x` rounded to three decimals (keeps the JSON readable).
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
