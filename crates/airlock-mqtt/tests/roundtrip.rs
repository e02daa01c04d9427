//! Property tests: every valid packet survives encode then decode unchanged for its protocol
//! version, `encoded_len` agrees with `encode`, and `decode` never panics on arbitrary bytes.

use airlock_mqtt::{
    Auth, ConnAck, Connect, Disconnect, Packet, Properties, ProtocolVersion, PubAck, Publish, QoS,
    SubAck, Subscribe, SubscriptionOptions, UnsubAck, Unsubscribe, Will, decode, encode,
    encoded_len, topic,
};
use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;

use ProtocolVersion::{V5, V311};

/// Where a property list appears (MQTT 5.0 table 2.2.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Connect,
    Will,
    ConnAck,
    Publish,
    Ack,
    Subscribe,
    SubAck,
    Unsubscribe,
    UnsubAck,
    Disconnect,
    Auth,
}

/// Independent copy of the spec table: may property `id` appear in `ctx`?
fn allowed(ctx: Ctx, id: u8) -> bool {
    use Ctx::*;
    let list: &[Ctx] = match id {
        0x01 | 0x02 | 0x03 | 0x08 | 0x09 => &[Publish, Will],
        0x0B => &[Publish, Subscribe],
        0x11 => &[Connect, ConnAck, Disconnect],
        0x12 | 0x13 | 0x1A | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => &[ConnAck],
        0x15 | 0x16 => &[Connect, ConnAck, Auth],
        0x17 | 0x19 | 0x21 | 0x22 | 0x27 if ctx == Connect => return true,
        0x17 | 0x19 => &[],
        0x18 => &[Will],
        0x1C => &[ConnAck, Disconnect],
        0x1F => &[ConnAck, Ack, SubAck, UnsubAck, Disconnect, Auth],
        0x21 | 0x22 | 0x27 => &[ConnAck],
        0x23 => &[Publish],
        0x26 => return true,
        _ => &[],
    };
    list.contains(&ctx)
}

/// Clear every property `ctx` does not allow.
fn mask(mut p: Properties, ctx: Ctx) -> Properties {
    fn keep<T>(slot: &mut Option<T>, ctx: Ctx, id: u8) {
        if !allowed(ctx, id) {
            *slot = None;
        }
    }
    keep(&mut p.payload_format_indicator, ctx, 0x01);
    keep(&mut p.message_expiry_interval, ctx, 0x02);
    keep(&mut p.content_type, ctx, 0x03);
    keep(&mut p.response_topic, ctx, 0x08);
    keep(&mut p.correlation_data, ctx, 0x09);
    if !allowed(ctx, 0x0B) {
        p.subscription_identifiers.clear();
    }
    if ctx == Ctx::Subscribe {
        p.subscription_identifiers.truncate(1);
    }
    keep(&mut p.session_expiry_interval, ctx, 0x11);
    keep(&mut p.assigned_client_identifier, ctx, 0x12);
    keep(&mut p.server_keep_alive, ctx, 0x13);
    keep(&mut p.authentication_method, ctx, 0x15);
    keep(&mut p.authentication_data, ctx, 0x16);
    keep(&mut p.request_problem_information, ctx, 0x17);
    keep(&mut p.will_delay_interval, ctx, 0x18);
    keep(&mut p.request_response_information, ctx, 0x19);
    keep(&mut p.response_information, ctx, 0x1A);
    keep(&mut p.server_reference, ctx, 0x1C);
    keep(&mut p.reason_string, ctx, 0x1F);
    keep(&mut p.receive_maximum, ctx, 0x21);
    keep(&mut p.topic_alias_maximum, ctx, 0x22);
    keep(&mut p.topic_alias, ctx, 0x23);
    keep(&mut p.maximum_qos, ctx, 0x24);
    keep(&mut p.retain_available, ctx, 0x25);
    keep(&mut p.maximum_packet_size, ctx, 0x27);
    keep(&mut p.wildcard_subscription_available, ctx, 0x28);
    keep(&mut p.subscription_identifier_available, ctx, 0x29);
    keep(&mut p.shared_subscription_available, ctx, 0x2A);
    p
}

