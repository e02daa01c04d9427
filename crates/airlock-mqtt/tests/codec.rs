//! Table tests of the decoder and encoder against hand-written byte vectors from the
//! MQTT 3.1.1 and 5.0 specifications.

use airlock_mqtt::{
    Auth, ConnAck, Connect, DecodeError, Disconnect, EncodeError, Packet, Properties,
    ProtocolVersion, PubAck, Publish, QoS, SubAck, Subscribe, SubscriptionOptions, UnsubAck,
    Unsubscribe, Will, decode, encode, encoded_len,
};
use bytes::{Bytes, BytesMut};

use ProtocolVersion::{V5, V311};

const MAX: usize = 1 << 20;

/// Fixed header byte, one-byte remaining length, body.
fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    assert!(body.len() < 128, "test helper only handles short bodies");
    let mut v = vec![first, body.len() as u8];
    v.extend_from_slice(body);
    v
}

fn dec(bytes: &[u8], v: ProtocolVersion) -> Result<Option<Packet>, DecodeError> {
    let mut buf = BytesMut::from(bytes);
    let r = decode(&mut buf, v, MAX);
    if let Ok(Some(_)) = r {
        assert!(buf.is_empty(), "decode left {} bytes", buf.len());
    }
    r
}

fn dec_ok(bytes: &[u8], v: ProtocolVersion) -> Packet {
    match dec(bytes, v) {
        Ok(Some(p)) => p,
        other => panic!("expected a packet from {bytes:02x?}, got {other:?}"),
    }
}

fn dec_err(bytes: &[u8], v: ProtocolVersion) -> DecodeError {
    match dec(bytes, v) {
        Err(e) => e,
        other => panic!("expected an error from {bytes:02x?}, got {other:?}"),
    }
}

fn enc(p: &Packet, v: ProtocolVersion) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode(p, v, &mut buf).expect("encode");
    assert_eq!(encoded_len(p, v), Ok(buf.len()));
    buf.to_vec()
}

fn opts(qos: QoS) -> SubscriptionOptions {
    SubscriptionOptions {
        qos,
        no_local: false,
        retain_as_published: false,
        retain_handling: 0,
    }
}

fn ack(packet_id: u16, reason: u8) -> PubAck {
    PubAck {
        packet_id,
        reason,
        properties: Properties::default(),
    }
}

fn connect_v311_bytes() -> Vec<u8> {
    vec![
        0x10, 0x1F, // CONNECT, remaining length 31
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
        0x04, // level 4
        0xCE, // user name, password, will QoS 1, will flag, clean session
        0x00, 0x3C, // keep alive 60
        0x00, 0x02, b'c', b'1', // client id
        0x00, 0x03, b'w', b'/', b't', // will topic
        0x00, 0x03, b'b', b'y', b'e', // will payload
        0x00, 0x01, b'u', // user name
        0x00, 0x02, b'p', b'w', // password
    ]
}

fn connect_v5_bytes() -> Vec<u8> {
    vec![
        0x10, 0x3E, // CONNECT, remaining length 62
        0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, // "MQTT" level 5
        0xF6, // user, password, will retain, will QoS 2, will flag, clean start
        0x00, 0x0A, // keep alive 10
        0x0F, // property length 15
        0x11, 0x00, 0x00, 0x00, 0x78, // session expiry 120
        0x21, 0x00, 0x14, // receive maximum 20
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // user property k=v
        0x00, 0x03, b'c', b'i', b'd', // client id
        0x0E, // will property length 14
        0x18, 0x00, 0x00, 0x00, 0x05, // will delay 5
        0x01, 0x01, // payload format indicator 1
        0x03, 0x00, 0x04, b't', b'e', b'x', b't', // content type
        0x00, 0x03, b'w', b'/', b't', // will topic
        0x00, 0x02, b'h', b'i', // will payload
        0x00, 0x01, b'u', // user name
        0x00, 0x02, b'p', b'w', // password
    ]
}

fn publish_qos0_bytes() -> Vec<u8> {
    vec![
        0x30, 0x0A, 0x00, 0x03, b'a', b'/', b'b', b'h', b'e', b'l', b'l', b'o',
    ]
}

fn publish_qos2_v5_bytes() -> Vec<u8> {
    vec![
        0x3D, 0x18, // PUBLISH DUP QoS 2 RETAIN, remaining length 24
        0x00, 0x03, b'a', b'/', b'b', // topic
        0x12, 0x34, // packet id
        0x0E, // property length 14
        0x0B, 0x81, 0x01, // subscription identifier 129 (two-byte varint)
        0x0B, 0x02, // subscription identifier 2
        0x23, 0x00, 0x05, // topic alias 5
        0x26, 0x00, 0x00, 0x00, 0x01, b'x', // user property ""="x"
        b'o', b'k', // payload
    ]
}

fn subscribe_v5_bytes() -> Vec<u8> {
    vec![
        0x82, 0x12, // SUBSCRIBE, remaining length 18
        0x00, 0x07, // packet id
        0x02, 0x0B, 0x2A, // property length 2, subscription identifier 42
        0x00, 0x03, b'a', b'/', b'#', 0x2D, // retain handling 2, RAP, NL, QoS 1
        0x00, 0x04, b'x', b'/', b'+', b'/', 0x02, // plain QoS 2
    ]
}

