//! The policy authorizer in front of the real broker: CONNACK, PUBACK, SUBACK and delivery
//! reactions for AWS IoT policies held in a real registry file.

mod common;

use std::collections::HashMap;

use airlock_identity::IdentityConfig;
use airlock_mqtt::ProtocolVersion::{V5, V311};
use airlock_mqtt::reason as rc;
use airlock_registry::{CertificateStatus, PolicyTarget, ThingGroupProperties};
use common::{ALLOW_ALL, Env, allow, doc, statement};

const CONNECT_ANY: &str = r#""iot:Connect""#;

fn connect_any() -> String {
    allow(CONNECT_ANY, &["client/*"])
}

#[tokio::test]
async fn certificate_status_decides_connect() {
    let env = Env::new(IdentityConfig::default());
    let unknown = env.unregistered_device("ghost");
    let inactive = env.device("sleepy", CertificateStatus::Inactive);
    let revoked = env.device("bad", CertificateStatus::Active);
    env.registry
        .update_certificate(&revoked.id, CertificateStatus::Revoked)
        .expect("revoke");
    let active = env.device("good", CertificateStatus::Active);
    for d in [&unknown, &inactive, &revoked, &active] {
        env.registry
            .create_policy(&format!("p-{}", &d.id[..8]), &doc(&[connect_any()]))
            .expect("policy");
    }
    for d in [&inactive, &revoked, &active] {
        env.registry
            .attach_policy(
                &format!("p-{}", &d.id[..8]),
                &PolicyTarget::Certificate(d.id.clone()),
            )
            .expect("attach");
    }
    for d in [&unknown, &inactive, &revoked] {
        assert_eq!(
            env.connect(Some(d), "ep", V5, "dev").await.1,
            rc::NOT_AUTHORIZED
        );
        assert_eq!(
            env.connect(Some(d), "ep", V311, "dev").await.1,
            rc::v311::NOT_AUTHORIZED
        );
    }
    assert_eq!(
        env.connect(Some(&active), "ep", V5, "dev").await.1,
        rc::SUCCESS
    );
    assert_eq!(
        env.connect(Some(&active), "ep", V311, "dev-3").await.1,
        rc::SUCCESS
    );
}

#[tokio::test]
async fn active_certificate_without_a_connect_policy_is_refused() {
    let env = Env::new(IdentityConfig::default());
    let d = env.device("lonely", CertificateStatus::Active);
    assert_eq!(
        env.connect(Some(&d), "ep", V5, "dev").await.1,
        rc::NOT_AUTHORIZED
    );
}

#[tokio::test]
async fn thing_name_policy_admits_only_the_attached_things_name() {
    let env = Env::new(IdentityConfig::default());
    let d = env.device("sensor-1", CertificateStatus::Active);
    env.thing_for("sensor-1", &d);
    env.policy_for(
        "thing-connect",
        &doc(&[allow(
            CONNECT_ANY,
            &["client/${iot:Connection.Thing.ThingName}"],
        )]),
        &d,
    );
    assert_eq!(
        env.connect(Some(&d), "ep", V5, "sensor-2").await.1,
        rc::NOT_AUTHORIZED
    );
    assert_eq!(
        env.connect(Some(&d), "ep", V311, "not-me").await.1,
        rc::v311::NOT_AUTHORIZED
    );
    assert_eq!(
        env.connect(Some(&d), "ep", V5, "sensor-1").await.1,
        rc::SUCCESS
    );
}

/// The onboarding starter policy: connect as the thing, publish/subscribe/receive under
/// `things/{name}/`.
fn per_thing_policy() -> String {
    doc(&[
        allow(CONNECT_ANY, &["client/${iot:Connection.Thing.ThingName}"]),
        allow(
            r#"["iot:Publish","iot:Receive"]"#,
            &["topic/things/${iot:Connection.Thing.ThingName}/*"],
        ),
        allow(
            r#""iot:Subscribe""#,
            &["topicfilter/things/${iot:Connection.Thing.ThingName}/*"],
        ),
    ])
}

