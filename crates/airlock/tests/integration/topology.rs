//! The seeds' network design in Linux network namespaces: a "plant" namespace with no default
//! route, whose only link is to the namespace Airlock runs in. The device resolves Airlock's
//! name through Airlock's own DNS responder and publishes over mTLS; nothing else is reachable.
//! Needs root (CAP_NET_ADMIN) for `ip netns`; where namespaces are not permitted the test says
//! so and skips.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::airlock_bin;

/// Namespaces, the veth pair, `/etc/netns/{plant}` and the Airlock process; removed on drop.
struct Topology {
    core: String,
    plant: String,
    etc_netns: PathBuf,
    airlock: Option<std::process::Child>,
}

impl Drop for Topology {
    fn drop(&mut self) {
        if let Some(mut c) = self.airlock.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.core, &self.plant] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.etc_netns);
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A TCP connect from namespace `ns` to `host:port` (bash's /dev/tcp).
fn tcp_probe(ns: &str, host: &str, port: u64) -> Output {
    let target = format!("exec 3<>/dev/tcp/{host}/{port}");
    run(&["ip", "netns", "exec", ns, "bash", "-c", &target])
}

/// `airlock ARGS --data DATA` inside namespace `ns`.
fn airlock_in(ns: &str, data: &Path, args: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", ns, airlock_bin()])
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .expect("airlock CLI")
}

#[test]
fn plant_namespace_reaches_only_airlock_by_its_private_name() {
    let tag = std::process::id() % 100_000;
    let core = format!("al-core-{tag}");
    let plant = format!("al-plant-{tag}");
    if !run(&["ip", "netns", "add", &core]).status.success() {
        eprintln!(
            "SKIPPED: network namespaces are not permitted here (ip netns add failed; needs root / CAP_NET_ADMIN)"
        );
        return;
    }
    let mut topo = Topology {
        core: core.clone(),
        plant: plant.clone(),
        etc_netns: PathBuf::from(format!("/etc/netns/{plant}")),
        airlock: None,
    };
    ok(&["ip", "netns", "add", &plant]);
    let (veth_core, veth_plant) = (format!("alc{tag}"), format!("alp{tag}"));
    ok(&[
        "ip",
        "link",
        "add",
        &veth_core,
        "type",
        "veth",
        "peer",
        "name",
        &veth_plant,
    ]);
    ok(&["ip", "link", "set", &veth_core, "netns", &core]);
    ok(&["ip", "link", "set", &veth_plant, "netns", &plant]);
    for (ns, dev, addr) in [
        (&core, &veth_core, "10.77.0.1/24"),
        (&plant, &veth_plant, "10.77.0.2/24"),
    ] {
        ok(&["ip", "-n", ns, "addr", "add", addr, "dev", dev]);
        ok(&["ip", "-n", ns, "link", "set", dev, "up"]);
        ok(&["ip", "-n", ns, "link", "set", "lo", "up"]);
    }
    // The plant resolves names only through Airlock's responder (ip netns exec bind-mounts
    // /etc/netns/NAME/resolv.conf over /etc/resolv.conf).
    std::fs::create_dir_all(&topo.etc_netns).expect("/etc/netns");
    std::fs::write(topo.etc_netns.join("resolv.conf"), "nameserver 10.77.0.1\n")
        .expect("resolv.conf");

    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let config = dir.path().join("airlock.toml");
    std::fs::write(
        &config,
        "server_names = [\"broker.plant.test\"]\n\n\
         [[endpoint]]\nid = \"plant-a\"\nbind = \"10.77.0.1:8883\"\n\n\
         [admin]\nbind = \"127.0.0.1:0\"\n[metrics]\nbind = \"127.0.0.1:0\"\n\n\
         [dns]\nenabled = true\nbind = \"10.77.0.1:53\"\n[[dns.zone]]\nname = \"plant.test\"\n",
    )
    .expect("config");
    let log = std::fs::File::create(dir.path().join("airlock.log")).expect("log");
    let child = Command::new("ip")
        .args(["netns", "exec", &core, airlock_bin(), "up", "--data"])
        .arg(&data)
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start airlock in the core namespace");
    topo.airlock = Some(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !data.join("endpoints.json").exists() {
        assert!(
            Instant::now() < deadline,
            "airlock did not start: {}",
            std::fs::read_to_string(dir.path().join("airlock.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Onboard from the core side (the admin API listens on the core's loopback only).
    let pkg = dir.path().join("pkg");
    let onboard = airlock_in(
        &core,
        &data,
        &[
            "device",
            "onboard",
            "plant-dev",
            "--out",
            &pkg.to_string_lossy(),
        ],
    );
    assert!(
        onboard.status.success(),
        "{}",
        String::from_utf8_lossy(&onboard.stderr)
    );

    // The plant: no default route; the name resolves to Airlock's private address.
    let routes = ok(&["ip", "-n", &plant, "route"]);
    assert!(
        !routes.contains("default"),
        "plant has a default route: {routes}"
    );
    let answer = ok(&[
        "ip",
        "netns",
        "exec",
        &plant,
        "dig",
        "@10.77.0.1",
        "broker.plant.test",
        "A",
        "+short",
    ]);
    assert_eq!(answer.trim(), "10.77.0.1");

    // The device's own pubsub check, by name, from the plant.
    let check = Command::new("ip")
        .args(["netns", "exec", &plant, "bash"])
        .arg(pkg.join("pubsub-check.sh"))
        .output()
        .expect("pubsub-check.sh");
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success() && out.contains("OK"),
        "{out}\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // airlock doctor from the plant, with the system resolver (= Airlock's responder).
    let doctor = airlock_in(
        &plant,
        &data,
        &["doctor", "--package", &pkg.to_string_lossy()],
    );
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(doctor.status.success(), "{report}");
    assert!(
        report.contains("broker.plant.test -> 10.77.0.1 (private)"),
        "{report}"
    );

    // Nothing else: no route off the link, and the core's admin API and metrics stay on
    // its loopback.
    let outside = tcp_probe(&plant, "192.0.2.1", 443);
    assert!(!outside.status.success(), "the plant reached 192.0.2.1");
    assert!(
        String::from_utf8_lossy(&outside.stderr).contains("unreachable"),
        "{}",
        String::from_utf8_lossy(&outside.stderr)
    );
    let endpoints: serde_json::Value = serde_json::from_slice(
        &std::fs::read(data.join("endpoints.json")).expect("endpoints.json"),
    )
    .expect("JSON");
    for e in endpoints["endpoints"].as_array().expect("list") {
        if e["id"] == "admin" || e["id"] == "metrics" {
            let port = e["port"].as_u64().expect("port");
            let probe = tcp_probe(&plant, "10.77.0.1", port);
            assert!(
                !probe.status.success(),
                "the plant reached {} on 10.77.0.1:{port}",
                e["id"]
            );
        }
    }
}