#[test]
fn connect_v311_with_will() {
    let p = dec_ok(&connect_v311_bytes(), V311);
    let want = Packet::Connect(Connect {
        protocol: V311,
        clean_start: true,
        keep_alive: 60,
        client_id: "c1".into(),
        will: Some(Will {
            topic: "w/t".into(),
            payload: Bytes::from_static(b"bye"),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: Properties::default(),
        }),
        username: Some("u".into()),
        password: Some(Bytes::from_static(b"pw")),
        properties: Properties::default(),
    });
    assert_eq!(p, want);
    // CONNECT is parsed per its own level whatever version the caller passes.
    assert_eq!(dec_ok(&connect_v311_bytes(), V5), want);
    assert_eq!(enc(&want, V5), connect_v311_bytes());
}

#[test]
fn connect_v5_with_will_and_properties() {
    let p = dec_ok(&connect_v5_bytes(), V311);
    let want = Packet::Connect(Connect {
        protocol: V5,
        clean_start: true,
        keep_alive: 10,
        client_id: "cid".into(),
        will: Some(Will {
            topic: "w/t".into(),
            payload: Bytes::from_static(b"hi"),
            qos: QoS::ExactlyOnce,
            retain: true,
            properties: Properties {
                will_delay_interval: Some(5),
                payload_format_indicator: Some(1),
                content_type: Some("text".into()),
                ..Properties::default()
            },
        }),
        username: Some("u".into()),
        password: Some(Bytes::from_static(b"pw")),
        properties: Properties {
            session_expiry_interval: Some(120),
            receive_maximum: Some(20),
            user_properties: vec![("k".into(), "v".into())],
            ..Properties::default()
        },
    });
    assert_eq!(p, want);
    // Re-encoding writes properties in identifier order: payload format (0x01) before
    // content type (0x03) before will delay (0x18), so compare by decoding again.
    let again = dec_ok(&enc(&want, V5), V5);
    assert_eq!(again, want);
}

#[test]
fn connect_minimal_and_password_rules() {
    // 3.1.1, no will, no credentials, empty client id.
    let body = [0, 4, b'M', b'Q', b'T', b'T', 4, 0x00, 0, 0, 0, 0];
    match dec_ok(&frame(0x10, &body), V311) {
        Packet::Connect(c) => {
            assert!(!c.clean_start && c.will.is_none() && c.username.is_none());
            assert_eq!(c.client_id, "");
        }
        p => panic!("{p:?}"),
    }
    // Password without user name: malformed in 3.1.1, allowed in 5.0.
    let body = [
        0, 4, b'M', b'Q', b'T', b'T', 4, 0x40, 0, 0, 0, 0, 0, 1, b'p',
    ];
    assert!(matches!(
        dec_err(&frame(0x10, &body), V311),
        DecodeError::Malformed(_)
    ));
    let body = [
        0, 4, b'M', b'Q', b'T', b'T', 5, 0x40, 0, 0, 0, 0, 0, 0, 1, b'p',
    ];
    match dec_ok(&frame(0x10, &body), V5) {
        Packet::Connect(c) => {
            assert_eq!(c.password, Some(Bytes::from_static(b"p")));
            assert_eq!(c.username, None);
        }
        p => panic!("{p:?}"),
    }
}

#[test]
fn connect_malformed() {
    let cases: &[(&[u8], DecodeError)] = &[
        // Reserved flag bit 0 set.
        (
            &[0, 4, b'M', b'Q', b'T', b'T', 4, 0x01, 0, 0, 0, 0],
            DecodeError::Malformed("CONNECT reserved flag is set"),
        ),
        // Will QoS 3.
        (
            &[0, 4, b'M', b'Q', b'T', b'T', 4, 0x1C, 0, 0, 0, 0],
            DecodeError::Malformed("CONNECT will QoS 3"),
        ),
        // Will QoS 1 without will flag.
        (
            &[0, 4, b'M', b'Q', b'T', b'T', 4, 0x08, 0, 0, 0, 0],
            DecodeError::Malformed("CONNECT will QoS or will retain set without will flag"),
        ),
        // Will retain without will flag.
        (
            &[0, 4, b'M', b'Q', b'T', b'T', 4, 0x20, 0, 0, 0, 0],
            DecodeError::Malformed("CONNECT will QoS or will retain set without will flag"),
        ),
        // Protocol level 3 with the MQTT 3.1 name.
        (
            &[
                0, 6, b'M', b'Q', b'I', b's', b'd', b'p', 3, 0x02, 0, 0, 0, 0,
            ],
            DecodeError::UnsupportedProtocolVersion(3),
        ),
        // Protocol level 6.
        (
            &[0, 4, b'M', b'Q', b'T', b'T', 6, 0x02, 0, 0, 0, 0],
            DecodeError::UnsupportedProtocolVersion(6),
        ),
        // Level 4 but a wrong protocol name.
        (
            &[0, 4, b'M', b'Q', b'T', b'X', 4, 0x02, 0, 0, 0, 0],
            DecodeError::UnsupportedProtocolVersion(4),
        ),
        // Will topic with a wildcard.
        (
            &[
                0, 4, b'M', b'Q', b'T', b'T', 4, 0x04, 0, 0, 0, 0, 0, 1, b'#', 0, 0,
            ],
            DecodeError::Malformed("will topic is not a valid topic name"),
        ),
        // Truncated: user name flag set but no user name.
        (
            &[0, 4, b'M', b'Q', b'T', b'T', 4, 0x80, 0, 0, 0, 0],
            DecodeError::Malformed("packet shorter than its contents require"),
        ),
        // Topic Alias is not allowed in CONNECT.
        (
            &[
                0, 4, b'M', b'Q', b'T', b'T', 5, 0x00, 0, 0, 3, 0x23, 0, 1, 0, 0,
            ],
            DecodeError::Malformed("property not allowed in this packet"),
        ),
        // Duplicate Session Expiry Interval.
        (
            &[
                0, 4, b'M', b'Q', b'T', b'T', 5, 0x00, 0, 0, 10, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0,
                2, 0, 0,
            ],
            DecodeError::Malformed("duplicate property"),
        ),
        // Receive Maximum 0.
        (
            &[
                0, 4, b'M', b'Q', b'T', b'T', 5, 0x00, 0, 0, 3, 0x21, 0, 0, 0, 0,
            ],
            DecodeError::Malformed("receive maximum 0"),
        ),
        // Maximum Packet Size 0.
        (
            &[
                0, 4, b'M', b'Q', b'T', b'T', 5, 0x00, 0, 0, 5, 0x27, 0, 0, 0, 0, 0, 0,
            ],
            DecodeError::Malformed("maximum packet size 0"),
        ),
        // Request Problem Information 2.
        (
            &[
                0, 4, b'M', b'Q', b'T', b'T', 5, 0x00, 0, 0, 2, 0x17, 2, 0, 0,
            ],
            DecodeError::Malformed("request problem information must be 0 or 1"),
        ),
        // Unknown property 0x7F.
        (
            &[
                0, 4, b'M', b'Q', b'T', b'T', 5, 0x00, 0, 0, 2, 0x7F, 0, 0, 0,
            ],
            DecodeError::Malformed("unknown property identifier"),
        ),
        // Property length runs past the packet.
        (
            &[0, 4, b'M', b'Q', b'T', b'T', 5, 0x00, 0, 0, 9, 0x21, 0, 1],
            DecodeError::Malformed("packet shorter than its contents require"),
        ),
        // Trailing garbage after the payload.
        (
            &[0, 4, b'M', b'Q', b'T', b'T', 4, 0x00, 0, 0, 0, 0, 0xAA],
            DecodeError::Malformed("unexpected bytes at the end of the packet"),
        ),
        // Client id with invalid UTF-8.
        (
            &[0, 4, b'M', b'Q', b'T', b'T', 4, 0x00, 0, 0, 0, 1, 0xC0],
            DecodeError::InvalidUtf8,
        ),
    ];
    for (body, want) in cases {
        assert_eq!(&dec_err(&frame(0x10, body), V311), want, "{body:02x?}");
    }
}

