//! `airlock up`.

use std::path::Path;

use airlock_server::config::LogFormat;
use anyhow::{Context, Result};
use tracing_subscriber::EnvFilter;

pub fn run(data: &Path, config: Option<&Path>) -> Result<()> {
    let cfg = crate::load_config(config)?;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cfg.log.level))
        .context("invalid log.level filter")?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    match cfg.log.format {
        LogFormat::Human => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(ansi)
            .with_writer(std::io::stderr)
            .init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let server = airlock_server::start(cfg, data)
            .await
            .with_context(|| format!("starting Airlock with data directory {}", data.display()))?;
        print_banner(&server, data);
        wait_for_signal().await?;
        tracing::info!("shutting down: disconnecting clients and flushing the store");
        server
            .shutdown()
            .await
            .context("flushing the store at shutdown")?;
        tracing::info!("stopped cleanly");
        Ok(())
    })
}

async fn wait_for_signal() -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}

fn print_banner(server: &airlock_server::RunningServer, data: &Path) {
    let r = &server.restored;
    println!("Airlock is up.");
    println!("  data directory  {}", data.display());
    if server.created {
        println!("  created         root CA, server and admin certificates (first start)");
    }
    if r.sessions + r.retained + r.messages > 0 {
        println!(
            "  restored        {} sessions, {} queued messages, {} retained messages",
            r.sessions, r.messages, r.retained
        );
    }
    for e in &server.endpoints {
        let scheme = match (e.protocol, e.tls) {
            ("mqtt", true) => "mqtts",
            ("mqtt", false) => "mqtt",
            ("mqtt-ws", true) => "wss",
            ("mqtt-ws", false) => "ws",
            ("https", _) => "https",
            _ => "http",
        };
        let auth = match e.authentication {
            "certificate" => "client certificate required",
            "admin-certificate" => "admin API; admin certificate only",
            _ => "NO AUTHENTICATION",
        };
        let suffix = if e.protocol == "http" {
            "/metrics".to_string()
        } else if e.protocol == "mqtt-ws" {
            format!("/mqtt  ({auth})")
        } else {
            format!("  ({auth})")
        };
        println!(
            "  endpoint {:<14} {scheme}://{}:{}{suffix}",
            e.id, e.address, e.port
        );
    }
    println!("  endpoints file  {}", server.data.endpoints().display());
    println!("  root CA         {}", server.data.ca_cert().display());
    if let Some(mqtt) = server
        .endpoints
        .iter()
        .find(|e| e.protocol == "mqtt" && e.tls)
    {
        println!();
        let d = crate::out::data_arg(data);
        println!("Next: onboard a device (thing, starter policy, certificate), then check it:");
        println!("  airlock device onboard{d} my-device --out ./my-device");
        println!("  ./my-device/pubsub-check.sh");
        println!(
            "  mosquitto_sub -h localhost -p {} --cafile ./my-device/root-ca.pem --cert ./my-device/my-device.cert.pem --key ./my-device/my-device.private.key -i my-device -t 'things/my-device/#' -v",
            mqtt.port
        );
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
}