#[tokio::test]
async fn per_thing_topics_publish_and_subscribe() {
    let env = Env::new(IdentityConfig::default());
    let d = env.device("pump-7", CertificateStatus::Active);
    env.thing_for("pump-7", &d);
    env.policy_for("per-thing", &per_thing_policy(), &d);

    let (mut v5, code) = env.connect(Some(&d), "ep", V5, "pump-7").await;
    assert_eq!(code, rc::SUCCESS);
    assert_eq!(
        v5.publish_qos1("things/pump-7/temp", false, 1).await,
        Some(0)
    );
    assert_eq!(
        v5.publish_qos1("things/pump-8/temp", false, 2).await,
        Some(rc::NOT_AUTHORIZED)
    );
    // The connection survives a denied v5 publish.
    assert_eq!(
        v5.publish_qos1("things/pump-7/rpm", false, 3).await,
        Some(0)
    );
    assert_eq!(
        v5.subscribe(&["things/pump-7/#", "things/pump-8/#", "things/pump-7/cmd"])
            .await,
        vec![1, rc::NOT_AUTHORIZED, 1]
    );

    // 3.1.1: a denied publish closes the connection, as AWS IoT does.
    let (mut v3, code) = env.connect(Some(&d), "ep", V311, "pump-7").await;
    assert_eq!(code, rc::SUCCESS);
    assert_eq!(
        v3.publish_qos1("things/pump-7/temp", false, 1).await,
        Some(0)
    );
    assert_eq!(v3.publish_qos1("things/pump-8/temp", false, 2).await, None);
}