#[test]
fn publish_qos0_qos1() {
    let want = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: "a/b".into(),
        packet_id: None,
        properties: Properties::default(),
        payload: Bytes::from_static(b"hello"),
    });
    assert_eq!(dec_ok(&publish_qos0_bytes(), V311), want);
    assert_eq!(enc(&want, V311), publish_qos0_bytes());

    let bytes = [0x32, 0x08, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A, b'!'];
    let want = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: "a/b".into(),
        packet_id: Some(10),
        properties: Properties::default(),
        payload: Bytes::from_static(b"!"),
    });
    let bytes = &bytes[..9];
    // One byte short of the announced 8: incomplete.
    assert_eq!(dec(bytes, V311), Ok(None));
    let full = [0x32, 0x08, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A, b'!'];
    assert_eq!(dec_ok(&full, V311), want);
    assert_eq!(enc(&want, V311), full);

    // The same QoS 1 PUBLISH in v5 needs a property length byte.
    let v5 = [
        0x32, 0x09, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A, 0x00, b'!',
    ];
    assert_eq!(dec_ok(&v5, V5), want);
    assert_eq!(enc(&want, V5), v5);
}

#[test]
fn publish_qos2_v5_properties() {
    let want = Packet::Publish(Publish {
        dup: true,
        qos: QoS::ExactlyOnce,
        retain: true,
        topic: "a/b".into(),
        packet_id: Some(0x1234),
        properties: Properties {
            subscription_identifiers: vec![129, 2],
            topic_alias: Some(5),
            user_properties: vec![(String::new(), "x".into())],
            ..Properties::default()
        },
        payload: Bytes::from_static(b"ok"),
    });
    assert_eq!(dec_ok(&publish_qos2_v5_bytes(), V5), want);
    assert_eq!(enc(&want, V5), publish_qos2_v5_bytes());
    // Encoded for 3.1.1 the properties are dropped.
    let v311 = enc(&want, V311);
    assert_eq!(
        v311,
        [0x3D, 0x09, 0, 3, b'a', b'/', b'b', 0x12, 0x34, b'o', b'k']
    );
}

#[test]
fn publish_empty_topic() {
    // v5: empty topic with a topic alias is fine.
    let bytes = frame(0x30, &[0, 0, 3, 0x23, 0, 7, b'p']);
    match dec_ok(&bytes, V5) {
        Packet::Publish(p) => {
            assert_eq!(p.topic, "");
            assert_eq!(p.properties.topic_alias, Some(7));
        }
        p => panic!("{p:?}"),
    }
    // v5: empty topic without a topic alias is a protocol error.
    assert_eq!(
        dec_err(&frame(0x30, &[0, 0, 0, b'p']), V5),
        DecodeError::ProtocolError("empty PUBLISH topic name without a topic alias")
    );
    // 3.1.1: empty topic is malformed.
    assert_eq!(
        dec_err(&frame(0x30, &[0, 0, b'p']), V311),
        DecodeError::Malformed("empty PUBLISH topic name")
    );
}