/// Any MQTT UTF-8 string: any characters but U+0000, including multi-byte ones.
fn mqtt_string() -> impl Strategy<Value = String> {
    "[^\u{0}]{0,8}"
}

fn data() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..12).prop_map(Bytes::from)
}

fn topic_name() -> impl Strategy<Value = String> {
    "[a-zé$ ]{0,3}(/[a-z0-9]{0,3}){0,3}"
        .prop_filter("valid topic name", |t| topic::valid_topic_name(t))
}

fn topic_filter() -> impl Strategy<Value = String> {
    (
        vec(select(vec!["a", "b", "+", "", "$x", "ü"]), 1..4),
        any::<bool>(),
        option::of(select(vec!["g", "grp1"])),
    )
        .prop_map(|(levels, hash, share)| {
            let mut f = levels.join("/");
            if hash {
                f.push_str("/#");
            }
            match share {
                Some(g) => format!("$share/{g}/{f}"),
                None => f,
            }
        })
        .prop_filter("valid topic filter", |f| topic::valid_topic_filter(f))
}

fn qos() -> impl Strategy<Value = QoS> {
    select(vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
}

fn bit() -> impl Strategy<Value = u8> {
    0..=1u8
}

/// Every property with a valid value (or absent).
fn all_properties() -> impl Strategy<Value = Properties> {
    let a = (
        option::of(bit()),
        option::of(any::<u32>()),
        option::of(mqtt_string()),
        option::of(topic_name()),
        option::of(data()),
        vec(1..=268_435_455u32, 0..3),
        option::of(any::<u32>()),
        option::of(mqtt_string()),
        option::of(any::<u16>()),
        option::of(mqtt_string()),
    );
    let b = (
        option::of(data()),
        option::of(bit()),
        option::of(any::<u32>()),
        option::of(bit()),
        option::of(mqtt_string()),
        option::of(mqtt_string()),
        option::of(mqtt_string()),
        option::of(1..=u16::MAX),
        option::of(any::<u16>()),
        option::of(1..=u16::MAX),
    );
    let c = (
        option::of(bit()),
        option::of(bit()),
        vec((mqtt_string(), mqtt_string()), 0..3),
        option::of(1..=u32::MAX),
        option::of(bit()),
        option::of(bit()),
        option::of(bit()),
    );
    (a, b, c).prop_map(|(a, b, c)| Properties {
        payload_format_indicator: a.0,
        message_expiry_interval: a.1,
        content_type: a.2,
        response_topic: a.3,
        correlation_data: a.4,
        subscription_identifiers: a.5,
        session_expiry_interval: a.6,
        assigned_client_identifier: a.7,
        server_keep_alive: a.8,
        authentication_method: a.9,
        authentication_data: b.0,
        request_problem_information: b.1,
        will_delay_interval: b.2,
        request_response_information: b.3,
        response_information: b.4,
        server_reference: b.5,
        reason_string: b.6,
        receive_maximum: b.7,
        topic_alias_maximum: b.8,
        topic_alias: b.9,
        maximum_qos: c.0,
        retain_available: c.1,
        user_properties: c.2,
        maximum_packet_size: c.3,
        wildcard_subscription_available: c.4,
        subscription_identifier_available: c.5,
        shared_subscription_available: c.6,
    })
}

/// Properties for `ctx`: empty for 3.1.1, otherwise sparse and only those `ctx` allows.
fn props(v: ProtocolVersion, ctx: Ctx) -> BoxedStrategy<Properties> {
    match v {
        V311 => Just(Properties::default()).boxed(),
        V5 => prop_oneof![
            Just(Properties::default()),
            all_properties().prop_map(move |p| mask(p, ctx)),
        ]
        .boxed(),
    }
}

fn reason(v: ProtocolVersion, v5_codes: &'static [u8]) -> BoxedStrategy<u8> {
    match v {
        V311 => Just(0).boxed(),
        V5 => select(v5_codes).boxed(),
    }
}

const CONNACK_V5: &[u8] = &[
    0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
    0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
];
const PUBACK_V5: &[u8] = &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];
const PUBREL_V5: &[u8] = &[0x00, 0x92];
const SUBACK_V311: &[u8] = &[0x00, 0x01, 0x02, 0x80];
const SUBACK_V5: &[u8] = &[
    0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
];
const UNSUBACK_V5: &[u8] = &[0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91];
const DISCONNECT_V5: &[u8] = &[
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95,
    0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
];
const AUTH_V5: &[u8] = &[0x00, 0x18, 0x19];

