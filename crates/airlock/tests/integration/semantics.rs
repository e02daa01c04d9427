//! MQTT semantics over the wire, one test per behaviour: QoS, retained messages, wills,
//! takeover, shared subscriptions, session resume, topic aliases, message expiry, flow
//! control, No Local, subscription identifiers and limits.

use std::collections::HashSet;
use std::time::Duration;

use airlock_mqtt::reason as rc;
use airlock_mqtt::{
    ConnAck, Connect, Packet, Properties, ProtocolVersion, QoS, SubscriptionOptions, Will,
};
use bytes::Bytes;

use crate::harness::{
    Airlock, Device, Events, RawMqtt, Rx, WAIT, connect_packet, expiring_connect, publish,
    publish_packet, pubrel, spawn_v4, sub_options, v4_options,
};

/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(600);

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V311;

/// A watcher subscribed to `$aws/events/presence/disconnected/{id}`: waiting for that event
/// proves the broker finished the connection (will, detach) before the test goes on.
async fn disconnect_watcher(a: &Airlock, d: &Device, watcher_id: &str, id: &str) -> RawMqtt {
    let mut w = RawMqtt::client(a, d, V5, watcher_id).await;
    w.subscribe(
        1,
        &format!("$aws/events/presence/disconnected/{id}"),
        QoS::AtMostOnce,
    )
    .await;
    w
}

async fn wait_disconnected(w: &mut RawMqtt, id: &str) {
    let p = w.expect_publish().await;
    assert_eq!(p.topic, format!("$aws/events/presence/disconnected/{id}"));
}

/// A [`disconnect_watcher`] also subscribed to `will/#` at QoS 1.
async fn will_watcher(a: &Airlock, d: &Device, watcher_id: &str, id: &str) -> RawMqtt {
    let mut w = disconnect_watcher(a, d, watcher_id, id).await;
    w.subscribe(2, "will/#", QoS::AtLeastOnce).await;
    w
}

// 1. QoS ------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_qos_is_the_minimum_of_publish_and_subscription_qos() {
    let a = Airlock::start("");
    let d = a.device("qos");
    let mut subs = Vec::new();
    for (i, q) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        let mut s = RawMqtt::client(&a, &d, V5, &format!("qos-sub-{i}")).await;
        s.subscribe(1, "qos/t", q).await;
        subs.push((q, s));
    }
    let mut p = RawMqtt::client(&a, &d, V5, "qos-pub").await;
    p.publish("qos/t", b"p0", QoS::AtMostOnce, 0).await;
    p.publish("qos/t", b"p1", QoS::AtLeastOnce, 1).await;
    p.publish_qos2("qos/t", b"p2", 2).await;

    for (sub_qos, s) in &mut subs {
        for (payload, pub_qos) in [
            (&b"p0"[..], QoS::AtMostOnce),
            (b"p1", QoS::AtLeastOnce),
            (b"p2", QoS::ExactlyOnce),
        ] {
            let m = s.expect_publish().await;
            assert_eq!(
                &m.payload[..],
                payload,
                "order of delivery to the QoS {sub_qos:?} subscriber"
            );
            assert_eq!(m.topic, "qos/t");
            let want = pub_qos.min(*sub_qos);
            assert_eq!(
                m.qos, want,
                "{payload:?} published at {pub_qos:?} to a {sub_qos:?} subscription"
            );
            assert_eq!(m.packet_id.is_some(), want != QoS::AtMostOnce);
        }
        s.expect_nothing(QUIET).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos2_flow_completes_and_delivers_exactly_once() {
    use rumqttc::{Event, Outgoing, Packet as P, QoS as Q};
    let a = Airlock::start("");
    let d = a.device("q2");
    let (sub, mut sev) = spawn_v4(v4_options(&a, &d, "q2-sub"));
    sev.connack().await;
    sub.subscribe("q2/t", Q::ExactlyOnce).await.unwrap();
    let codes = sev.suback().await;
    assert_eq!(
        codes,
        vec![rumqttc::SubscribeReasonCode::Success(Q::ExactlyOnce)]
    );

    let (publ, mut pev) = spawn_v4(v4_options(&a, &d, "q2-pub"));
    pev.connack().await;
    publ.publish("q2/t", Q::ExactlyOnce, false, b"once".to_vec())
        .await
        .unwrap();

    // Publisher: PUBLISH -> PUBREC -> PUBREL -> PUBCOMP, in that order, for the same packet id.
    let pid = pev
        .wait_for(WAIT, "outgoing PUBLISH", |e| match e {
            Event::Outgoing(Outgoing::Publish(pid)) => Some(*pid),
            _ => None,
        })
        .await;
    let rec = pev
        .wait_for(WAIT, "PUBREC", |e| match e {
            Event::Incoming(P::PubRec(r)) => Some(r.pkid),
            _ => None,
        })
        .await;
    assert_eq!(rec, pid);
    let rel = pev
        .wait_for(WAIT, "outgoing PUBREL", |e| match e {
            Event::Outgoing(Outgoing::PubRel(pid)) => Some(*pid),
            _ => None,
        })
        .await;
    assert_eq!(rel, pid);
    let comp = pev
        .wait_for(WAIT, "PUBCOMP", |e| match e {
            Event::Incoming(P::PubComp(c)) => Some(c.pkid),
            _ => None,
        })
        .await;
    assert_eq!(comp, pid);

    // Subscriber: the message once, at QoS 2, and the broker's PUBREL for it.
    let m = sev.next_publish().await;
    assert_eq!(m.topic, "q2/t");
    assert_eq!(&m.payload[..], b"once");
    assert_eq!(m.qos, Q::ExactlyOnce);
    let sub_rel = sev
        .wait_for(WAIT, "PUBREL from the broker", |e| match e {
            Event::Incoming(P::PubRel(r)) => Some(r.pkid),
            _ => None,
        })
        .await;
    assert_eq!(sub_rel, m.pkid);
    let extra = sev
        .collect_for(QUIET, |e| match e {
            Event::Incoming(P::Publish(p)) => Some(p.clone()),
            _ => None,
        })
        .await;
    assert!(
        extra.is_empty(),
        "QoS 2 message delivered more than once: {extra:?}"
    );
    sev.kill().await;
    pev.kill().await;
}

// 2. Retained -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_message_reaches_new_subscribers_and_empty_payload_deletes_it() {
    let a = Airlock::start("");
    let d = a.device("ret");
    let mut p = RawMqtt::client(&a, &d, V5, "ret-pub").await;
    p.publish_qos1("ret/lamp/state", b"on", 1, true).await;

    let mut s1 = RawMqtt::client(&a, &d, V5, "ret-s1").await;
    s1.subscribe(1, "ret/+/state", QoS::AtLeastOnce).await;
    let m = s1.expect_publish_acked().await;
    assert_eq!(m.topic, "ret/lamp/state");
    assert_eq!(&m.payload[..], b"on");
    assert!(
        m.retain,
        "a retained message sent for a new subscription carries RETAIN"
    );
    assert_eq!(m.qos, QoS::AtLeastOnce);

    // A live publish to an existing subscriber is not flagged retained (retain as published = 0).
    p.publish_qos1("ret/lamp/state", b"off", 2, true).await;
    let m = s1.expect_publish_acked().await;
    assert_eq!(&m.payload[..], b"off");
    assert!(!m.retain);

    // The newest retained value replaced the old one.
    let mut s2 = RawMqtt::client(&a, &d, V5, "ret-s2").await;
    s2.subscribe(1, "ret/#", QoS::AtMostOnce).await;
    let m = s2.expect_publish().await;
    assert_eq!(
        (m.topic.as_str(), &m.payload[..], m.retain, m.qos),
        ("ret/lamp/state", &b"off"[..], true, QoS::AtMostOnce)
    );
    s2.expect_nothing(QUIET).await;

    // Empty retained payload deletes it.
    p.publish_qos1("ret/lamp/state", b"", 3, true).await;
    let mut s3 = RawMqtt::client(&a, &d, V5, "ret-s3").await;
    s3.subscribe(1, "ret/+/state", QoS::AtLeastOnce).await;
    s3.expect_nothing(QUIET).await;
}