#[test]
fn publish_malformed() {
    let wildcard = DecodeError::Malformed("wildcard in PUBLISH topic name");
    let cases: Vec<(Vec<u8>, ProtocolVersion, DecodeError)> = vec![
        (
            frame(0x30, &[0, 3, b'a', b'/', b'+']),
            V311,
            wildcard.clone(),
        ),
        (frame(0x30, &[0, 3, b'a', b'/', b'#']), V5, wildcard.clone()),
        (frame(0x30, &[0, 2, b'a', b'#', 0]), V5, wildcard),
        (
            frame(0x30, &[0, 3, b'a', 0xFF, b'b']),
            V311,
            DecodeError::InvalidUtf8,
        ),
        // Overlong encoding of '/'.
        (
            frame(0x30, &[0, 3, b'a', 0xC0, 0xAF]),
            V311,
            DecodeError::InvalidUtf8,
        ),
        // A UTF-16 surrogate encoded in UTF-8.
        (
            frame(0x30, &[0, 3, 0xED, 0xA0, 0x80]),
            V311,
            DecodeError::InvalidUtf8,
        ),
        (
            frame(0x30, &[0, 3, b'a', 0, b'b']),
            V311,
            DecodeError::InvalidUtf8,
        ),
        (
            frame(0x36, &[0, 1, b'a', 0, 1]),
            V311,
            DecodeError::Malformed("PUBLISH with QoS 3"),
        ),
        (
            frame(0x38, &[0, 1, b'a']),
            V311,
            DecodeError::Malformed("DUP flag set on a QoS 0 PUBLISH"),
        ),
        (
            frame(0x32, &[0, 1, b'a', 0, 0]),
            V311,
            DecodeError::Malformed("packet identifier 0"),
        ),
        // Topic length 5 but only one byte follows.
        (
            frame(0x30, &[0, 5, b'a']),
            V311,
            DecodeError::Malformed("packet shorter than its contents require"),
        ),
        // QoS 1 without room for the packet identifier.
        (
            frame(0x32, &[0, 1, b'a', 0]),
            V311,
            DecodeError::Malformed("packet shorter than its contents require"),
        ),
        // Duplicate Topic Alias.
        (
            frame(0x30, &[0, 1, b'a', 6, 0x23, 0, 1, 0x23, 0, 2]),
            V5,
            DecodeError::Malformed("duplicate property"),
        ),
        (
            frame(0x30, &[0, 1, b'a', 3, 0x23, 0, 0]),
            V5,
            DecodeError::Malformed("topic alias 0"),
        ),
        (
            frame(0x30, &[0, 1, b'a', 2, 0x0B, 0]),
            V5,
            DecodeError::Malformed("subscription identifier 0"),
        ),
        (
            frame(0x30, &[0, 1, b'a', 2, 0x01, 2]),
            V5,
            DecodeError::Malformed("payload format indicator must be 0 or 1"),
        ),
        // Session Expiry Interval is not a PUBLISH property.
        (
            frame(0x30, &[0, 1, b'a', 5, 0x11, 0, 0, 0, 1]),
            V5,
            DecodeError::Malformed("property not allowed in this packet"),
        ),
        // Will Delay Interval is a will property, not a PUBLISH one.
        (
            frame(0x30, &[0, 1, b'a', 5, 0x18, 0, 0, 0, 1]),
            V5,
            DecodeError::Malformed("property not allowed in this packet"),
        ),
        // Response topic with a wildcard.
        (
            frame(0x30, &[0, 1, b'a', 4, 0x08, 0, 1, b'+']),
            V5,
            DecodeError::Malformed("response topic is not a valid topic name"),
        ),
        // Property identifier as a 5-byte varint.
        (
            frame(0x30, &[0, 1, b'a', 5, 0x80, 0x80, 0x80, 0x80, 0x01]),
            V5,
            DecodeError::Malformed("variable byte integer longer than 4 bytes"),
        ),
    ];
    for (bytes, v, want) in cases {
        assert_eq!(dec_err(&bytes, v), want, "{bytes:02x?}");
    }
}

#[test]
fn property_identifier_as_multibyte_varint() {
    // 0x23 written as the non-minimal two-byte varint A3 00 is still property 0x23.
    let bytes = frame(0x30, &[0, 1, b'a', 4, 0xA3, 0x00, 0, 9]);
    match dec_ok(&bytes, V5) {
        Packet::Publish(p) => assert_eq!(p.properties.topic_alias, Some(9)),
        p => panic!("{p:?}"),
    }
}

#[test]
fn subscribe_with_options() {
    let want = Packet::Subscribe(Subscribe {
        packet_id: 7,
        filters: vec![
            (
                "a/#".into(),
                SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: 2,
                },
            ),
            ("x/+/".into(), opts(QoS::ExactlyOnce)),
        ],
        properties: Properties {
            subscription_identifiers: vec![42],
            ..Properties::default()
        },
    });
    assert_eq!(dec_ok(&subscribe_v5_bytes(), V5), want);
    assert_eq!(enc(&want, V5), subscribe_v5_bytes());

    let v311 = [
        0x82, 0x0E, 0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'b', 0x01, 0x00, 0x03, b'c', b'/', b'#',
        0x02,
    ];
    let want = Packet::Subscribe(Subscribe {
        packet_id: 10,
        filters: vec![
            ("a/b".into(), opts(QoS::AtLeastOnce)),
            ("c/#".into(), opts(QoS::ExactlyOnce)),
        ],
        properties: Properties::default(),
    });
    assert_eq!(dec_ok(&v311, V311), want);
    assert_eq!(enc(&want, V311), v311);
}

