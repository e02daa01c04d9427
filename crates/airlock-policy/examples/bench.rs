//! Decisions per second for a typical device policy set.
//!
//! `cargo run --release -p airlock-policy --example bench`
//!
//! "same request" repeats one request (what a per-connection decision cache sees on a miss
//! for a hot topic); "varied" cycles through 10,000 distinct client/topic pairs so nothing
//! is warm. Both evaluate the full policy set: the engine itself keeps no cache.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use airlock_policy::{
    Action, Engine, NamedPolicy, PolicyDocument, PolicyLimits, RequestContext, ThingContext,
};

const DEVICE: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Connect", "Effect": "Allow", "Action": "iot:Connect",
     "Resource": "arn:aws:iot:airlock:000000000000:client/${iot:Connection.Thing.ThingName}",
     "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}},
    {"Sid": "PubSub", "Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
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

fn ctx(n: usize) -> RequestContext {
    let name = format!("pump-{n}");
    RequestContext {
        client_id: Some(name.clone()),
        source_ip: Some(IpAddr::from([
            10,
            1,
            (n / 256 % 256) as u8,
            (n % 256) as u8,
        ])),
        source_vpce: Some("ep-plant".into()),
        thing: Some(ThingContext {
            name,
            type_name: Some("pump".into()),
            attributes: BTreeMap::from([("site".to_string(), format!("s{}", n % 7))]),
            is_attached: true,
        }),
        ..RequestContext::default()
    }
}

fn run(label: &str, mut f: impl FnMut(usize) -> bool) {
    // Warm up, then measure for about a second.
    for i in 0..10_000 {
        black_box(f(i));
    }
    let start = Instant::now();
    let mut n = 0usize;
    let mut allowed = 0usize;
    while start.elapsed() < Duration::from_secs(1) {
        for _ in 0..1_000 {
            allowed += usize::from(black_box(f(n)));
            n += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{label:<40} {:>12.0} decisions/s  ({:.0} ns each, {:.0}% allowed)",
        n as f64 / secs,
        secs * 1e9 / n as f64,
        allowed as f64 * 100.0 / n as f64
    );
}

fn main() {
    let limits = PolicyLimits::default();
    let policies: Vec<NamedPolicy> = [("device", DEVICE), ("site", SITE), ("broadcast", BROADCAST)]
        .into_iter()
        .map(|(name, json)| NamedPolicy {
            name: name.into(),
            document: PolicyDocument::parse(json, &limits).expect("bench policy"),
        })
        .collect();
    let engine = Engine::default();

    let one = ctx(42);
    run("same request, Publish allowed", |_| {
        engine
            .evaluate(&policies, Action::Publish, "topic/plant/pump-42/temp", &one)
            .is_allowed()
    });
    run("same request, Publish denied (Deny stmt)", |_| {
        engine
            .evaluate(
                &policies,
                Action::Publish,
                "topic/plant/pump-42/secret/k",
                &one,
            )
            .is_allowed()
    });
    run("same request, Receive (last policy)", |_| {
        engine
            .evaluate(&policies, Action::Receive, "topic/broadcast/all", &one)
            .is_allowed()
    });

    let ctxs: Vec<RequestContext> = (0..10_000).map(ctx).collect();
    let topics: Vec<String> = (0..10_000)
        .map(|i| match i % 4 {
            0 => format!("topic/plant/pump-{i}/temp"),
            1 => format!("topic/site/s{}/flow", i % 7),
            2 => format!("topic/plant/pump-{}/temp", i + 1),
            _ => format!("topic/plant/pump-{i}/secret/x"),
        })
        .collect();
    run("varied: 10k clients x mixed topics", |i| {
        let k = i % 10_000;
        engine
            .evaluate(&policies, Action::Publish, &topics[k], &ctxs[k])
            .is_allowed()
    });
    let full: Vec<String> = topics.iter().map(|t| engine.resource_arn(t)).collect();
    run("varied, full ARNs given", |i| {
        let k = i % 10_000;
        engine
            .evaluate(&policies, Action::Publish, &full[k], &ctxs[k])
            .is_allowed()
    });
}