/// SUBSCRIBE `c` to `rh/config` at QoS 1 with Retain Handling `rh`; the SUBACK reason codes.
async fn subscribe_rh(c: &mut RawMqtt, pid: u16, rh: u8) -> Vec<u8> {
    let opts = SubscriptionOptions {
        retain_handling: rh,
        ..sub_options(QoS::AtLeastOnce)
    };
    c.subscribe_with(pid, vec![("rh/config".into(), opts)], Properties::default())
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_handling_2_sends_nothing_and_1_only_on_new_subscription() {
    let a = Airlock::start("");
    let d = a.device("rh");
    let mut p = RawMqtt::client(&a, &d, V5, "rh-pub").await;
    p.publish_qos1("rh/config", b"v1", 1, true).await;

    // Retain handling 2: never.
    let mut s2 = RawMqtt::client(&a, &d, V5, "rh-2").await;
    assert_eq!(subscribe_rh(&mut s2, 1, 2).await, vec![1]);
    s2.expect_nothing(QUIET).await;

    // Retain handling 1: on a new subscription, not when it is re-subscribed.
    let mut s1 = RawMqtt::client(&a, &d, V5, "rh-1").await;
    assert_eq!(subscribe_rh(&mut s1, 1, 1).await, vec![1]);
    let m = s1.expect_publish_acked().await;
    assert_eq!(
        (m.topic.as_str(), &m.payload[..], m.retain),
        ("rh/config", &b"v1"[..], true)
    );
    assert_eq!(subscribe_rh(&mut s1, 2, 1).await, vec![1]);
    s1.expect_nothing(QUIET).await;

    // Control: retain handling 0 re-sends on the re-subscription.
    assert_eq!(subscribe_rh(&mut s1, 3, 0).await, vec![1]);
    let m = s1.expect_publish().await;
    assert_eq!((&m.payload[..], m.retain), (&b"v1"[..], true));
}

// 3. Will -----------------------------------------------------------------------------------

/// A connected 3.1.1 client `id` whose will is "gone" on `will/{id}` at QoS 1.
async fn v4_with_will(
    a: &Airlock,
    d: &Device,
    id: &str,
) -> (rumqttc::AsyncClient, Events<rumqttc::Event>) {
    let mut o = v4_options(a, d, id);
    o.set_last_will(rumqttc::LastWill::new(
        format!("will/{id}"),
        b"gone".to_vec(),
        rumqttc::QoS::AtLeastOnce,
        false,
    ));
    let (client, mut ev) = spawn_v4(o);
    ev.connack().await;
    (client, ev)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_is_published_when_the_connection_drops_without_disconnect() {
    let a = Airlock::start("");
    let d = a.device("will");
    let mut s = will_watcher(&a, &d, "will-sub", "will-dev").await;
    let (_client, ev) = v4_with_will(&a, &d, "will-dev").await;
    ev.kill().await; // socket closed, no DISCONNECT

    let m = s.expect_publish_acked().await;
    assert_eq!(
        m.topic, "will/will-dev",
        "the will comes before the disconnected event"
    );
    assert_eq!(&m.payload[..], b"gone");
    assert_eq!(m.qos, QoS::AtLeastOnce);
    assert!(!m.retain);
    wait_disconnected(&mut s, "will-dev").await;
    s.expect_nothing(QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_is_not_published_after_a_clean_disconnect() {
    let a = Airlock::start("");
    let d = a.device("nowill");
    let mut s = will_watcher(&a, &d, "nowill-sub", "nowill-dev").await;
    let (client, ev) = v4_with_will(&a, &d, "nowill-dev").await;
    client.disconnect().await.unwrap();

    // The broker publishes the will before the disconnected event, so the first thing the
    // watcher sees must be the event, and nothing after it.
    let m = s.expect_publish().await;
    assert_eq!(
        m.topic, "$aws/events/presence/disconnected/nowill-dev",
        "will published after a clean DISCONNECT: {m:?}"
    );
    s.expect_nothing(QUIET).await;
    ev.kill().await;
}

// 4. Will delay -----------------------------------------------------------------------------

fn will_connect(id: &str, clean_start: bool, delay: u32, expiry: u32) -> Connect {
    let mut c = expiring_connect(id, clean_start, expiry);
    let props = Properties {
        will_delay_interval: Some(delay),
        ..Default::default()
    };
    c.will = Some(Will {
        topic: format!("will/{id}"),
        payload: Bytes::from_static(b"delayed goodbye"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: props,
    });
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_delay_holds_the_will_back_and_a_reconnect_cancels_it() {
    let a = Airlock::start("");
    let d = a.device("wd");
    let mut s = will_watcher(&a, &d, "wd-sub", "wd-dev").await;

    // Delay 2 s, session expiry 10 s: dropped, the will comes after the delay.
    let (c, _) = RawMqtt::connect_ok(&a, &d, will_connect("wd-dev", true, 2, 10)).await;
    drop(c);
    wait_disconnected(&mut s, "wd-dev").await;
    s.expect_nothing(Duration::from_secs(1)).await;
    let m = s.expect_publish_acked().await;
    assert_eq!(
        (m.topic.as_str(), &m.payload[..]),
        ("will/wd-dev", &b"delayed goodbye"[..])
    );

    // Dropped again, but it reconnects (session resumed) within the delay: no will.
    let (c, _) = RawMqtt::connect_ok(&a, &d, will_connect("wd-dev", false, 2, 10)).await;
    drop(c);
    wait_disconnected(&mut s, "wd-dev").await;
    let (_c, ack) = RawMqtt::connect_ok(&a, &d, will_connect("wd-dev", false, 2, 10)).await;
    assert!(ack.session_present);
    // The old connection's delay (2 s from its drop, which came before the reconnect) passes.
    s.expect_nothing(Duration::from_secs(3)).await;
}

// 5. Takeover -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_connection_with_the_same_client_id_takes_over() {
    let a = Airlock::start("");
    let d = a.device("dup");
    let mut first = RawMqtt::client(&a, &d, V5, "dup-id").await;
    first.subscribe(1, "dup/first", QoS::AtMostOnce).await;

    let (mut second, ack) = RawMqtt::connect_ok(&a, &d, connect_packet(V5, "dup-id", true)).await;
    assert!(!ack.session_present);
    first.expect_close(Some(rc::SESSION_TAKEN_OVER)).await;

    second.subscribe(1, "dup/second", QoS::AtLeastOnce).await;
    second
        .publish("dup/second", b"mine now", QoS::AtMostOnce, 0)
        .await;
    let m = second.expect_publish().await;
    assert_eq!(
        (m.topic.as_str(), &m.payload[..]),
        ("dup/second", &b"mine now"[..])
    );
    // The clean start dropped the first connection's subscription.
    second.publish("dup/first", b"x", QoS::AtMostOnce, 0).await;
    second.expect_nothing(QUIET).await;
}

// 6. Shared subscriptions -------------------------------------------------------------------

/// Read PUBLISHes (acking QoS 1) until `n` arrived; returns their payloads as strings.
async fn read_n(c: &mut RawMqtt, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n {
        let m = c.expect_publish().await;
        if let Some(pid) = m.packet_id {
            c.puback(pid).await;
        }
        out.push(String::from_utf8(m.payload.to_vec()).unwrap());
    }
    out
}

/// Read PUBLISHes (acking QoS 1) until none arrives for `QUIET`.
async fn read_until_quiet(c: &mut RawMqtt) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        match c.recv(QUIET).await {
            Rx::Packet(Packet::Publish(m)) => {
                if let Some(pid) = m.packet_id {
                    c.puback(pid).await;
                }
                out.push(String::from_utf8(m.payload.to_vec()).unwrap());
            }
            Rx::Timeout => return out,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_subscription_gives_each_message_to_one_member() {
    const N: usize = 20;
    let a = Airlock::start("");
    let d = a.device("share");
    let mut m1 = RawMqtt::client(&a, &d, V5, "worker-1").await;
    m1.subscribe(1, "$share/g/jobs/#", QoS::AtLeastOnce).await;
    let mut m2 = RawMqtt::client(&a, &d, V5, "worker-2").await;
    m2.subscribe(1, "$share/g/jobs/#", QoS::AtLeastOnce).await;
    let mut plain = RawMqtt::client(&a, &d, V5, "auditor").await;
    plain.subscribe(1, "jobs/#", QoS::AtLeastOnce).await;

    let mut p = RawMqtt::client(&a, &d, V5, "dispatcher").await;
    let expected: Vec<String> = (0..N).map(|i| format!("job-{i}")).collect();
    for (i, job) in expected.iter().enumerate() {
        p.publish(
            &format!("jobs/{}", i % 3),
            job.as_bytes(),
            QoS::AtLeastOnce,
            i as u16 + 1,
        )
        .await;
    }

    let all = read_n(&mut plain, N).await;
    assert_eq!(
        all, expected,
        "the plain subscriber gets every message, in order"
    );
    let got1 = read_until_quiet(&mut m1).await;
    let got2 = read_until_quiet(&mut m2).await;
    assert!(
        !got1.is_empty() && !got2.is_empty(),
        "both members get work: {got1:?} / {got2:?}"
    );
    assert_eq!(
        got1.len() + got2.len(),
        N,
        "each message reaches exactly one member: {got1:?} / {got2:?}"
    );
    let union: HashSet<&String> = got1.iter().chain(&got2).collect();
    assert_eq!(union, expected.iter().collect::<HashSet<_>>());
    plain.expect_nothing(QUIET).await;
}

// 7. Session resume -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_session_resume_delivers_queued_messages_in_order() {
    let a = Airlock::start("");
    let d = a.device("resume");
    let mut w = disconnect_watcher(&a, &d, "resume-watch", "resume-dev").await;
    let (mut c, ack) = RawMqtt::connect_ok(&a, &d, expiring_connect("resume-dev", true, 300)).await;
    assert!(!ack.session_present);
    c.subscribe(1, "resume/#", QoS::AtLeastOnce).await;
    c.disconnect().await;
    wait_disconnected(&mut w, "resume-dev").await;

    let mut p = RawMqtt::client(&a, &d, V5, "resume-pub").await;
    for i in 0..5u16 {
        p.publish(
            &format!("resume/{i}"),
            format!("m{i}").as_bytes(),
            QoS::AtLeastOnce,
            i + 1,
        )
        .await;
    }

    let (mut c, ack) =
        RawMqtt::connect_ok(&a, &d, expiring_connect("resume-dev", false, 300)).await;
    assert!(
        ack.session_present,
        "session present after resuming: {ack:?}"
    );
    for i in 0..5 {
        let m = c.expect_publish_acked().await;
        assert_eq!(m.topic, format!("resume/{i}"));
        assert_eq!(&m.payload[..], format!("m{i}").as_bytes());
        assert_eq!(m.qos, QoS::AtLeastOnce);
        assert!(!m.dup, "never sent before, so not DUP");
    }
    c.expect_nothing(QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v311_persistent_session_resume_delivers_queued_messages_in_order() {
    use rumqttc::QoS as Q;
    let a = Airlock::start("");
    let d = a.device("resume4");
    let mut w = disconnect_watcher(&a, &d, "resume4-watch", "resume4-dev").await;
    let mut o = v4_options(&a, &d, "resume4-dev");
    o.set_clean_session(false);
    let (client, mut ev) = spawn_v4(o.clone());
    assert!(!ev.connack().await.session_present);
    client.subscribe("resume4/+", Q::AtLeastOnce).await.unwrap();
    ev.suback().await;
    client.disconnect().await.unwrap();
    wait_disconnected(&mut w, "resume4-dev").await;
    ev.kill().await;

    let mut p = RawMqtt::client(&a, &d, V5, "resume4-pub").await;
    for i in 0..5u16 {
        p.publish(
            &format!("resume4/{i}"),
            format!("n{i}").as_bytes(),
            QoS::AtLeastOnce,
            i + 1,
        )
        .await;
    }

    let (_client, mut ev) = spawn_v4(o);
    let present = ev.connack().await.session_present;
    assert!(present, "3.1.1 clean session = 0 resumes the session");
    let mut got = Vec::new();
    while got.len() < 5 {
        let m = ev.next_publish().await;
        assert_eq!(m.qos, Q::AtLeastOnce);
        got.push((
            m.topic.clone(),
            String::from_utf8(m.payload.to_vec()).unwrap(),
        ));
    }
    let want: Vec<(String, String)> = (0..5)
        .map(|i| (format!("resume4/{i}"), format!("n{i}")))
        .collect();
    assert_eq!(got, want);
    ev.kill().await;
}

// 8. Topic aliases --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_topic_alias_is_resolved_for_subscribers() {
    let a = Airlock::start("");
    let d = a.device("alias-in");
    let (mut p, ack) = RawMqtt::connect_ok(&a, &d, connect_packet(V5, "alias-pub", true)).await;
    assert_eq!(
        ack.properties.topic_alias_maximum,
        Some(8),
        "CONNACK advertises topic alias maximum"
    );
    let mut s = RawMqtt::client(&a, &d, V5, "alias-sub").await;
    s.subscribe(1, "alias/in", QoS::AtLeastOnce).await;

    let props = Properties {
        topic_alias: Some(3),
        ..Default::default()
    };
    p.publish_with("alias/in", b"first", QoS::AtLeastOnce, 1, props.clone())
        .await;
    p.publish_with("", b"second", QoS::AtLeastOnce, 2, props)
        .await;

    for payload in [&b"first"[..], b"second"] {
        let m = s.expect_publish_acked().await;
        assert_eq!(m.topic, "alias/in", "the subscriber sees the real topic");
        assert_eq!(&m.payload[..], payload);
        assert_eq!(
            m.properties.topic_alias, None,
            "a client that allows no aliases gets none"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_topic_alias_is_used_for_repeated_topics() {
    let a = Airlock::start("");
    let d = a.device("alias-out");
    let mut connect = connect_packet(V5, "alias-out-sub", true);
    connect.properties.topic_alias_maximum = Some(4);
    let (mut s, _) = RawMqtt::connect_ok(&a, &d, connect).await;
    s.subscribe(1, "alias/out/#", QoS::AtLeastOnce).await;
    let mut p = RawMqtt::client(&a, &d, V5, "alias-out-pub").await;
    for (i, (topic, payload)) in [
        ("alias/out/a", "a1"),
        ("alias/out/a", "a2"),
        ("alias/out/b", "b1"),
        ("alias/out/a", "a3"),
    ]
    .into_iter()
    .enumerate()
    {
        p.publish(topic, payload.as_bytes(), QoS::AtLeastOnce, i as u16 + 1)
            .await;
    }

    let mut aliases = std::collections::HashMap::<u16, String>::new();
    let mut resolved = Vec::new();
    let mut raw = Vec::new();
    for _ in 0..4 {
        let m = s.expect_publish_acked().await;
        let alias = m.properties.topic_alias;
        if let Some(al) = alias {
            assert!((1..=4).contains(&al), "alias within our maximum: {m:?}");
        }
        let topic = match (m.topic.is_empty(), alias) {
            (false, Some(al)) => {
                aliases.insert(al, m.topic.clone());
                m.topic.clone()
            }
            (false, None) => m.topic.clone(),
            (true, Some(al)) => aliases
                .get(&al)
                .cloned()
                .unwrap_or_else(|| panic!("unknown alias {al}: {m:?}")),
            (true, None) => panic!("empty topic without alias: {m:?}"),
        };
        raw.push((m.topic.clone(), alias));
        resolved.push((topic, String::from_utf8(m.payload.to_vec()).unwrap()));
    }
    let want: Vec<(String, String)> = [
        ("alias/out/a", "a1"),
        ("alias/out/a", "a2"),
        ("alias/out/b", "b1"),
        ("alias/out/a", "a3"),
    ]
    .iter()
    .map(|(t, p)| (t.to_string(), p.to_string()))
    .collect();
    assert_eq!(resolved, want);
    // First use of a topic: full topic plus a new alias; later uses: empty topic plus the alias.
    let alias_a = raw[0].1.expect("first delivery sets an alias");
    assert_eq!(raw[0].0, "alias/out/a");
    assert_eq!(
        raw[1],
        (String::new(), Some(alias_a)),
        "second delivery to the same topic uses the alias"
    );
    let alias_b = raw[2].1.expect("a new topic gets its own alias");
    assert_ne!(alias_a, alias_b);
    assert_eq!(raw[2].0, "alias/out/b");
    assert_eq!(raw[3], (String::new(), Some(alias_a)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_topic_alias_is_not_spent_on_a_message_dropped_as_too_large() {
    let a = Airlock::start("");
    let d = a.device("alias-big");
    let mut connect = connect_packet(V5, "alias-big-sub", true);
    connect.properties.topic_alias_maximum = Some(4);
    connect.properties.maximum_packet_size = Some(300);
    let (mut s, _) = RawMqtt::connect_ok(&a, &d, connect).await;
    s.subscribe(1, "alias/big/#", QoS::AtLeastOnce).await;
    let mut p = RawMqtt::client(&a, &d, V5, "alias-big-pub").await;
    // Larger than the subscriber's Maximum Packet Size: dropped for it (MQTT 3.1.2-25).
    p.publish("alias/big/t", &[b'x'; 1000], QoS::AtLeastOnce, 1)
        .await;
    p.publish("alias/big/t", b"small", QoS::AtLeastOnce, 2)
        .await;
    let m = s.expect_publish_acked().await;
    assert_eq!(
        &m.payload[..],
        b"small",
        "the oversized message is not delivered"
    );
    // The subscriber never saw the dropped packet, so this first delivery must name the topic.
    assert_eq!(
        m.topic, "alias/big/t",
        "topic must be sent with the first alias use: {m:?}"
    );
    s.expect_nothing(QUIET).await;
}

// 9. Message expiry -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_messages_are_not_delivered_and_remaining_expiry_is_forwarded() {
    let a = Airlock::start("");
    let d = a.device("exp");
    let mut w = disconnect_watcher(&a, &d, "exp-watch", "exp-dev").await;
    let (mut c, _) = RawMqtt::connect_ok(&a, &d, expiring_connect("exp-dev", true, 300)).await;
    c.subscribe(1, "exp/#", QoS::AtLeastOnce).await;
    c.disconnect().await;
    wait_disconnected(&mut w, "exp-dev").await;

    let mut p = RawMqtt::client(&a, &d, V5, "exp-pub").await;
    let short = Properties {
        message_expiry_interval: Some(1),
        ..Default::default()
    };
    p.publish_with("exp/short", b"stale soon", QoS::AtLeastOnce, 1, short)
        .await;
    let long = Properties {
        message_expiry_interval: Some(60),
        ..Default::default()
    };
    p.publish_with("exp/long", b"still fresh", QoS::AtLeastOnce, 2, long)
        .await;

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (mut c, ack) = RawMqtt::connect_ok(&a, &d, expiring_connect("exp-dev", false, 300)).await;
    assert!(ack.session_present);
    let m = c.expect_publish_acked().await;
    assert_eq!(
        (m.topic.as_str(), &m.payload[..]),
        ("exp/long", &b"still fresh"[..]),
        "the expired message is not delivered"
    );
    let left = m
        .properties
        .message_expiry_interval
        .expect("remaining expiry is forwarded");
    assert!(left <= 60 && left > 0, "remaining expiry {left}");
    assert!(
        left <= 58,
        "2.5 s passed, so at most 58 s remain (got {left})"
    );
    c.expect_nothing(QUIET).await;
}

// 10. Flow control --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_respects_the_client_receive_maximum() {
    let a = Airlock::start("");
    let d = a.device("rm");
    let mut connect = connect_packet(V5, "rm-sub", true);
    connect.properties.receive_maximum = Some(2);
    let (mut s, _) = RawMqtt::connect_ok(&a, &d, connect).await;
    s.subscribe(1, "rm/t", QoS::AtLeastOnce).await;
    let mut p = RawMqtt::client(&a, &d, V5, "rm-pub").await;
    for i in 0..5u16 {
        p.publish("rm/t", format!("r{i}").as_bytes(), QoS::AtLeastOnce, i + 1)
            .await;
    }

    let m0 = s.expect_publish().await;
    let m1 = s.expect_publish().await;
    assert_eq!((&m0.payload[..], &m1.payload[..]), (&b"r0"[..], &b"r1"[..]));
    s.expect_nothing(QUIET).await; // two unacknowledged: the broker must wait

    s.puback(m0.packet_id.unwrap()).await;
    let m2 = s.expect_publish().await;
    assert_eq!(&m2.payload[..], b"r2");
    s.expect_nothing(QUIET).await; // again two in flight (r1, r2)

    s.puback(m1.packet_id.unwrap()).await;
    s.puback(m2.packet_id.unwrap()).await;
    let m3 = s.expect_publish().await;
    let m4 = s.expect_publish().await;
    assert_eq!((&m3.payload[..], &m4.payload[..]), (&b"r3"[..], &b"r4"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_exceeding_the_broker_receive_maximum_is_disconnected() {
    let a = Airlock::start("[mqtt]\nreceive_maximum = 3\n");
    let d = a.device("rmx");
    let (mut c, ack) = RawMqtt::connect_ok(&a, &d, connect_packet(V5, "rmx", true)).await;
    assert_eq!(
        ack.properties.receive_maximum,
        Some(3),
        "CONNACK advertises receive maximum"
    );

    // QoS 1 is acknowledged as soon as it is routed, so the window is provoked with QoS 2:
    // a QoS 2 PUBLISH counts until its PUBCOMP.
    let qos2 = |pid| publish_packet("rmx/t", b"x", QoS::ExactlyOnce, pid, false);
    for pid in 1..=3u16 {
        c.send(&qos2(pid)).await;
    }
    for pid in 1..=3u16 {
        c.expect_ack(Packet::PubRec, pid).await;
    }
    // Completing one frees one slot.
    c.send(&pubrel(1)).await;
    c.expect_ack(Packet::PubComp, 1).await;
    c.send(&qos2(4)).await;
    c.expect_ack(Packet::PubRec, 4).await;
    // Now 2, 3 and 4 are unacknowledged: a fourth is one too many.
    c.send(&qos2(5)).await;
    c.expect_close(Some(rc::RECEIVE_MAXIMUM_EXCEEDED)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos2_retransmission_after_reconnect_does_not_count_twice_against_receive_maximum() {
    let a = Airlock::start("[mqtt]\nreceive_maximum = 3\n");
    let d = a.device("rmr");
    let mut w = disconnect_watcher(&a, &d, "rmr-watch", "rmr").await;
    let (mut c, _) = RawMqtt::connect_ok(&a, &d, expiring_connect("rmr", true, 60)).await;
    for pid in 1..=3u16 {
        c.send(&publish_packet("rmr/t", b"x", QoS::ExactlyOnce, pid, false))
            .await;
        c.expect_ack(Packet::PubRec, pid).await;
    }
    // The connection drops; as far as the client knows, its PUBLISHes were never acknowledged.
    drop(c);
    wait_disconnected(&mut w, "rmr").await;
    let (mut c, ack) = RawMqtt::connect_ok(&a, &d, expiring_connect("rmr", false, 60)).await;
    assert!(ack.session_present);
    // Resending them (DUP) is what MQTT 4.4 requires; they are the same three in the window.
    for pid in 1..=3u16 {
        let mut p = publish("rmr/t", b"x", QoS::ExactlyOnce, pid, false);
        p.dup = true;
        c.send(&Packet::Publish(p)).await;
        c.expect_ack(Packet::PubRec, pid).await; // PUBREC for the retransmission
    }
    for pid in 1..=3u16 {
        c.send(&pubrel(pid)).await;
        c.expect_ack(Packet::PubComp, pid).await;
    }
}

// 11. No Local ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_local_subscription_skips_own_messages_only() {
    let a = Airlock::start("");
    let d = a.device("nl");
    let mut me = RawMqtt::client(&a, &d, V5, "nl-me").await;
    let opts = SubscriptionOptions {
        no_local: true,
        ..sub_options(QoS::AtLeastOnce)
    };
    assert_eq!(
        me.subscribe_with(1, vec![("nl/chat".into(), opts)], Properties::default())
            .await,
        vec![1]
    );
    let other = me.publish("nl/chat", b"mine", QoS::AtLeastOnce, 1).await;
    assert!(
        other.is_empty(),
        "own message delivered despite No Local: {other:?}"
    );

    let mut them = RawMqtt::client(&a, &d, V5, "nl-them").await;
    them.publish("nl/chat", b"theirs", QoS::AtLeastOnce, 1)
        .await;
    let m = me.expect_publish_acked().await;
    assert_eq!(
        &m.payload[..],
        b"theirs",
        "first delivery must be the other client's message"
    );
    me.expect_nothing(QUIET).await;
}

// 12. Subscription identifiers --------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_identifier_is_carried_by_matching_messages() {
    let a = Airlock::start("");
    let d = a.device("sid");
    let mut p = RawMqtt::client(&a, &d, V5, "sid-pub").await;
    p.publish_qos1("sid/r", b"retained", 1, true).await;

    let mut s = RawMqtt::client(&a, &d, V5, "sid-sub").await;
    let props = Properties {
        subscription_identifiers: vec![7],
        ..Default::default()
    };
    assert_eq!(
        s.subscribe_with(
            1,
            vec![("sid/#".into(), sub_options(QoS::AtLeastOnce))],
            props
        )
        .await,
        vec![1]
    );
    let m = s.expect_publish_acked().await;
    assert_eq!((m.topic.as_str(), m.retain), ("sid/r", true));
    assert_eq!(
        m.properties.subscription_identifiers,
        vec![7],
        "retained message sent for the subscription"
    );
    // A second subscription without an identifier.
    s.subscribe(2, "plain/#", QoS::AtLeastOnce).await;

    p.publish("sid/a", b"one", QoS::AtLeastOnce, 2).await;
    let m = s.expect_publish_acked().await;
    assert_eq!((m.topic.as_str(), &m.payload[..]), ("sid/a", &b"one"[..]));
    assert_eq!(m.properties.subscription_identifiers, vec![7]);

    p.publish("plain/a", b"two", QoS::AtLeastOnce, 3).await;
    let m = s.expect_publish_acked().await;
    assert_eq!((m.topic.as_str(), &m.payload[..]), ("plain/a", &b"two"[..]));
    assert!(
        m.properties.subscription_identifiers.is_empty(),
        "no identifier on that subscription: {m:?}"
    );
    s.expect_nothing(QUIET).await;
}

// 13. Limits --------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_larger_than_max_payload_size_is_disconnected_with_0x95() {
    let a = Airlock::start("[mqtt]\nmax_payload_size = 1024\n");
    let d = a.device("big");
    let mut c = RawMqtt::client(&a, &d, V5, "big").await;
    // At the limit: accepted.
    c.publish("big/t", &[b'a'; 1024], QoS::AtLeastOnce, 1).await;
    // One byte over: DISCONNECT Packet Too Large, then the connection closes.
    c.send(&publish_packet(
        "big/t",
        &[b'a'; 1025],
        QoS::AtLeastOnce,
        2,
        false,
    ))
    .await;
    c.expect_close(Some(rc::PACKET_TOO_LARGE)).await;
}

async fn connack_for_client_id(
    a: &Airlock,
    d: &Device,
    version: ProtocolVersion,
    id: &str,
) -> (RawMqtt, ConnAck) {
    RawMqtt::connect(a, d, connect_packet(version, id, true)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_id_longer_than_128_bytes_is_refused() {
    let a = Airlock::start("");
    let d = a.device("longid");
    let ok_id = "i".repeat(128);
    let long_id = "i".repeat(129);

    let (_c, ack) = connack_for_client_id(&a, &d, V5, &ok_id).await;
    assert_eq!(ack.code, 0, "128 bytes is allowed");
    let (mut c, ack) = connack_for_client_id(&a, &d, V5, &long_id).await;
    assert_eq!(
        ack.code,
        rc::CLIENT_IDENTIFIER_NOT_VALID,
        "v5: Client Identifier not valid: {ack:?}"
    );
    assert!(!ack.session_present);
    c.expect_close(None).await;

    let (_c, ack) = connack_for_client_id(&a, &d, V311, &ok_id).await;
    assert_eq!(ack.code, 0, "128 bytes is allowed (3.1.1)");
    let (mut c, ack) = connack_for_client_id(&a, &d, V311, &long_id).await;
    assert_eq!(
        ack.code,
        rc::v311::IDENTIFIER_REJECTED,
        "3.1.1: identifier rejected: {ack:?}"
    );
    c.expect_close(None).await;
}

/// Keep alive is enforced at 1.5 x: a v5 client with keep alive 1 s that goes silent gets
/// DISCONNECT 0x8D and is closed; one that keeps sending PINGREQ inside the window stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_is_enforced_at_one_and_a_half_times() {
    let a = Airlock::start("");
    let dev = a.device("ka-dev");
    let mut pinger_connect = connect_packet(ProtocolVersion::V5, "ka-pinger", true);
    pinger_connect.keep_alive = 1;
    let (mut pinger, _) = RawMqtt::connect_ok(&a, &dev, pinger_connect).await;
    // The pinger stays alive by sending PINGREQ every 0.5 s, well inside 1.5 s.
    let pinging = tokio::spawn(async move {
        for _ in 0..6 {
            pinger.send(&Packet::PingReq).await;
            assert!(matches!(pinger.expect().await, Packet::PingResp));
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        pinger
    });
    let mut silent_connect = connect_packet(ProtocolVersion::V5, "ka-silent", true);
    silent_connect.keep_alive = 1;
    let (mut silent, _) = RawMqtt::connect_ok(&a, &dev, silent_connect).await;
    // Still connected well inside the 1.5 s window.
    silent.expect_nothing(Duration::from_millis(700)).await;
    silent.expect_close(Some(rc::KEEP_ALIVE_TIMEOUT)).await;
    let mut pinger = pinging.await.expect("pinger task");
    pinger.send(&Packet::PingReq).await;
    assert!(matches!(pinger.expect().await, Packet::PingResp));
    assert!(a.log().contains("keep alive expired"), "log: {}", a.log());
}

/// Clients cannot forge lifecycle events: a PUBLISH under `$aws/events/` is refused
/// (v5 QoS 1: PUBACK 0x87, connection kept; 3.1.1: connection closed) and never delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_cannot_publish_under_aws_events() {
    let a = Airlock::start("");
    let dev = a.device("forger");
    let mut watcher = RawMqtt::client(&a, &dev, ProtocolVersion::V5, "watcher").await;
    watcher
        .subscribe(1, "$aws/events/presence/connected/victim", QoS::AtLeastOnce)
        .await;
    let mut v5 = RawMqtt::client(&a, &dev, ProtocolVersion::V5, "forger-v5").await;
    v5.send(&publish_packet(
        "$aws/events/presence/connected/victim",
        b"{\"clientId\":\"victim\"}",
        QoS::AtLeastOnce,
        7,
        false,
    ))
    .await;
    match v5.expect().await {
        Packet::PubAck(ack) => {
            assert_eq!(ack.packet_id, 7);
            assert_eq!(ack.reason, rc::NOT_AUTHORIZED);
        }
        other => panic!("expected PUBACK 0x87, got {other:?}"),
    }
    // The connection stays usable after the refusal.
    v5.send(&Packet::PingReq).await;
    assert!(matches!(v5.expect().await, Packet::PingResp));
    let mut v3 = RawMqtt::client(&a, &dev, ProtocolVersion::V311, "forger-v3").await;
    v3.send(&publish_packet(
        "$aws/events/presence/connected/victim",
        b"{}",
        QoS::AtMostOnce,
        0,
        false,
    ))
    .await;
    v3.expect_close(None).await;
    watcher.expect_nothing(Duration::from_millis(500)).await;
}

/// A burst far larger than one write batch, then silence: every message must still arrive.
/// (The broker drains a session in 64 KiB turns; a turn that ends with messages left must
/// schedule the next one itself, since no further publish will wake it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_larger_than_a_write_batch_is_delivered_in_full() {
    // Room for the whole burst, so the default 1000-message queue bound is not what is tested.
    let a = Airlock::start("[mqtt]\nmax_queued_messages = 20000\n");
    let dev = a.device("burst-dev");
    let mut sub = RawMqtt::client(&a, &dev, V5, "burst-sub").await;
    sub.subscribe(1, "burst/#", QoS::AtMostOnce).await;
    let mut pubr = RawMqtt::client(&a, &dev, V5, "burst-pub").await;
    // 10 MiB: more than loopback socket buffers hold, so the broker's writes to the
    // subscriber block while the publisher's burst is queued behind them.
    const N: usize = 10_000;
    let payload = vec![b'x'; 1024];
    let mut bytes = Vec::new();
    for i in 0..N {
        let p = publish_packet(
            &format!("burst/{}", i % 10),
            &payload,
            QoS::AtMostOnce,
            0,
            false,
        );
        bytes.extend(crate::harness::encode_packet(&p, V5));
    }
    pubr.write_raw(&bytes).await;
    // Let the whole burst be routed before the subscriber starts reading.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut got = 0;
    while got < N {
        match sub.recv(WAIT).await {
            Rx::Packet(Packet::Publish(p)) => {
                assert_eq!(p.payload.len(), 1024);
                got += 1;
            }
            other => panic!("after {got} of {N} messages: {other:?}"),
        }
    }
    // And nothing was counted as dropped.
    assert!(
        !a.metrics().contains("airlock_messages_dropped_total"),
        "{}",
        a.metrics()
    );
}