fn will(v: ProtocolVersion) -> impl Strategy<Value = Will> {
    (
        topic_name(),
        data(),
        qos(),
        any::<bool>(),
        props(v, Ctx::Will),
    )
        .prop_map(|(topic, payload, qos, retain, properties)| Will {
            topic,
            payload,
            qos,
            retain,
            properties,
        })
}

fn connect(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (
        any::<bool>(),
        any::<u16>(),
        mqtt_string(),
        option::of(will(v)),
        option::of(mqtt_string()),
        option::of(data()),
        props(v, Ctx::Connect),
    )
        .prop_map(
            move |(clean_start, keep_alive, client_id, will, username, password, properties)| {
                // 3.1.1 has no password without a user name.
                let password = if v == V311 && username.is_none() {
                    None
                } else {
                    password
                };
                Packet::Connect(Connect {
                    protocol: v,
                    clean_start,
                    keep_alive,
                    client_id,
                    will,
                    username,
                    password,
                    properties,
                })
            },
        )
}

fn publish(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (
        qos(),
        any::<bool>(),
        any::<bool>(),
        topic_name(),
        any::<bool>(),
        1..=u16::MAX,
        props(v, Ctx::Publish),
        data(),
    )
        .prop_map(
            move |(qos, dup, retain, topic, empty_topic, id, properties, payload)| {
                // A v5 topic alias may stand for an empty topic name.
                let topic = if v == V5 && empty_topic && properties.topic_alias.is_some() {
                    String::new()
                } else {
                    topic
                };
                let at_most_once = qos == QoS::AtMostOnce;
                Packet::Publish(Publish {
                    dup: dup && !at_most_once,
                    qos,
                    retain,
                    topic,
                    packet_id: (!at_most_once).then_some(id),
                    properties,
                    payload,
                })
            },
        )
}

fn pub_ack(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let ack = |v, codes| {
        (1..=u16::MAX, reason(v, codes), props(v, Ctx::Ack)).prop_map(
            |(packet_id, reason, properties)| PubAck {
                packet_id,
                reason,
                properties,
            },
        )
    };
    prop_oneof![
        ack(v, PUBACK_V5).prop_map(Packet::PubAck),
        ack(v, PUBACK_V5).prop_map(Packet::PubRec),
        ack(v, PUBREL_V5).prop_map(Packet::PubRel),
        ack(v, PUBREL_V5).prop_map(Packet::PubComp),
    ]
}

fn subscribe(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let entry = (topic_filter(), qos(), any::<bool>(), any::<bool>(), 0..=2u8).prop_map(
        move |(f, qos, no_local, rap, rh)| {
            let o = match v {
                V311 => SubscriptionOptions {
                    qos,
                    no_local: false,
                    retain_as_published: false,
                    retain_handling: 0,
                },
                V5 => SubscriptionOptions {
                    qos,
                    // No Local on a shared subscription is a protocol error.
                    no_local: no_local && topic::split_shared(&f).is_none(),
                    retain_as_published: rap,
                    retain_handling: rh,
                },
            };
            (f, o)
        },
    );
    (1..=u16::MAX, vec(entry, 1..4), props(v, Ctx::Subscribe)).prop_map(
        |(packet_id, filters, properties)| {
            Packet::Subscribe(Subscribe {
                packet_id,
                filters,
                properties,
            })
        },
    )
}

fn suback(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let codes = match v {
        V311 => SUBACK_V311,
        V5 => SUBACK_V5,
    };
    (
        1..=u16::MAX,
        vec(select(codes), 1..4),
        props(v, Ctx::SubAck),
    )
        .prop_map(|(packet_id, reasons, properties)| {
            Packet::SubAck(SubAck {
                packet_id,
                reasons,
                properties,
            })
        })
}