#[test]
fn subscribe_malformed() {
    let m = DecodeError::Malformed;
    let cases: Vec<(Vec<u8>, ProtocolVersion, DecodeError)> = vec![
        (
            frame(0x82, &[0, 1]),
            V311,
            m("SUBSCRIBE without topic filters"),
        ),
        (
            frame(0x82, &[0, 1, 0]),
            V5,
            m("SUBSCRIBE without topic filters"),
        ),
        (
            frame(0x82, &[0, 1, 0, 1, b'a', 0x04]),
            V311,
            m("subscription options reserved bits are set"),
        ),
        (
            frame(0x82, &[0, 1, 0, 0, 1, b'a', 0x40]),
            V5,
            m("subscription options reserved bits are set"),
        ),
        (
            frame(0x82, &[0, 1, 0, 0, 1, b'a', 0x30]),
            V5,
            m("subscription retain handling 3"),
        ),
        (
            frame(0x82, &[0, 1, 0, 1, b'a', 0x03]),
            V311,
            m("subscription with QoS 3"),
        ),
        (
            frame(0x82, &[0, 1, 0, 5, b'a', b'/', b'#', b'/', b'b', 0]),
            V311,
            m("invalid topic filter"),
        ),
        (
            frame(0x82, &[0, 1, 0, 0, 0]),
            V311,
            m("invalid topic filter"),
        ),
        (
            frame(
                0x82,
                &[
                    0, 1, 0, 8, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g', 0,
                ],
            ),
            V311,
            m("invalid topic filter"),
        ),
        (
            frame(0x82, &[0, 0, 0, 1, b'a', 0]),
            V311,
            m("packet identifier 0"),
        ),
        // Filter without its options byte.
        (
            frame(0x82, &[0, 1, 0, 1, b'a']),
            V311,
            m("packet shorter than its contents require"),
        ),
        // Two subscription identifiers.
        (
            frame(0x82, &[0, 1, 4, 0x0B, 1, 0x0B, 2, 0, 1, b'a', 0]),
            V5,
            m("duplicate property"),
        ),
        (
            frame(0x82, &[0, 1, 2, 0x0B, 0, 0, 1, b'a', 0]),
            V5,
            m("subscription identifier 0"),
        ),
        // Topic Alias not allowed in SUBSCRIBE.
        (
            frame(0x82, &[0, 1, 3, 0x23, 0, 1, 0, 1, b'a', 0]),
            V5,
            m("property not allowed in this packet"),
        ),
        (
            frame(
                0x82,
                &[
                    0, 1, 0, 0, 10, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g', b'/', b'a',
                    0x04,
                ],
            ),
            V5,
            DecodeError::ProtocolError("No Local set on a shared subscription"),
        ),
    ];
    for (bytes, v, want) in cases {
        assert_eq!(dec_err(&bytes, v), want, "{bytes:02x?}");
    }
}

#[test]
fn unsubscribe() {
    let bytes = frame(0xA2, &[0, 3, 0, 3, b'a', b'/', b'+', 0, 1, b'#']);
    let want = Packet::Unsubscribe(Unsubscribe {
        packet_id: 3,
        filters: vec!["a/+".into(), "#".into()],
        properties: Properties::default(),
    });
    assert_eq!(dec_ok(&bytes, V311), want);
    assert_eq!(enc(&want, V311), bytes);
    assert_eq!(
        dec_err(&frame(0xA2, &[0, 3]), V311),
        DecodeError::Malformed("UNSUBSCRIBE without topic filters")
    );
    assert_eq!(
        dec_err(&frame(0xA2, &[0, 3, 0, 0, 2, b'a', b'+']), V5),
        DecodeError::Malformed("invalid topic filter")
    );
    // Only user properties are allowed in UNSUBSCRIBE.
    assert_eq!(
        dec_err(&frame(0xA2, &[0, 3, 2, 0x0B, 1, 0, 1, b'a']), V5),
        DecodeError::Malformed("property not allowed in this packet")
    );
}

#[test]
fn pub_ack_family_short_forms() {
    type Ctor = fn(PubAck) -> Packet;
    let kinds: [(u8, Ctor); 4] = [
        (0x40, Packet::PubAck),
        (0x50, Packet::PubRec),
        (0x62, Packet::PubRel),
        (0x70, Packet::PubComp),
    ];
    for (first, ctor) in kinds {
        // Remaining length 2: reason 0, no properties, both versions.
        let short = [first, 2, 0x01, 0x02];
        assert_eq!(dec_ok(&short, V311), ctor(ack(0x0102, 0)));
        assert_eq!(dec_ok(&short, V5), ctor(ack(0x0102, 0)));
        assert_eq!(enc(&ctor(ack(0x0102, 0)), V5), short);
        assert_eq!(enc(&ctor(ack(0x0102, 0)), V311), short);
        // Explicit reason 0 and empty property list is the same packet.
        assert_eq!(dec_ok(&[first, 4, 1, 2, 0, 0], V5), ctor(ack(0x0102, 0)));
        // 3.1.1 has no room for more than the packet id.
        assert_eq!(
            dec_err(&[first, 3, 1, 2, 0], V311),
            DecodeError::Malformed("unexpected bytes at the end of the packet")
        );
        assert_eq!(
            dec_err(&[first, 2, 0, 0], V311),
            DecodeError::Malformed("packet identifier 0")
        );
        assert_eq!(
            dec_err(&[first, 1, 1], V5),
            DecodeError::Malformed("packet shorter than its contents require")
        );
    }
    // Remaining length 3: reason only.
    let p = Packet::PubAck(ack(5, 0x10));
    assert_eq!(dec_ok(&[0x40, 3, 0, 5, 0x10], V5), p);
    assert_eq!(enc(&p, V5), [0x40, 3, 0, 5, 0x10]);
    // 3.1.1 drops the reason.
    assert_eq!(enc(&p, V311), [0x40, 2, 0, 5]);
    // With a reason string.
    let p = Packet::PubRec(PubAck {
        packet_id: 5,
        reason: 0x80,
        properties: Properties {
            reason_string: Some("no".into()),
            ..Properties::default()
        },
    });
    let bytes = [0x50, 9, 0, 5, 0x80, 5, 0x1F, 0, 2, b'n', b'o'];
    assert_eq!(dec_ok(&bytes, V5), p);
    assert_eq!(enc(&p, V5), bytes);
    // Reason codes outside the packet's set.
    assert_eq!(
        dec_err(&[0x62, 3, 0, 5, 0x10], V5),
        DecodeError::Malformed("invalid reason code for this acknowledgement")
    );
    assert_eq!(
        dec_ok(&[0x62, 3, 0, 5, 0x92], V5),
        Packet::PubRel(ack(5, 0x92))
    );
    // Topic alias is not allowed in an acknowledgement.
    assert_eq!(
        dec_err(&[0x40, 7, 0, 5, 0, 3, 0x23, 0, 1], V5),
        DecodeError::Malformed("property not allowed in this packet")
    );
}

