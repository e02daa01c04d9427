//! Authorization decisions per second at the broker's seam: [`PolicyAuthorizer`] over a real
//! registry file, asked through the [`Authorizer`] methods the broker calls on every PUBLISH,
//! SUBSCRIBE filter and delivery.
//!
//! `cargo run --release --locked -p airlock-identity --example bench`
//!
//! The registry (in a temporary directory) holds 2,000 things `pump-N`, each with its own
//! ACTIVE certificate and a `site` attribute, all in thing group `pumps` under group
//! `plant`. Policies: `device` (attached to every certificate: `${iot:Connection.Thing.
//! ThingName}` resources and a Deny statement), `site` (attached to `pumps`: a thing
//! attribute variable, an IP condition and a Deny) and `broadcast` (attached to `plant`,
//! reached through the group hierarchy). The client id is the thing name, so the thing and
//! its groups apply.
//!
//! * cached: the same request again and again, so every answer after the first comes from
//!   the decision cache;
//! * uncached: a stream of 512,000 distinct requests (2,000 clients x 64 topics x publish /
//!   subscribe / receive / denied publish) cycled in order, so no request recurs before the
//!   default 65,536-entry cache has dropped it: every answer is a miss (registry lookup,
//!   request context, policy engine) plus the cache insert. Also with the cache off
//!   (`cache_max_entries = 0`);
//! * mixed: nine requests in ten from a warm working set, one in ten new.
//!
//! Each figure is the median of 5 rounds of about half a second, after a warm-up, on one
//! thread.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock_broker::{Authorization, Authorizer, ConnectionContext, Principal};
use airlock_identity::{IdentityConfig, PolicyAuthorizer, policy_validator};
use airlock_pki::{CertificateAuthority, KeyAlgorithm};
use airlock_policy::{Engine, PolicyLimits};
use airlock_registry::{
    CertificateStatus, PolicyTarget, RegistryError, RegistryStore, ThingGroupProperties,
    ThingPrincipalType, unix_now,
};

/// Things (and certificates, and clients).
const DEVICES: usize = 2_000;
/// Topics per device in the distinct-request stream.
const VARIANTS: usize = 64;
const ROUNDS: usize = 5;
const ROUND: Duration = Duration::from_millis(500);
const WARM_UP: Duration = Duration::from_millis(300);
const ENDPOINT: &str = "ep-plant";

const DEVICE: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Connect", "Effect": "Allow", "Action": "iot:Connect",
     "Resource": "arn:aws:iot:airlock:000000000000:client/${iot:Connection.Thing.ThingName}",
     "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}},
    {"Sid": "PubRecv", "Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
     "Resource": "arn:aws:iot:airlock:000000000000:topic/plant/${iot:Connection.Thing.ThingName}/*"},
    {"Sid": "Sub", "Effect": "Allow", "Action": "iot:Subscribe",
     "Resource": "arn:aws:iot:airlock:000000000000:topicfilter/plant/${iot:Connection.Thing.ThingName}/*"},
    {"Sid": "NoSecrets", "Effect": "Deny", "Action": "iot:*",
     "Resource": "arn:aws:iot:airlock:000000000000:topic/plant/*/secret/*"}
  ]
}"#;

const SITE: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
     "Resource": "arn:aws:iot:airlock:000000000000:topic/site/${iot:Connection.Thing.Attributes[site]}/*",
     "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]},
                   "StringEqualsIfExists": {"aws:SourceVpce": "ep-plant"}}},
    {"Effect": "Deny", "Action": "iot:Publish", "Resource": "arn:aws:iot:airlock:000000000000:topic/$aws/*"}
  ]
}"#;