fn unsubscribe(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (
        1..=u16::MAX,
        vec(topic_filter(), 1..4),
        props(v, Ctx::Unsubscribe),
    )
        .prop_map(|(packet_id, filters, properties)| {
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                filters,
                properties,
            })
        })
}

fn unsuback(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let reasons = match v {
        V311 => Just(Vec::new()).boxed(),
        V5 => vec(select(UNSUBACK_V5), 1..4).boxed(),
    };
    (1..=u16::MAX, reasons, props(v, Ctx::UnsubAck)).prop_map(|(packet_id, reasons, properties)| {
        Packet::UnsubAck(UnsubAck {
            packet_id,
            reasons,
            properties,
        })
    })
}

fn connack(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let code = match v {
        V311 => (0..=5u8).boxed(),
        V5 => select(CONNACK_V5).boxed(),
    };
    (any::<bool>(), code, props(v, Ctx::ConnAck)).prop_map(|(session_present, code, properties)| {
        Packet::ConnAck(ConnAck {
            session_present,
            code,
            properties,
        })
    })
}

fn packet(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    let disconnect = (reason(v, DISCONNECT_V5), props(v, Ctx::Disconnect))
        .prop_map(|(reason, properties)| Packet::Disconnect(Disconnect { reason, properties }));
    let common = prop_oneof![
        connect(v),
        connack(v),
        publish(v),
        pub_ack(v),
        subscribe(v),
        suback(v),
        unsubscribe(v),
        unsuback(v),
        Just(Packet::PingReq),
        Just(Packet::PingResp),
        disconnect,
    ];
    match v {
        V311 => common.boxed(),
        V5 => {
            let auth = (select(AUTH_V5), props(v, Ctx::Auth))
                .prop_map(|(reason, properties)| Packet::Auth(Auth { reason, properties }));
            prop_oneof![10 => common, 1 => auth].boxed()
        }
    }
}

fn version() -> impl Strategy<Value = ProtocolVersion> {
    select(vec![V311, V5])
}

fn versioned_packet() -> impl Strategy<Value = (ProtocolVersion, Packet)> {
    version().prop_flat_map(|v| (Just(v), packet(v)))
}

fn check_round_trip(v: ProtocolVersion, p: &Packet) -> Result<(), TestCaseError> {
    let mut buf = BytesMut::new();
    encode(p, v, &mut buf).map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
    prop_assert_eq!(encoded_len(p, v), Ok(buf.len()));
    let bytes = buf.clone();
    let decoded = decode(&mut buf, v, bytes.len());
    prop_assert_eq!(decoded, Ok(Some(p.clone())), "bytes {:02x?}", &bytes[..]);
    prop_assert!(buf.is_empty());
    // Every strict prefix is incomplete, not an error.
    for n in [0, 1, bytes.len() / 2, bytes.len() - 1] {
        let mut part = BytesMut::from(&bytes[..n]);
        prop_assert_eq!(decode(&mut part, v, usize::MAX), Ok(None));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn round_trip_v311(p in packet(V311)) {
        check_round_trip(V311, &p)?;
    }

    #[test]
    fn round_trip_v5(p in packet(V5)) {
        check_round_trip(V5, &p)?;
    }

    #[test]
    fn decode_arbitrary_bytes_never_panics(bytes in vec(any::<u8>(), 0..300), v in version()) {
        let mut buf = BytesMut::from(&bytes[..]);
        // Keep decoding like a connection would until an error or more input is needed.
        while let Ok(Some(p)) = decode(&mut buf, v, 1 << 16) {
            // Whatever decodes must encode and decode back to itself.
            check_round_trip(v, &p)?;
        }
    }

    #[test]
    fn decode_mutated_packets_never_panics(
        (v, p) in versioned_packet(),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut buf = BytesMut::new();
        encode(&p, v, &mut buf).map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
        let mut bytes = buf.to_vec();
        for (i, b) in flips {
            let i = i.index(bytes.len());
            bytes[i] ^= b;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        for max in [usize::MAX, 16] {
            let mut buf = BytesMut::from(&bytes[..]);
            if let Ok(Some(p)) = decode(&mut buf, v, max) {
                check_round_trip(v, &p)?;
            }
        }
    }
}