#[test]
fn connack() {
    let p = Packet::ConnAck(ConnAck {
        session_present: true,
        code: 0,
        properties: Properties::default(),
    });
    assert_eq!(dec_ok(&[0x20, 2, 1, 0], V311), p);
    assert_eq!(enc(&p, V311), [0x20, 2, 1, 0]);
    assert_eq!(dec_ok(&[0x20, 3, 1, 0, 0], V5), p);
    assert_eq!(enc(&p, V5), [0x20, 3, 1, 0, 0]);
    assert_eq!(
        dec_err(&[0x20, 2, 2, 0], V311),
        DecodeError::Malformed("CONNACK reserved flags are set")
    );
    assert_eq!(
        dec_err(&[0x20, 2, 0, 6], V311),
        DecodeError::Malformed("invalid CONNACK reason code")
    );
    // v5 CONNACK with server capabilities.
    let bytes = [
        0x20, 0x0F, 0, 0, 12, 0x21, 0, 10, 0x24, 1, 0x25, 0, 0x22, 0, 5, 0x2A, 0,
    ];
    match dec_ok(&bytes, V5) {
        Packet::ConnAck(c) => {
            assert_eq!(c.properties.receive_maximum, Some(10));
            assert_eq!(c.properties.maximum_qos, Some(1));
            assert_eq!(c.properties.retain_available, Some(0));
            assert_eq!(c.properties.topic_alias_maximum, Some(5));
            assert_eq!(c.properties.shared_subscription_available, Some(0));
        }
        p => panic!("{p:?}"),
    }
    // Maximum QoS 2 is not a valid value.
    assert_eq!(
        dec_err(&[0x20, 5, 0, 0, 2, 0x24, 2], V5),
        DecodeError::Malformed("maximum QoS must be 0 or 1")
    );
    // A v5 failure code written for 3.1.1 becomes the closest return code.
    let p = Packet::ConnAck(ConnAck {
        session_present: false,
        code: airlock_mqtt::reason::NOT_AUTHORIZED,
        properties: Properties::default(),
    });
    assert_eq!(enc(&p, V311), [0x20, 2, 0, 5]);
}

#[test]
fn suback_unsuback() {
    let p = Packet::SubAck(SubAck {
        packet_id: 1,
        reasons: vec![0, 1, 2, 0x80],
        properties: Properties::default(),
    });
    let bytes = [0x90, 6, 0, 1, 0, 1, 2, 0x80];
    assert_eq!(dec_ok(&bytes, V311), p);
    assert_eq!(enc(&p, V311), bytes);
    assert_eq!(
        dec_err(&[0x90, 3, 0, 1, 0x87], V311),
        DecodeError::Malformed("invalid SUBACK reason code")
    );
    assert_eq!(
        dec_err(&[0x90, 2, 0, 1], V311),
        DecodeError::Malformed("SUBACK without reason codes")
    );
    // v5 SUBACK with "not authorized"; for 3.1.1 it becomes 0x80.
    let p5 = Packet::SubAck(SubAck {
        packet_id: 1,
        reasons: vec![0x87],
        properties: Properties::default(),
    });
    assert_eq!(dec_ok(&[0x90, 4, 0, 1, 0, 0x87], V5), p5);
    assert_eq!(enc(&p5, V311), [0x90, 3, 0, 1, 0x80]);

    let u311 = Packet::UnsubAck(UnsubAck {
        packet_id: 9,
        reasons: vec![],
        properties: Properties::default(),
    });
    assert_eq!(dec_ok(&[0xB0, 2, 0, 9], V311), u311);
    assert_eq!(enc(&u311, V311), [0xB0, 2, 0, 9]);
    let u5 = Packet::UnsubAck(UnsubAck {
        packet_id: 9,
        reasons: vec![0, 0x11],
        properties: Properties::default(),
    });
    assert_eq!(dec_ok(&[0xB0, 5, 0, 9, 0, 0, 0x11], V5), u5);
    assert_eq!(enc(&u5, V5), [0xB0, 5, 0, 9, 0, 0, 0x11]);
    assert_eq!(
        dec_err(&[0xB0, 3, 0, 9, 0], V5),
        DecodeError::Malformed("UNSUBACK without reason codes")
    );
}