#[tokio::test]
async fn receive_narrows_what_a_subscription_delivers() {
    let env = Env::new(IdentityConfig::default());
    let d = env.device("reader", CertificateStatus::Active);
    env.policy_for(
        "reader",
        &doc(&[
            connect_any(),
            allow(r#""iot:Subscribe""#, &["topicfilter/a/#"]),
            allow(r#""iot:Receive""#, &["topic/a/public/*"]),
        ]),
        &d,
    );
    let (mut reader, _) = env.connect(Some(&d), "ep", V5, "reader").await;
    assert_eq!(reader.subscribe(&["a/#"]).await, vec![1]);
    let mut publisher = env.publisher().await;
    publisher.publish_qos0("a/private/1").await;
    publisher.publish_qos0("a/public/1").await;
    publisher.publish_qos0("a/private/2").await;
    publisher.publish_qos0("a/public/2").await;
    let got: Vec<String> = [
        reader.next_message().await,
        reader.next_message().await,
        reader.next_message().await,
    ]
    .into_iter()
    .flatten()
    .map(|p| p.topic)
    .collect();
    assert_eq!(got, ["a/public/1", "a/public/2"]);
}

#[tokio::test]
async fn source_vpce_condition_picks_the_endpoint() {
    let env = Env::new(IdentityConfig::default());
    let d = env.device("line-3", CertificateStatus::Active);
    env.policy_for(
        "vpce-only",
        &doc(&[statement(
            "Allow",
            CONNECT_ANY,
            &["client/*"],
            r#"{"StringEquals":{"aws:SourceVpce":"vpce-a"}}"#,
        )]),
        &d,
    );
    assert_eq!(
        env.connect(Some(&d), "vpce-a", V5, "line-3").await.1,
        rc::SUCCESS
    );
    assert_eq!(
        env.connect(Some(&d), "vpce-b", V5, "line-3").await.1,
        rc::NOT_AUTHORIZED
    );
}

/// A client id grant that `#` would widen: subscribe to `topicfilter/${iot:ClientId}`,
/// receive only `public/*`.
fn client_id_policy() -> String {
    doc(&[
        connect_any(),
        allow(r#""iot:Subscribe""#, &["topicfilter/${iot:ClientId}"]),
        allow(r#""iot:Receive""#, &["topic/public/*"]),
    ])
}

#[tokio::test]
async fn wildcard_client_id_is_refused_by_default() {
    let env = Env::new(IdentityConfig::default());
    let d = env.device("wild", CertificateStatus::Active);
    env.policy_for("client-id", &client_id_policy(), &d);
    assert_eq!(
        env.connect(Some(&d), "ep", V5, "#").await.1,
        rc::NOT_AUTHORIZED
    );
    assert_eq!(
        env.connect(Some(&d), "ep", V311, "a+b").await.1,
        rc::v311::NOT_AUTHORIZED
    );
}

#[tokio::test]
async fn wildcard_client_id_in_aws_mode_reads_only_what_receive_allows() {
    let env = Env::new(IdentityConfig {
        aws_compatible_client_ids: true,
        ..IdentityConfig::default()
    });
    let d = env.device("wild", CertificateStatus::Active);
    env.policy_for("client-id", &client_id_policy(), &d);
    let (mut wild, code) = env.connect(Some(&d), "ep", V5, "#").await;
    assert_eq!(code, rc::SUCCESS);
    // The ${iot:ClientId} grant lets it subscribe to everything, as AWS warns...
    assert_eq!(wild.subscribe(&["#"]).await, vec![1]);
    let mut publisher = env.publisher().await;
    publisher.publish_qos0("secret/1").await;
    publisher.publish_qos0("public/1").await;
    // ...but Receive is checked on topic names, where nothing widens it.
    assert_eq!(
        wild.next_message().await.map(|p| p.topic).as_deref(),
        Some("public/1")
    );
    assert!(wild.next_message().await.is_none());
}

#[tokio::test]
async fn a_new_policy_version_cuts_a_live_subscription() {
    let env = Env::new(IdentityConfig::default());
    let d = env.device("watcher", CertificateStatus::Active);
    env.policy_for(
        "watch",
        &doc(&[
            connect_any(),
            allow(r#""iot:Subscribe""#, &["topicfilter/plant/#"]),
            allow(r#""iot:Receive""#, &["topic/plant/*"]),
        ]),
        &d,
    );
    let (mut watcher, _) = env.connect(Some(&d), "ep", V5, "watcher").await;
    assert_eq!(watcher.subscribe(&["plant/#"]).await, vec![1]);
    let mut publisher = env.publisher().await;
    publisher.publish_qos0("plant/1").await;
    assert_eq!(
        watcher.next_message().await.map(|p| p.topic).as_deref(),
        Some("plant/1")
    );
    publisher.publish_qos0("plant/1").await;
    assert_eq!(
        watcher.next_message().await.map(|p| p.topic).as_deref(),
        Some("plant/1")
    );
    let hits_before = env.authorizer.cache_stats().hits;
    assert!(hits_before > 0, "repeated deliveries should hit the cache");

    let generation = env.registry.generation();
    env.registry
        .create_policy_version(
            "watch",
            &doc(&[
                connect_any(),
                allow(r#""iot:Subscribe""#, &["topicfilter/plant/#"]),
            ]),
            true,
        )
        .expect("new version");
    assert!(env.registry.generation() > generation);
    publisher.publish_qos0("plant/1").await;
    assert!(watcher.next_message().await.is_none());
}

#[tokio::test]
async fn revoking_a_certificate_stops_its_deliveries() {
    let env = Env::new(IdentityConfig::default());
    let d = env.device("soon-revoked", CertificateStatus::Active);
    env.policy_for("everything", ALLOW_ALL, &d);
    let (mut dev, _) = env.connect(Some(&d), "ep", V5, "soon-revoked").await;
    assert_eq!(dev.subscribe(&["x/#"]).await, vec![1]);
    let mut publisher = env.publisher().await;
    publisher.publish_qos0("x/1").await;
    assert!(dev.next_message().await.is_some());
    env.registry
        .update_certificate(&d.id, CertificateStatus::Revoked)
        .expect("revoke");
    publisher.publish_qos0("x/2").await;
    assert!(dev.next_message().await.is_none());
    assert_eq!(
        dev.publish_qos1("x/3", false, 9).await,
        Some(rc::NOT_AUTHORIZED)
    );
}

#[tokio::test]
async fn group_policies_apply_only_when_the_client_id_is_the_thing_name() {
    let env = Env::new(IdentityConfig::default());
    let d = env.device("valve-2", CertificateStatus::Active);
    env.thing_for("valve-2", &d);
    env.policy_for("connect", &doc(&[connect_any()]), &d);
    env.registry
        .create_thing_group("plant", None, ThingGroupProperties::default())
        .expect("group");
    env.registry
        .create_thing_group("valves", Some("plant"), ThingGroupProperties::default())
        .expect("subgroup");
    env.registry
        .add_thing_to_group("valve-2", "valves")
        .expect("member");
    // Attached to the parent group: inherited down the hierarchy.
    env.registry
        .create_policy(
            "plant-telemetry",
            &doc(&[allow(r#""iot:Publish""#, &["topic/telemetry/*"])]),
        )
        .expect("group policy");
    env.registry
        .attach_policy("plant-telemetry", &PolicyTarget::ThingGroup("plant".into()))
        .expect("attach to group");

    let (mut as_thing, code) = env.connect(Some(&d), "ep", V5, "valve-2").await;
    assert_eq!(code, rc::SUCCESS);
    assert_eq!(
        as_thing.publish_qos1("telemetry/valve-2", false, 1).await,
        Some(0)
    );

    let (mut other, code) = env.connect(Some(&d), "ep", V5, "valve-2-debug").await;
    assert_eq!(code, rc::SUCCESS);
    assert_eq!(
        other.publish_qos1("telemetry/valve-2", false, 1).await,
        Some(rc::NOT_AUTHORIZED)
    );
}

#[tokio::test]
async fn retained_publish_needs_retain_publish() {
    let env = Env::new(IdentityConfig::default());
    let d = env.device("retainer", CertificateStatus::Active);
    env.policy_for(
        "retain",
        &doc(&[
            connect_any(),
            allow(r#""iot:Publish""#, &["topic/r/*"]),
            allow(r#""iot:RetainPublish""#, &["topic/r/ok"]),
        ]),
        &d,
    );
    let (mut c, _) = env.connect(Some(&d), "ep", V5, "retainer").await;
    assert_eq!(c.publish_qos1("r/ok", true, 1).await, Some(0));
    assert_eq!(
        c.publish_qos1("r/no", true, 2).await,
        Some(rc::NOT_AUTHORIZED)
    );
    assert_eq!(c.publish_qos1("r/no", false, 3).await, Some(0));
    // RetainPublish alone is not enough: Publish is required too.
    assert_eq!(
        c.publish_qos1("elsewhere", true, 4).await,
        Some(rc::NOT_AUTHORIZED)
    );
}

#[tokio::test]
async fn anonymous_endpoint_uses_its_named_policy() {
    let env = Env::new(IdentityConfig {
        anonymous_policies: HashMap::from([("open-ep".to_string(), "anon".to_string())]),
        ..IdentityConfig::default()
    });
    env.registry
        .create_policy(
            "anon",
            &doc(&[
                allow(CONNECT_ANY, &["client/kiosk-*"]),
                allow(r#""iot:Publish""#, &["topic/kiosk/*"]),
            ]),
        )
        .expect("policy");
    let (mut kiosk, code) = env.connect(None, "open-ep", V5, "kiosk-1").await;
    assert_eq!(code, rc::SUCCESS);
    assert_eq!(kiosk.publish_qos1("kiosk/hello", false, 1).await, Some(0));
    assert_eq!(
        kiosk.publish_qos1("plant/x", false, 2).await,
        Some(rc::NOT_AUTHORIZED)
    );
    assert_eq!(
        env.connect(None, "open-ep", V5, "laptop").await.1,
        rc::NOT_AUTHORIZED
    );
    // An endpoint with no anonymous policy refuses anonymous clients.
    assert_eq!(
        env.connect(None, "other-ep", V311, "kiosk-1").await.1,
        rc::v311::NOT_AUTHORIZED
    );
}

#[tokio::test]
async fn shared_subscription_filters_are_authorized_as_sent() {
    let env = Env::new(IdentityConfig::default());
    let d = env.device("worker", CertificateStatus::Active);
    env.policy_for(
        "workers",
        &doc(&[
            connect_any(),
            allow(
                r#""iot:Subscribe""#,
                &["topicfilter/jobs/#", "topicfilter/$share/workers/jobs/#"],
            ),
            allow(r#""iot:Receive""#, &["topic/jobs/*"]),
        ]),
        &d,
    );
    let (mut w, _) = env.connect(Some(&d), "ep", V5, "worker-1").await;
    assert_eq!(
        w.subscribe(&["$share/workers/jobs/#", "$share/intruders/jobs/#"])
            .await,
        vec![1, rc::NOT_AUTHORIZED]
    );
    let mut publisher = env.publisher().await;
    publisher.publish_qos0("jobs/1").await;
    // Delivery through the shared subscription is authorized on the topic name.
    assert_eq!(
        w.next_message().await.map(|p| p.topic).as_deref(),
        Some("jobs/1")
    );
}

#[tokio::test]
async fn connect_attributes_and_will_topic_reach_the_policy() {
    let env = Env::new(IdentityConfig::default());
    let d = env.device("careful", CertificateStatus::Active);
    env.policy_for(
        "no-persistent",
        &doc(&[
            statement(
                "Allow",
                CONNECT_ANY,
                &["client/*"],
                r#"{"ForAllValues:StringEquals":{"iot:ConnectAttributes":["LastWill"]},"StringLikeIfExists":{"iot:LastWillTopic":"wills/*"}}"#,
            ),
        ]),
        &d,
    );
    assert_eq!(
        env.connect_with(Some(&d), "ep", V5, "c1", None, false)
            .await
            .1,
        rc::SUCCESS
    );
    assert_eq!(
        env.connect_with(Some(&d), "ep", V5, "c2", Some("wills/c2"), false)
            .await
            .1,
        rc::SUCCESS
    );
    assert_eq!(
        env.connect_with(Some(&d), "ep", V5, "c3", Some("elsewhere"), false)
            .await
            .1,
        rc::NOT_AUTHORIZED
    );
    assert_eq!(
        env.connect_with(Some(&d), "ep", V311, "c4", None, true)
            .await
            .1,
        rc::v311::NOT_AUTHORIZED
    );
}

#[tokio::test]
async fn certificate_variables_come_from_the_presented_certificate() {
    let env = Env::new(IdentityConfig::default());
    let d = env.device("meter-42", CertificateStatus::Active);
    env.policy_for(
        "by-cn",
        &doc(&[
            allow(
                CONNECT_ANY,
                &["client/${iot:Certificate.Subject.CommonName}"],
            ),
            allow(r#""iot:Publish""#, &["topic/certs/${iot:CertificateId}/*"]),
        ]),
        &d,
    );
    assert_eq!(
        env.connect(Some(&d), "ep", V5, "meter-41").await.1,
        rc::NOT_AUTHORIZED
    );
    let (mut c, code) = env.connect(Some(&d), "ep", V5, "meter-42").await;
    assert_eq!(code, rc::SUCCESS);
    assert_eq!(
        c.publish_qos1(&format!("certs/{}/x", d.id), false, 1).await,
        Some(0)
    );
    assert_eq!(
        c.publish_qos1("certs/someone-else/x", false, 2).await,
        Some(rc::NOT_AUTHORIZED)
    );
}

#[tokio::test]
async fn retained_messages_are_delivered_only_where_receive_allows() {
    let env = Env::new(IdentityConfig::default());
    let mut publisher = env.publisher().await;
    assert_eq!(
        publisher.publish_qos1("a/private/r", true, 1).await,
        Some(0)
    );
    assert_eq!(publisher.publish_qos1("a/public/r", true, 2).await, Some(0));
    let d = env.device("late-reader", CertificateStatus::Active);
    env.policy_for(
        "reader",
        &doc(&[
            connect_any(),
            allow(r#""iot:Subscribe""#, &["topicfilter/a/*"]),
            allow(r#""iot:Receive""#, &["topic/a/public/*"]),
        ]),
        &d,
    );
    let (mut reader, _) = env.connect(Some(&d), "ep", V5, "late-reader").await;
    assert_eq!(
        reader.subscribe(&["a/private/r", "a/public/r"]).await,
        vec![1, 1]
    );
    assert_eq!(
        reader.next_message().await.map(|p| p.topic).as_deref(),
        Some("a/public/r")
    );
    assert!(reader.next_message().await.is_none());
}
