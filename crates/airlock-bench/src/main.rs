//! `airlock-bench`: a load generator for MQTT brokers, written to compare Airlock with
//! Mosquitto side by side on one machine (issue #6).
//!
//! It speaks MQTT 3.1.1 or 5 directly over tokio, plain TCP or mutual TLS (rustls with the ring
//! provider), with the `airlock_mqtt` codec: each PUBLISH is encoded once as a template and
//! copied with its packet id, send timestamp and sequence number patched in, many to one
//! write; reads go through large buffers. Scenarios: fan-in (N publishers → 1 subscriber),
//! fan-out (1 → N), pairs (N publisher/subscriber pairs on distinct topics), connect storm
//! (M full mTLS connects, C at a time) and idle (K mTLS connections held from many 127.x.y.z
//! source addresses, memory per connection read from the broker's `/proc`). Message scenarios
//! run open loop at a fixed total rate or closed loop (as fast as possible; QoS 1 with a window
//! of unacknowledged PUBLISHes per publisher) and report sent/received rates, loss and
//! publish→receive latency from an HDR histogram; every scenario reports the broker's CPU
//! seconds and peak RSS (`--broker-pid`) and this process's own CPU so a reader can tell
//! whether the load generator was the bottleneck. Progress goes to stderr once a second;
//! `--json` prints one result object on stdout.
#![forbid(unsafe_code)]

mod conn;
mod flow;
mod idle;
mod procfs;
mod storm;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use airlock_mqtt::{ProtocolVersion, QoS};
use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use rustls_pki_types::ServerName;

use crate::conn::{Target, TlsFiles};
use crate::flow::{FlowParams, Shape};