#[test]
fn ping_disconnect_auth_short_forms() {
    assert_eq!(dec_ok(&[0xC0, 0], V311), Packet::PingReq);
    assert_eq!(dec_ok(&[0xD0, 0], V5), Packet::PingResp);
    assert_eq!(enc(&Packet::PingReq, V5), [0xC0, 0]);
    assert_eq!(enc(&Packet::PingResp, V311), [0xD0, 0]);
    assert_eq!(
        dec_err(&[0xC0, 1, 0], V311),
        DecodeError::Malformed("unexpected bytes at the end of the packet")
    );

    let normal = Packet::Disconnect(Disconnect {
        reason: 0,
        properties: Properties::default(),
    });
    assert_eq!(dec_ok(&[0xE0, 0], V311), normal);
    assert_eq!(dec_ok(&[0xE0, 0], V5), normal);
    assert_eq!(dec_ok(&[0xE0, 2, 0, 0], V5), normal);
    assert_eq!(enc(&normal, V5), [0xE0, 0]);
    assert_eq!(enc(&normal, V311), [0xE0, 0]);
    let with_will = Packet::Disconnect(Disconnect {
        reason: 0x04,
        properties: Properties::default(),
    });
    assert_eq!(dec_ok(&[0xE0, 1, 0x04], V5), with_will);
    assert_eq!(enc(&with_will, V5), [0xE0, 1, 0x04]);
    assert_eq!(enc(&with_will, V311), [0xE0, 0]);
    let with_props = Packet::Disconnect(Disconnect {
        reason: 0x8E,
        properties: Properties {
            session_expiry_interval: Some(0),
            server_reference: Some("s".into()),
            ..Properties::default()
        },
    });
    let bytes = [0xE0, 11, 0x8E, 9, 0x11, 0, 0, 0, 0, 0x1C, 0, 1, b's'];
    assert_eq!(dec_ok(&bytes, V5), with_props);
    assert_eq!(enc(&with_props, V5), bytes);
    assert_eq!(
        dec_err(&[0xE0, 1, 0], V311),
        DecodeError::Malformed("unexpected bytes at the end of the packet")
    );
    assert_eq!(
        dec_err(&[0xE0, 1, 0x05], V5),
        DecodeError::Malformed("invalid DISCONNECT reason code")
    );

    let auth0 = Packet::Auth(Auth {
        reason: 0,
        properties: Properties::default(),
    });
    assert_eq!(dec_ok(&[0xF0, 0], V5), auth0);
    assert_eq!(enc(&auth0, V5), [0xF0, 0]);
    let auth = Packet::Auth(Auth {
        reason: 0x18,
        properties: Properties {
            authentication_method: Some("M".into()),
            authentication_data: Some(Bytes::from_static(&[1, 2])),
            ..Properties::default()
        },
    });
    let bytes = [0xF0, 11, 0x18, 9, 0x15, 0, 1, b'M', 0x16, 0, 2, 1, 2];
    assert_eq!(dec_ok(&bytes, V5), auth);
    assert_eq!(enc(&auth, V5), bytes);
    assert_eq!(
        dec_err(&[0xF0, 0], V311),
        DecodeError::ProtocolError("AUTH packet (type 15) in MQTT 3.1.1")
    );
    assert_eq!(
        encode(&auth0, V311, &mut BytesMut::new()),
        Err(EncodeError::PacketNotInVersion("AUTH"))
    );
    assert_eq!(
        encoded_len(&auth0, V311),
        Err(EncodeError::PacketNotInVersion("AUTH"))
    );
}

#[test]
fn fixed_header_flags_and_types() {
    let flags = DecodeError::Malformed("invalid fixed header flags (must be 0000)");
    let need_2 = DecodeError::Malformed(
        "invalid fixed header flags (PUBREL, SUBSCRIBE and UNSUBSCRIBE need 0010)",
    );
    let cases: Vec<(Vec<u8>, DecodeError)> = vec![
        (
            vec![0x00, 0],
            DecodeError::Malformed("reserved packet type 0"),
        ),
        (vec![0x11, 0], flags.clone()),
        (vec![0x21, 2, 0, 0], flags.clone()),
        (vec![0x41, 2, 0, 1], flags.clone()),
        (vec![0x60, 2, 0, 1], need_2.clone()),
        (vec![0x63, 2, 0, 1], need_2.clone()),
        (vec![0x80, 6, 0, 1, 0, 1, b'a', 0], need_2.clone()),
        (vec![0xA0, 5, 0, 1, 0, 1, b'a'], need_2),
        (vec![0xC8, 0], flags.clone()),
        (vec![0xE2, 0], flags),
    ];
    for (bytes, want) in cases {
        assert_eq!(dec_err(&bytes, V311), want, "{bytes:02x?}");
        assert_eq!(dec_err(&bytes, V5), want, "{bytes:02x?}");
        // The first byte alone is enough to refuse.
        assert_eq!(dec_err(&bytes[..1], V5), want, "{bytes:02x?}");
    }
}