const BROADCAST: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": "iot:Receive", "Resource": "arn:aws:iot:airlock:000000000000:topic/broadcast/*"},
    {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": "arn:aws:iot:airlock:000000000000:topicfilter/broadcast/#"}
  ]
}"#;

/// One connected device as the broker sees it.
struct Client {
    ctx: ConnectionContext,
    client_id: String,
}

/// The broker's questions.
#[derive(Clone, Copy)]
enum Op {
    Publish,
    Subscribe,
    Receive,
}

fn ask(a: &dyn Authorizer, c: &Client, op: Op, path: &str) -> bool {
    let answer = match op {
        Op::Publish => a.publish(&c.ctx, &c.client_id, path, false),
        Op::Subscribe => a.subscribe(&c.ctx, &c.client_id, path),
        Op::Receive => a.receive(&c.ctx, &c.client_id, path),
    };
    matches!(black_box(answer), Authorization::Allow)
}

/// Builds the registry: certificates, things, groups, policies and attachments, committed
/// in one transaction.
fn setup(registry: &RegistryStore) -> Vec<Client> {
    let ca = CertificateAuthority::generate("Bench CA", KeyAlgorithm::EcdsaP256).expect("ca");
    let issued: Vec<_> = (0..DEVICES)
        .map(|i| {
            ca.issue_client(&format!("pump-{i}"), KeyAlgorithm::EcdsaP256, 30)
                .expect("issue")
        })
        .collect();
    let now = unix_now();
    registry
        .mutate(|r| {
            r.create_policy("device", DEVICE, now)?;
            r.create_policy("site", SITE, now)?;
            r.create_policy("broadcast", BROADCAST, now)?;
            r.create_thing_group("plant", None, ThingGroupProperties::default(), now)?;
            r.create_thing_group("pumps", Some("plant"), ThingGroupProperties::default(), now)?;
            r.attach_policy("broadcast", &PolicyTarget::ThingGroup("plant".into()))?;
            r.attach_policy("site", &PolicyTarget::ThingGroup("pumps".into()))?;
            for (i, cert) in issued.iter().enumerate() {
                let name = format!("pump-{i}");
                let attributes = BTreeMap::from([("site".to_string(), format!("s{}", i % 7))]);
                r.register_certificate(
                    &cert.certificate_id,
                    &cert.cert_pem,
                    CertificateStatus::Active,
                    None,
                    now,
                )?;
                r.attach_policy(
                    "device",
                    &PolicyTarget::Certificate(cert.certificate_id.clone()),
                )?;
                r.create_thing(&name, None, attributes)?;
                r.attach_thing_principal(
                    &name,
                    &cert.certificate_id,
                    ThingPrincipalType::ExclusiveThing,
                )?;
                r.add_thing_to_group(&name, "pumps")?;
            }
            Ok::<_, RegistryError>(())
        })
        .expect("registry setup");
    let endpoint: Arc<str> = Arc::from(ENDPOINT);
    issued
        .into_iter()
        .enumerate()
        .map(|(i, cert)| Client {
            ctx: ConnectionContext {
                endpoint_id: endpoint.clone(),
                peer: SocketAddr::from(([10, 1, (i / 256) as u8, (i % 256) as u8], 40_000)),
                principal: Principal::Certificate {
                    certificate_id: cert.certificate_id,
                    chain: Arc::new(vec![cert.cert_der]),
                },
                source_vpce: None,
                server_name: None,
            },
            client_id: format!("pump-{i}"),
        })
        .collect()
}

/// The distinct-request stream: request `n` of a cycle of `4 * DEVICES * VARIANTS`.
struct Stream {
    /// `[device][variant]`: `plant/pump-N/mV`.
    own: Vec<Vec<String>>,
    /// `[device][variant]`: `plant/pump-N/secret/mV` (denied by `NoSecrets`).
    secret: Vec<Vec<String>>,
}

impl Stream {
    fn new() -> Stream {
        let table = |f: &dyn Fn(usize, usize) -> String| -> Vec<Vec<String>> {
            (0..DEVICES)
                .map(|i| (0..VARIANTS).map(|v| f(i, v)).collect())
                .collect()
        };
        Stream {
            own: table(&|i, v| format!("plant/pump-{i}/m{v}")),
            secret: table(&|i, v| format!("plant/pump-{i}/secret/m{v}")),
        }
    }

    fn ask(&self, a: &dyn Authorizer, clients: &[Client], n: usize) -> bool {
        let rest = n / 4;
        let (d, v) = (rest % DEVICES, (rest / DEVICES) % VARIANTS);
        let c = &clients[d];
        match n % 4 {
            0 => ask(a, c, Op::Publish, &self.own[d][v]),
            1 => ask(a, c, Op::Subscribe, &self.own[d][v]),
            2 => ask(a, c, Op::Receive, &self.own[d][v]),
            _ => ask(a, c, Op::Publish, &self.secret[d][v]),
        }
    }
}

/// The warm working set: four requests per device (8,000 keys).
struct Hot {
    telemetry: Vec<String>,
    commands: Vec<String>,
    site: Vec<String>,
}

impl Hot {
    fn new() -> Hot {
        Hot {
            telemetry: (0..DEVICES).map(|i| format!("plant/pump-{i}/t")).collect(),
            commands: (0..DEVICES)
                .map(|i| format!("plant/pump-{i}/cmd"))
                .collect(),
            site: (0..DEVICES)
                .map(|i| format!("site/s{}/flow", i % 7))
                .collect(),
        }
    }

    fn ask(&self, a: &dyn Authorizer, clients: &[Client], n: usize) -> bool {
        let d = (n / 4) % DEVICES;
        let c = &clients[d];
        match n % 4 {
            0 => ask(a, c, Op::Publish, &self.telemetry[d]),
            1 => ask(a, c, Op::Subscribe, &self.commands[d]),
            2 => ask(a, c, Op::Receive, &self.commands[d]),
            _ => ask(a, c, Op::Receive, &self.site[d]),
        }
    }
}

struct Row {
    label: String,
    per_sec: f64,
    ns: f64,
    spread: (f64, f64),
    hit_rate: f64,
    allowed: f64,
}

/// Warm up, then `ROUNDS` timed rounds; the median round's figures. `n` (the request index)
/// keeps counting across warm-up and rounds so a distinct stream never restarts.
fn measure(label: &str, auth: &PolicyAuthorizer, mut f: impl FnMut(usize) -> bool) -> Row {
    let mut n = 0usize;
    let start = Instant::now();
    while start.elapsed() < WARM_UP {
        for _ in 0..1_000 {
            black_box(f(n));
            n += 1;
        }
    }
    let before = auth.cache_stats();
    let (mut allowed, mut total) = (0usize, 0usize);
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            let first = n;
            while start.elapsed() < ROUND {
                for _ in 0..1_000 {
                    allowed += usize::from(f(n));
                    n += 1;
                }
            }
            total += n - first;
            start.elapsed().as_secs_f64() * 1e9 / (n - first) as f64
        })
        .collect();
    let after = auth.cache_stats();
    rounds.sort_by(f64::total_cmp);
    let ns = rounds[ROUNDS / 2];
    let hits = after.hits - before.hits;
    let misses = after.misses - before.misses;
    let row = Row {
        label: label.to_string(),
        per_sec: 1e9 / ns,
        ns,
        spread: (rounds[0], rounds[ROUNDS - 1]),
        hit_rate: hits as f64 * 100.0 / (hits + misses).max(1) as f64,
        allowed: allowed as f64 * 100.0 / total as f64,
    };
    eprintln!(
        "{:<58} {:>6.2} M/s {:>6.0} ns (rounds {:.0}..{:.0} ns), {:.1}% hits, {:.0}% allowed",
        row.label,
        row.per_sec / 1e6,
        row.ns,
        row.spread.0,
        row.spread.1,
        row.hit_rate,
        row.allowed
    );
    row
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry =
        Arc::new(RegistryStore::open(dir.path().join("registry.redb")).expect("registry"));
    registry.set_policy_validator(policy_validator(PolicyLimits::default()));
    let t = Instant::now();
    let clients = setup(&registry);
    eprintln!(
        "registry: {DEVICES} certificates, things and clients, set up in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let authorizer = |cache_max_entries| {
        PolicyAuthorizer::new(
            registry.clone(),
            Engine::default(),
            IdentityConfig {
                cache_max_entries,
                ..IdentityConfig::default()
            },
        )
    };
    let cached = authorizer(IdentityConfig::default().cache_max_entries);
    let no_cache = authorizer(0);
    let c42 = &clients[42];
    let stream = Stream::new();
    let hot = Hot::new();

    let mut rows = vec![
        measure("cached: same publish, allowed", &cached, |_| {
            ask(&cached, c42, Op::Publish, "plant/pump-42/temp")
        }),
        measure(
            "cached: same publish, denied by a Deny statement",
            &cached,
            |_| ask(&cached, c42, Op::Publish, "plant/pump-42/secret/k"),
        ),
        measure("cached: same subscribe, allowed", &cached, |_| {
            ask(&cached, c42, Op::Subscribe, "plant/pump-42/cmd")
        }),
        measure(
            "cached: same receive, allowed via the parent group",
            &cached,
            |_| ask(&cached, c42, Op::Receive, "broadcast/all"),
        ),
        measure(
            "cached: 2,000 clients x 4 requests, all warm",
            &cached,
            |n| hot.ask(&cached, &clients, n),
        ),
    ];
    // A fresh authorizer per stream, so nothing warm is left from the rows above.
    let fresh = authorizer(IdentityConfig::default().cache_max_entries);
    rows.push(measure(
        "uncached: every request distinct (65,536-entry cache)",
        &fresh,
        |n| stream.ask(&fresh, &clients, n),
    ));
    rows.push(measure(
        "uncached: every request distinct, cache off",
        &no_cache,
        |n| stream.ask(&no_cache, &clients, n),
    ));
    let mixed = authorizer(IdentityConfig::default().cache_max_entries);
    rows.push(measure(
        "mixed: 90% warm working set, 10% new",
        &mixed,
        |n| {
            if n % 10 == 9 {
                stream.ask(&mixed, &clients, n / 10)
            } else {
                hot.ask(&mixed, &clients, n - n / 10)
            }
        },
    ));

    println!("| workload | decisions/s | per decision | cache hits | allowed |");
    println!("|---|---:|---:|---:|---:|");
    for r in rows.drain(..) {
        println!(
            "| {} | {:.2} M | {:.0} ns | {:.0} % | {:.0} % |",
            r.label,
            r.per_sec / 1e6,
            r.ns,
            r.hit_rate,
            r.allowed
        );
    }
}