/// Load generator for MQTT brokers (Airlock, Mosquitto, ...).
#[derive(Parser, Debug)]
#[command(name = "airlock-bench", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Args, Debug)]
struct Common {
    /// Broker host.
    #[arg(long, global = true, default_value = "127.0.0.1")]
    host: String,
    /// Broker port.
    #[arg(long, global = true, default_value_t = 8883)]
    port: u16,
    /// CA certificate (PEM) that signed the broker's certificate.
    #[arg(long, global = true)]
    ca: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    #[arg(long, global = true)]
    cert: Option<PathBuf>,
    /// Client private key (PEM) for mutual TLS.
    #[arg(long, global = true)]
    key: Option<PathBuf>,
    /// Plain TCP instead of TLS.
    #[arg(long, global = true)]
    plain: bool,
    /// Server name to verify in the broker's certificate.
    #[arg(long, global = true, default_value = "localhost")]
    server_name: String,
    /// Allow TLS session resumption (off: every connect is a full handshake).
    #[arg(long, global = true)]
    tls_resume: bool,
    /// MQTT protocol version.
    #[arg(long, global = true, value_enum, default_value_t = Mqtt::V311)]
    mqtt: Mqtt,
    /// PID of the broker, for its CPU seconds and RSS from /proc.
    #[arg(long, global = true)]
    broker_pid: Option<u32>,
    /// Name of the broker in progress lines and results.
    #[arg(long, global = true, default_value = "broker")]
    label: String,
    /// Print the result as one JSON object on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// Worker threads of the runtime (default: the CPUs this process may run on).
    #[arg(long, global = true)]
    threads: Option<usize>,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
enum Mqtt {
    /// MQTT 3.1.1
    V311,
    /// MQTT 5
    V5,
}

#[derive(Args, Debug, Clone)]
struct FlowArgs {
    /// Publishers (fan-in), subscribers (fan-out) or pairs.
    #[arg(long, short = 'n', default_value_t = 4)]
    clients: usize,
    /// QoS of publishes and subscriptions: 0 or 1.
    #[arg(long, default_value_t = 0)]
    qos: u8,
    /// Payload bytes (at least 16: timestamp and sequence number).
    #[arg(long, default_value_t = 100)]
    payload: usize,
    /// Total publish rate in msg/s (open loop); 0 = as fast as possible (closed loop).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// QoS 1: unacknowledged PUBLISHes allowed per publisher.
    #[arg(long, default_value_t = 100)]
    window: usize,
    /// Most PUBLISHes encoded into one write.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Closed loop: most deliveries due but not yet received (all publishers together).
    #[arg(long, default_value_t = 4_000)]
    max_outstanding: u64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds to wait after the window for messages still in flight.
    #[arg(long, default_value_t = 5.0)]
    drain: f64,
    /// Connections set up at a time.
    #[arg(long, default_value_t = 32)]
    connect_concurrency: usize,
}

#[derive(Subcommand, Debug)]
enum Scenario {
    /// N publishers → 1 subscriber (wildcard subscription over their topics).
    FanIn(FlowArgs),
    /// 1 publisher → N subscribers of its topic.
    FanOut(FlowArgs),
    /// N publisher/subscriber pairs on distinct topics.
    Pairs(FlowArgs),
    /// M complete connects (TCP + TLS + CONNECT/CONNACK + DISCONNECT) with C workers.
    ConnectStorm {
        /// Connections to make in total.
        #[arg(long, short = 'm', default_value_t = 10_000)]
        connections: u64,
        /// Concurrent workers.
        #[arg(long, short = 'c', default_value_t = 16)]
        concurrency: usize,
        /// Stop starting connects after this many seconds.
        #[arg(long, default_value_t = 30.0)]
        duration: f64,
        /// Loopback source addresses to spread over (127.0.1.1, ...; 0 = kernel's choice).
        #[arg(long, default_value_t = 16)]
        source_ips: usize,
    },
    /// Hold K idle connections and read the broker's memory per connection.
    Idle {
        /// Connections to hold.
        #[arg(long, short = 'k', default_value_t = 10_000)]
        connections: u64,
        /// Concurrent connects while setting up.
        #[arg(long, short = 'c', default_value_t = 32)]
        concurrency: usize,
        /// Seconds to hold them once all are up.
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
        /// Give up connecting after this many seconds.
        #[arg(long, default_value_t = 300.0)]
        max_setup: f64,
        /// Connections per loopback source address (127.0.1.1, 127.0.1.2, ...).
        #[arg(long, default_value_t = 20_000)]
        per_source_ip: u64,
    },
}

fn secs(s: f64, what: &str) -> Result<Duration> {
    if !(0.0..=86_400.0).contains(&s) {
        bail!("{what} must be between 0 and 86400 seconds");
    }
    Ok(Duration::from_secs_f64(s))
}

fn target(c: &Common) -> Result<Target> {
    let addr: SocketAddr = (c.host.as_str(), c.port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {}", c.host))?
        .next()
        .ok_or_else(|| anyhow!("{} resolves to nothing", c.host))?;
    let tls = if c.plain {
        None
    } else {
        let (Some(ca), Some(cert), Some(key)) = (&c.ca, &c.cert, &c.key) else {
            bail!("TLS needs --ca, --cert and --key (or pass --plain)");
        };
        let cfg = conn::client_tls(&TlsFiles {
            ca,
            cert,
            key,
            resume: c.tls_resume,
        })?;
        let name = ServerName::try_from(c.server_name.clone())
            .map_err(|e| anyhow!("server name {}: {e}", c.server_name))?;
        Some((tokio_rustls::TlsConnector::from(cfg), name))
    };
    Ok(Target {
        addr,
        tls,
        version: match c.mqtt {
            Mqtt::V311 => ProtocolVersion::V311,
            Mqtt::V5 => ProtocolVersion::V5,
        },
    })
}

fn flow_params(shape: Shape, a: &FlowArgs, c: &Common) -> Result<FlowParams> {
    let qos = match a.qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        q => bail!("--qos {q}: only 0 and 1 are supported"),
    };
    if !(a.rate.is_finite() && a.rate >= 0.0) {
        bail!("--rate must be 0 (closed loop) or a positive rate");
    }
    if a.payload > 1 << 20 {
        bail!("--payload is limited to 1 MiB");
    }
    Ok(FlowParams {
        shape,
        clients: a.clients,
        qos,
        payload: a.payload,
        rate: (a.rate > 0.0).then_some(a.rate),
        window: a.window,
        batch: a.batch,
        max_outstanding: a.max_outstanding.max(1),
        warmup: secs(a.warmup, "--warmup")?,
        duration: secs(a.duration, "--duration")?.max(Duration::from_millis(100)),
        drain: secs(a.drain, "--drain")?,
        broker_pid: c.broker_pid,
        connect_concurrency: a.connect_concurrency,
    })
}

/// A one-line human summary for stderr.
fn summary(r: &serde_json::Value) -> String {
    let g = |k: &str| r.get(k).cloned().unwrap_or(serde_json::Value::Null);
    let cpu = format!(
        "broker CPU {} s ({} %), peak RSS {} KiB; bench CPU {} s ({} %)",
        g("broker_cpu_s"),
        g("broker_cpu_pct"),
        g("broker_peak_rss_kib"),
        g("bench_cpu_s"),
        g("bench_cpu_pct")
    );
    match r["scenario"].as_str() {
        Some("connect-storm") => format!(
            "connect-storm: {} ok, {} failed, {} handshakes/s, p99 {} µs; {cpu}",
            g("ok"),
            g("failed"),
            g("handshakes_per_s"),
            r["connect_latency_us"]["p99"]
        ),
        Some("idle") => format!(
            "idle: {} connected, {} failed, RSS {} → {} KiB, {} bytes/connection; {cpu}",
            g("connected"),
            g("failed"),
            g("broker_rss_before_kib"),
            g("broker_rss_after_kib"),
            g("bytes_per_connection")
        ),
        _ => {
            let l = &r["latency_us"];
            format!(
                "{}: sent {}/s, received {}/s, lost {} ({} %), latency µs p50 {} p90 {} p99 {} p99.9 {} max {}; {cpu}",
                g("scenario").as_str().unwrap_or("?"),
                g("sent_per_s"),
                g("received_per_s"),
                g("lost"),
                g("loss_pct"),
                l["p50"],
                l["p90"],
                l["p99"],
                l["p999"],
                l["max"]
            )
        }
    }
}

/// Whether the scenario did its job at all (messages delivered, connections made).
fn delivered(r: &serde_json::Value) -> bool {
    let n = |k: &str| r.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    match r["scenario"].as_str() {
        Some("connect-storm") => n("ok") > 0,
        Some("idle") => n("connected") > 0,
        _ => n("received") > 0,
    }
}

async fn run(cli: Cli) -> Result<serde_json::Value> {
    let c = &cli.common;
    let t = target(c)?;
    let label = c.label.as_str();
    match &cli.scenario {
        Scenario::FanIn(a) => flow::run(t, flow_params(Shape::FanIn, a, c)?, label).await,
        Scenario::FanOut(a) => flow::run(t, flow_params(Shape::FanOut, a, c)?, label).await,
        Scenario::Pairs(a) => flow::run(t, flow_params(Shape::Pairs, a, c)?, label).await,
        Scenario::ConnectStorm {
            connections,
            concurrency,
            duration,
            source_ips,
        } => {
            let p = storm::StormParams {
                connections: *connections,
                concurrency: *concurrency,
                max_time: secs(*duration, "--duration")?,
                source_ips: *source_ips,
                broker_pid: c.broker_pid,
            };
            storm::run(t, p, label).await
        }
        Scenario::Idle {
            connections,
            concurrency,
            duration,
            max_setup,
            per_source_ip,
        } => {
            let p = idle::IdleParams {
                connections: *connections,
                concurrency: *concurrency,
                max_setup: secs(*max_setup, "--max-setup")?,
                hold: secs(*duration, "--duration")?,
                per_source_ip: *per_source_ip,
                broker_pid: c.broker_pid,
            };
            idle::run(t, p, label).await
        }
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    conn::now_ns();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = cli.common.threads {
        rt.worker_threads(n.max(1));
    }
    let json = cli.common.json;
    let result = rt
        .build()
        .context("starting the async runtime")
        .and_then(|rt| rt.block_on(run(cli)));
    match result {
        Ok(r) => {
            eprintln!("{}", summary(&r));
            if json {
                println!("{r}");
            }
            if delivered(&r) {
                std::process::ExitCode::SUCCESS
            } else {
                eprintln!("airlock-bench: nothing was delivered");
                std::process::ExitCode::from(2)
            }
        }
        Err(e) => {
            eprintln!("airlock-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