#[test]
fn remaining_length_limits() {
    // Five bytes of remaining length.
    let bytes = [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F];
    assert_eq!(dec_err(&bytes, V311), DecodeError::MalformedLength);
    assert_eq!(dec_err(&bytes[..5], V5), DecodeError::MalformedLength);
    // Only the header is buffered and it announces 268,435,455 bytes.
    let header = [0x30, 0xFF, 0xFF, 0xFF, 0x7F];
    let mut buf = BytesMut::from(&header[..]);
    assert_eq!(
        decode(&mut buf, V311, 1024),
        Err(DecodeError::PacketTooLarge {
            size: 5 + 268_435_455,
            max: 1024
        })
    );
    // Exactly at the limit is fine, one byte over is refused.
    let p = publish_qos0_bytes();
    let mut buf = BytesMut::from(&p[..]);
    assert!(matches!(decode(&mut buf, V311, p.len()), Ok(Some(_))));
    let mut buf = BytesMut::from(&p[..2]);
    assert_eq!(
        decode(&mut buf, V311, p.len() - 1),
        Err(DecodeError::PacketTooLarge {
            size: p.len(),
            max: p.len() - 1
        })
    );
    // A two-byte remaining length (200 bytes of payload).
    let mut big = vec![0x30, 0xCD, 0x01, 0x00, 0x03, b'a', b'/', b'b'];
    big.extend(std::iter::repeat_n(7u8, 200));
    match dec_ok(&big, V311) {
        Packet::Publish(p) => assert_eq!(p.payload.len(), 200),
        p => panic!("{p:?}"),
    }
}

#[test]
fn incomplete_input_at_every_prefix() {
    let packets: Vec<(Vec<u8>, ProtocolVersion)> = vec![
        (connect_v311_bytes(), V311),
        (connect_v5_bytes(), V5),
        (publish_qos0_bytes(), V311),
        (publish_qos2_v5_bytes(), V5),
        (subscribe_v5_bytes(), V5),
        (vec![0x40, 3, 0, 5, 0x10], V5),
        (vec![0xE0, 0], V5),
        (vec![0xC0, 0], V311),
        (
            vec![0xF0, 11, 0x18, 9, 0x15, 0, 1, b'M', 0x16, 0, 2, 1, 2],
            V5,
        ),
    ];
    for (bytes, v) in packets {
        for n in 0..bytes.len() {
            let mut buf = BytesMut::from(&bytes[..n]);
            assert_eq!(
                decode(&mut buf, v, MAX),
                Ok(None),
                "prefix {n} of {bytes:02x?}"
            );
            assert_eq!(&buf[..], &bytes[..n], "buffer touched");
        }
        assert!(matches!(dec(&bytes, v), Ok(Some(_))));
    }
}

#[test]
fn several_packets_in_one_buffer() {
    let mut bytes = publish_qos0_bytes();
    bytes.extend_from_slice(&[0xC0, 0x00]);
    bytes.extend_from_slice(&[0x40, 0x02]); // start of a PUBACK
    let mut buf = BytesMut::from(&bytes[..]);
    assert!(matches!(
        decode(&mut buf, V311, MAX),
        Ok(Some(Packet::Publish(_)))
    ));
    assert_eq!(decode(&mut buf, V311, MAX), Ok(Some(Packet::PingReq)));
    assert_eq!(decode(&mut buf, V311, MAX), Ok(None));
    assert_eq!(&buf[..], &[0x40, 0x02]);
    buf.extend_from_slice(&[0x00, 0x01]);
    assert_eq!(
        decode(&mut buf, V311, MAX),
        Ok(Some(Packet::PubAck(ack(1, 0))))
    );
    assert!(buf.is_empty());
}

#[test]
fn encode_errors_leave_buffer_unchanged() {
    let mut buf = BytesMut::from(&b"keep"[..]);
    let long = "a".repeat(65536);
    let p = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: long,
        packet_id: None,
        properties: Properties::default(),
        payload: Bytes::new(),
    });
    assert_eq!(
        encode(&p, V311, &mut buf),
        Err(EncodeError::StringTooLong { len: 65536 })
    );
    assert_eq!(&buf[..], b"keep");

    let p = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: "a".into(),
        packet_id: None,
        properties: Properties::default(),
        payload: Bytes::new(),
    });
    assert!(matches!(
        encode(&p, V5, &mut buf),
        Err(EncodeError::InvalidPacket(_))
    ));
    assert_eq!(&buf[..], b"keep");

    let p = Packet::Subscribe(Subscribe {
        packet_id: 1,
        filters: vec![],
        properties: Properties::default(),
    });
    assert!(matches!(
        encoded_len(&p, V5),
        Err(EncodeError::InvalidPacket(_))
    ));

    // Remaining length above 268,435,455.
    let p = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: "a".into(),
        packet_id: None,
        properties: Properties::default(),
        payload: Bytes::from(vec![0u8; 268_435_455]),
    });
    assert_eq!(
        encoded_len(&p, V311),
        Err(EncodeError::PacketTooLarge {
            remaining_length: 268_435_455 + 3
        })
    );
}

#[test]
fn encoder_omits_properties_the_packet_does_not_allow() {
    // A will delay interval copied into a PUBLISH is not written.
    let p = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: "a".into(),
        packet_id: None,
        properties: Properties {
            will_delay_interval: Some(5),
            ..Properties::default()
        },
        payload: Bytes::new(),
    });
    assert_eq!(enc(&p, V5), [0x30, 4, 0, 1, b'a', 0]);
}

#[test]
fn zero_copy_payload() {
    let mut buf = BytesMut::from(&publish_qos0_bytes()[..]);
    let start = buf.as_ptr() as usize;
    match decode(&mut buf, V311, MAX) {
        Ok(Some(Packet::Publish(p))) => {
            assert_eq!(p.payload.as_ptr() as usize, start + 7);
        }
        other => panic!("{other:?}"),
    }
}
