//! Encoder and decoder for MQTT 3.1.1 and 5.0 control packets.
//!
//! The decoder works on a [`BytesMut`] receive buffer: it looks at the fixed header first,
//! refuses a packet larger than the configured maximum before its body is buffered, and only
//! then waits for the full packet. It never panics on any input.
//!
//! The encoder computes every length with a counting pass first, so it either appends one
//! whole packet to the buffer or returns an error with the buffer unchanged.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::packet::{
    Auth, ConnAck, Connect, Disconnect, Packet, Properties, ProtocolVersion, PubAck, Publish, QoS,
    SubAck, Subscribe, SubscriptionOptions, UnsubAck, Unsubscribe, Will,
};
use crate::topic;

/// Largest value of a Variable Byte Integer (and so of the remaining length).
const MAX_VARINT: usize = 268_435_455;

/// Why a byte sequence is not a valid MQTT packet.
///
/// After any error the connection must be closed: the receive buffer is left in an
/// unspecified state (the offending packet may or may not have been consumed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The total packet size (fixed header plus remaining length) exceeds the maximum.
    #[error("packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    PacketTooLarge {
        /// Total size announced by the fixed header.
        size: usize,
        /// The maximum the decoder was given.
        max: usize,
    },
    /// The remaining length is longer than 4 bytes.
    #[error("malformed remaining length (more than 4 bytes)")]
    MalformedLength,
    /// CONNECT with a protocol name or level other than MQTT 3.1.1 or 5.0; carries the level byte.
    #[error("unsupported protocol version (level {0})")]
    UnsupportedProtocolVersion(u8),
    /// An MQTT UTF-8 string is not valid UTF-8 or contains U+0000.
    #[error("invalid UTF-8 string")]
    InvalidUtf8,
    /// The packet is malformed; the text says how.
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
    /// The packet is well formed but breaks a protocol rule (spec "Protocol Error").
    #[error("protocol error: {0}")]
    ProtocolError(&'static str),
}

/// Why a packet cannot be encoded.
///
/// On error nothing has been appended to the output buffer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The remaining length would exceed 268,435,455 bytes.
    #[error("packet too large: remaining length {remaining_length} exceeds 268435455")]
    PacketTooLarge {
        /// The remaining length the packet would need.
        remaining_length: usize,
    },
    /// A string is longer than 65535 bytes.
    #[error("string of {len} bytes is longer than 65535 bytes")]
    StringTooLong {
        /// Length of the string in bytes.
        len: usize,
    },
    /// Binary data (will payload, password, correlation or authentication data) is longer than 65535 bytes.
    #[error("binary data of {len} bytes is longer than 65535 bytes")]
    DataTooLong {
        /// Length of the data in bytes.
        len: usize,
    },
    /// The packet does not exist in this protocol version (AUTH in 3.1.1).
    #[error("{0} does not exist in this protocol version")]
    PacketNotInVersion(&'static str),
    /// The packet value breaks an invariant the wire form needs; the text says which.
    #[error("invalid packet: {0}")]
    InvalidPacket(&'static str),
}

use DecodeError::{Malformed, ProtocolError};

const TRUNCATED: DecodeError = Malformed("packet shorter than its contents require");
const TRAILING: DecodeError = Malformed("unexpected bytes at the end of the packet");

// ---------------------------------------------------------------------------------------
// Properties: which packet allows which property (MQTT 5.0 table 2.2.2.2).
// ---------------------------------------------------------------------------------------

/// Where a property list appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Connect,
    Will,
    ConnAck,
    Publish,
    /// PUBACK, PUBREC, PUBREL, PUBCOMP.
    Ack,
    Subscribe,
    SubAck,
    Unsubscribe,
    UnsubAck,
    Disconnect,
    Auth,
}

/// Whether property `id` may appear in a property list of `ctx`. Unknown ids are never allowed.
fn allowed(ctx: Ctx, id: u8) -> bool {
    use Ctx::*;
    match id {
        0x01 | 0x02 | 0x03 | 0x08 | 0x09 => matches!(ctx, Publish | Will),
        0x0B => matches!(ctx, Publish | Subscribe),
        0x11 => matches!(ctx, Connect | ConnAck | Disconnect),
        0x12 | 0x13 | 0x1A | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => ctx == ConnAck,
        0x15 | 0x16 => matches!(ctx, Connect | ConnAck | Auth),
        0x17 | 0x19 => ctx == Connect,
        0x18 => ctx == Will,
        0x1C => matches!(ctx, ConnAck | Disconnect),
        0x1F => matches!(ctx, ConnAck | Ack | SubAck | UnsubAck | Disconnect | Auth),
        0x21 | 0x22 | 0x27 => matches!(ctx, Connect | ConnAck),
        0x23 => ctx == Publish,
        0x26 => true,
        _ => false,
    }
}

/// Whether `id` is a property identifier defined by MQTT 5.0.
fn known_property(id: u8) -> bool {
    matches!(
        id,
        0x01 | 0x02
            | 0x03
            | 0x08
            | 0x09
            | 0x0B
            | 0x11
            | 0x12
            | 0x13
            | 0x15
            | 0x16
            | 0x17
            | 0x18
            | 0x19
            | 0x1A
            | 0x1C
            | 0x1F
            | 0x21
            | 0x22
            | 0x23
            | 0x24
            | 0x25
            | 0x26
            | 0x27
            | 0x28
            | 0x29
            | 0x2A
    )
}

// ---------------------------------------------------------------------------------------
// Reason codes allowed per packet (MQTT 5.0 chapter 3).
// ---------------------------------------------------------------------------------------

fn valid_connack_v5(c: u8) -> bool {
    matches!(
        c,
        0x00 | 0x80
            | 0x81
            | 0x82
            | 0x83
            | 0x84
            | 0x85
            | 0x86
            | 0x87
            | 0x88
            | 0x89
            | 0x8A
            | 0x8C
            | 0x90
            | 0x95
            | 0x97
            | 0x99
            | 0x9A
            | 0x9B
            | 0x9C
            | 0x9D
            | 0x9F
    )
}

/// PUBACK and PUBREC.
fn valid_puback_v5(c: u8) -> bool {
    matches!(
        c,
        0x00 | 0x10 | 0x80 | 0x83 | 0x87 | 0x90 | 0x91 | 0x97 | 0x99
    )
}

/// PUBREL and PUBCOMP.
fn valid_pubrel_v5(c: u8) -> bool {
    matches!(c, 0x00 | 0x92)
}

fn valid_suback_v5(c: u8) -> bool {
    matches!(
        c,
        0x00 | 0x01 | 0x02 | 0x80 | 0x83 | 0x87 | 0x8F | 0x91 | 0x97 | 0x9E | 0xA1 | 0xA2
    )
}

fn valid_unsuback_v5(c: u8) -> bool {
    matches!(c, 0x00 | 0x11 | 0x80 | 0x83 | 0x87 | 0x8F | 0x91)
}

fn valid_disconnect_v5(c: u8) -> bool {
    matches!(
        c,
        0x00 | 0x04
            | 0x80
            | 0x81
            | 0x82
            | 0x83
            | 0x87
            | 0x89
            | 0x8B
            | 0x8D
            | 0x8E
            | 0x8F
            | 0x90
            | 0x93
            | 0x94
            | 0x95
            | 0x96
            | 0x97
            | 0x98
            | 0x99
            | 0x9A
            | 0x9B
            | 0x9C
            | 0x9D
            | 0x9E
            | 0x9F
            | 0xA0
            | 0xA1
            | 0xA2
    )
}

fn valid_auth_v5(c: u8) -> bool {
    matches!(c, 0x00 | 0x18 | 0x19)
}

// ---------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------

/// Decode one packet from the front of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed; `buf` is then untouched. On `Ok(Some)` the
/// packet's bytes have been consumed from `buf`; payloads and binary fields share `buf`'s
/// memory (no copy). The total packet size is checked against `max_packet_size` as soon as
/// the fixed header is readable, before the body arrives, so an oversized packet is refused
/// without buffering it. The first byte (packet type and flags) is checked as soon as it arrives.
///
/// CONNECT is always parsed per the protocol level inside it; all other packets per `version`.
/// The decoder does not know the direction of a packet: rules that depend on it (for example
/// "a client must not send a Subscription Identifier in PUBLISH") are left to the caller.
pub fn decode(
    buf: &mut BytesMut,
    version: ProtocolVersion,
    max_packet_size: usize,
) -> Result<Option<Packet>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    check_first_byte(first, version)?;

    let mut remaining: usize = 0;
    let mut header_len = 0;
    for i in 0..4 {
        let Some(&b) = buf.get(1 + i) else {
            return Ok(None);
        };
        remaining |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            header_len = 2 + i;
            break;
        }
    }
    if header_len == 0 {
        return Err(DecodeError::MalformedLength);
    }
    let size = header_len + remaining;
    if size > max_packet_size {
        return Err(DecodeError::PacketTooLarge {
            size,
            max: max_packet_size,
        });
    }
    if buf.len() < size {
        return Ok(None);
    }
    let mut packet = buf.split_to(size);
    packet.advance(header_len);
    let r = Reader(packet.freeze());
    decode_body(first, r, version).map(Some)
}

/// Check the packet type and fixed header flags (MQTT 5.0 section 2.1.3).
fn check_first_byte(first: u8, version: ProtocolVersion) -> Result<(), DecodeError> {
    let flags = first & 0x0f;
    match first >> 4 {
        0 => Err(Malformed("reserved packet type 0")),
        3 => {
            let qos = (flags >> 1) & 0x03;
            if qos == 3 {
                Err(Malformed("PUBLISH with QoS 3"))
            } else if qos == 0 && flags & 0x08 != 0 {
                Err(Malformed("DUP flag set on a QoS 0 PUBLISH"))
            } else {
                Ok(())
            }
        }
        6 | 8 | 10 => {
            if flags == 0b0010 {
                Ok(())
            } else {
                Err(Malformed(
                    "invalid fixed header flags (PUBREL, SUBSCRIBE and UNSUBSCRIBE need 0010)",
                ))
            }
        }
        15 if version == ProtocolVersion::V311 => {
            Err(ProtocolError("AUTH packet (type 15) in MQTT 3.1.1"))
        }
        _ => {
            if flags == 0 {
                Ok(())
            } else {
                Err(Malformed("invalid fixed header flags (must be 0000)"))
            }
        }
    }
}

fn decode_body(first: u8, mut r: Reader, v: ProtocolVersion) -> Result<Packet, DecodeError> {
    let flags = first & 0x0f;
    let p = match first >> 4 {
        1 => Packet::Connect(decode_connect(&mut r)?),
        2 => Packet::ConnAck(decode_connack(&mut r, v)?),
        3 => Packet::Publish(decode_publish(flags, &mut r, v)?),
        4 => Packet::PubAck(decode_ack(&mut r, v, valid_puback_v5)?),
        5 => Packet::PubRec(decode_ack(&mut r, v, valid_puback_v5)?),
        6 => Packet::PubRel(decode_ack(&mut r, v, valid_pubrel_v5)?),
        7 => Packet::PubComp(decode_ack(&mut r, v, valid_pubrel_v5)?),
        8 => Packet::Subscribe(decode_subscribe(&mut r, v)?),
        9 => Packet::SubAck(decode_suback(&mut r, v)?),
        10 => Packet::Unsubscribe(decode_unsubscribe(&mut r, v)?),
        11 => Packet::UnsubAck(decode_unsuback(&mut r, v)?),
        12 => Packet::PingReq,
        13 => Packet::PingResp,
        14 => Packet::Disconnect(decode_disconnect(&mut r, v)?),
        15 => Packet::Auth(decode_auth(&mut r)?),
        _ => return Err(Malformed("reserved packet type")),
    };
    r.end()?;
    Ok(p)
}

/// A cursor over one packet body that turns every short read into a `Malformed` error.
struct Reader(Bytes);

impl Reader {
    fn remaining(&self) -> usize {
        self.0.remaining()
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        self.0.try_get_u8().map_err(|_| TRUNCATED)
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        self.0.try_get_u16().map_err(|_| TRUNCATED)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.0.try_get_u32().map_err(|_| TRUNCATED)
    }

    /// A Variable Byte Integer (at most 4 bytes).
    fn varint(&mut self) -> Result<u32, DecodeError> {
        let mut value: u32 = 0;
        for i in 0..4 {
            let b = self.u8()?;
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Malformed("variable byte integer longer than 4 bytes"))
    }

    fn take(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        if self.0.len() < n {
            return Err(TRUNCATED);
        }
        Ok(self.0.split_to(n))
    }

    /// The rest of the body.
    fn rest(&mut self) -> Bytes {
        self.0.split_off(0)
    }

    /// A non-zero packet identifier.
    fn packet_id(&mut self) -> Result<u16, DecodeError> {
        match self.u16()? {
            0 => Err(Malformed("packet identifier 0")),
            id => Ok(id),
        }
    }

    /// Binary Data: two-byte length then bytes.
    fn binary(&mut self) -> Result<Bytes, DecodeError> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    /// UTF-8 Encoded String: valid UTF-8 without U+0000.
    fn string(&mut self) -> Result<String, DecodeError> {
        let b = self.binary()?;
        let s = std::str::from_utf8(&b).map_err(|_| DecodeError::InvalidUtf8)?;
        if s.contains('\0') {
            return Err(DecodeError::InvalidUtf8);
        }
        Ok(s.to_owned())
    }

    fn end(&self) -> Result<(), DecodeError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(TRAILING)
        }
    }
}

fn set_once<T>(slot: &mut Option<T>, v: T) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(Malformed("duplicate property"));
    }
    *slot = Some(v);
    Ok(())
}

fn zero_or_one(v: u8, what: &'static str) -> Result<u8, DecodeError> {
    if v <= 1 { Ok(v) } else { Err(Malformed(what)) }
}

fn non_zero_u16(v: u16, what: &'static str) -> Result<u16, DecodeError> {
    if v != 0 { Ok(v) } else { Err(Malformed(what)) }
}

/// Read a property length and the property list for `ctx`.
fn read_properties(r: &mut Reader, ctx: Ctx) -> Result<Properties, DecodeError> {
    let len = r.varint()?;
    let mut pr = Reader(r.take(len as usize)?);
    let mut p = Properties::default();
    while pr.remaining() > 0 {
        let id = pr.varint()?;
        let id = u8::try_from(id).map_err(|_| Malformed("unknown property identifier"))?;
        if !known_property(id) {
            return Err(Malformed("unknown property identifier"));
        }
        if !allowed(ctx, id) {
            return Err(Malformed("property not allowed in this packet"));
        }
        match id {
            0x01 => set_once(
                &mut p.payload_format_indicator,
                zero_or_one(pr.u8()?, "payload format indicator must be 0 or 1")?,
            )?,
            0x02 => set_once(&mut p.message_expiry_interval, pr.u32()?)?,
            0x03 => set_once(&mut p.content_type, pr.string()?)?,
            0x08 => {
                let t = pr.string()?;
                if !topic::valid_topic_name(&t) {
                    return Err(Malformed("response topic is not a valid topic name"));
                }
                set_once(&mut p.response_topic, t)?
            }
            0x09 => set_once(&mut p.correlation_data, pr.binary()?)?,
            0x0B => {
                let id = pr.varint()?;
                if id == 0 {
                    return Err(Malformed("subscription identifier 0"));
                }
                if ctx != Ctx::Publish && !p.subscription_identifiers.is_empty() {
                    return Err(Malformed("duplicate property"));
                }
                p.subscription_identifiers.push(id);
            }
            0x11 => set_once(&mut p.session_expiry_interval, pr.u32()?)?,
            0x12 => set_once(&mut p.assigned_client_identifier, pr.string()?)?,
            0x13 => set_once(&mut p.server_keep_alive, pr.u16()?)?,
            0x15 => set_once(&mut p.authentication_method, pr.string()?)?,
            0x16 => set_once(&mut p.authentication_data, pr.binary()?)?,
            0x17 => set_once(
                &mut p.request_problem_information,
                zero_or_one(pr.u8()?, "request problem information must be 0 or 1")?,
            )?,
            0x18 => set_once(&mut p.will_delay_interval, pr.u32()?)?,
            0x19 => set_once(
                &mut p.request_response_information,
                zero_or_one(pr.u8()?, "request response information must be 0 or 1")?,
            )?,
            0x1A => set_once(&mut p.response_information, pr.string()?)?,
            0x1C => set_once(&mut p.server_reference, pr.string()?)?,
            0x1F => set_once(&mut p.reason_string, pr.string()?)?,
            0x21 => set_once(
                &mut p.receive_maximum,
                non_zero_u16(pr.u16()?, "receive maximum 0")?,
            )?,
            0x22 => set_once(&mut p.topic_alias_maximum, pr.u16()?)?,
            0x23 => set_once(
                &mut p.topic_alias,
                non_zero_u16(pr.u16()?, "topic alias 0")?,
            )?,
            0x24 => set_once(
                &mut p.maximum_qos,
                zero_or_one(pr.u8()?, "maximum QoS must be 0 or 1")?,
            )?,
            0x25 => set_once(
                &mut p.retain_available,
                zero_or_one(pr.u8()?, "retain available must be 0 or 1")?,
            )?,
            0x26 => {
                let k = pr.string()?;
                let v = pr.string()?;
                p.user_properties.push((k, v));
            }
            0x27 => {
                let m = pr.u32()?;
                if m == 0 {
                    return Err(Malformed("maximum packet size 0"));
                }
                set_once(&mut p.maximum_packet_size, m)?
            }
            0x28 => set_once(
                &mut p.wildcard_subscription_available,
                zero_or_one(pr.u8()?, "wildcard subscription available must be 0 or 1")?,
            )?,
            0x29 => set_once(
                &mut p.subscription_identifier_available,
                zero_or_one(pr.u8()?, "subscription identifier available must be 0 or 1")?,
            )?,
            0x2A => set_once(
                &mut p.shared_subscription_available,
                zero_or_one(pr.u8()?, "shared subscription available must be 0 or 1")?,
            )?,
            _ => return Err(Malformed("unknown property identifier")),
        }
    }
    Ok(p)
}

fn props_if_v5(r: &mut Reader, v: ProtocolVersion, ctx: Ctx) -> Result<Properties, DecodeError> {
    match v {
        ProtocolVersion::V5 => read_properties(r, ctx),
        ProtocolVersion::V311 => Ok(Properties::default()),
    }
}

fn decode_connect(r: &mut Reader) -> Result<Connect, DecodeError> {
    let name = r.binary()?;
    let level = r.u8()?;
    if &name[..] != b"MQTT" {
        return Err(DecodeError::UnsupportedProtocolVersion(level));
    }
    let protocol = match level {
        4 => ProtocolVersion::V311,
        5 => ProtocolVersion::V5,
        other => return Err(DecodeError::UnsupportedProtocolVersion(other)),
    };
    let flags = r.u8()?;
    if flags & 0x01 != 0 {
        return Err(Malformed("CONNECT reserved flag is set"));
    }
    let clean_start = flags & 0x02 != 0;
    let will_flag = flags & 0x04 != 0;
    let will_qos = (flags >> 3) & 0x03;
    let will_retain = flags & 0x20 != 0;
    let password_flag = flags & 0x40 != 0;
    let username_flag = flags & 0x80 != 0;
    if will_qos == 3 {
        return Err(Malformed("CONNECT will QoS 3"));
    }
    if !will_flag && (will_qos != 0 || will_retain) {
        return Err(Malformed(
            "CONNECT will QoS or will retain set without will flag",
        ));
    }
    if protocol == ProtocolVersion::V311 && password_flag && !username_flag {
        return Err(Malformed("CONNECT password without user name (MQTT 3.1.1)"));
    }
    let keep_alive = r.u16()?;
    let properties = props_if_v5(r, protocol, Ctx::Connect)?;
    let client_id = r.string()?;
    let will = if will_flag {
        let properties = props_if_v5(r, protocol, Ctx::Will)?;
        let topic = r.string()?;
        if !topic::valid_topic_name(&topic) {
            return Err(Malformed("will topic is not a valid topic name"));
        }
        let payload = r.binary()?;
        let qos = QoS::from_u8(will_qos).ok_or(Malformed("CONNECT will QoS 3"))?;
        Some(Will {
            topic,
            payload,
            qos,
            retain: will_retain,
            properties,
        })
    } else {
        None
    };
    let username = if username_flag {
        Some(r.string()?)
    } else {
        None
    };
    let password = if password_flag {
        Some(r.binary()?)
    } else {
        None
    };
    Ok(Connect {
        protocol,
        clean_start,
        keep_alive,
        client_id,
        will,
        username,
        password,
        properties,
    })
}

fn decode_connack(r: &mut Reader, v: ProtocolVersion) -> Result<ConnAck, DecodeError> {
    let flags = r.u8()?;
    if flags & 0xfe != 0 {
        return Err(Malformed("CONNACK reserved flags are set"));
    }
    let code = r.u8()?;
    let ok = match v {
        ProtocolVersion::V311 => code <= 5,
        ProtocolVersion::V5 => valid_connack_v5(code),
    };
    if !ok {
        return Err(Malformed("invalid CONNACK reason code"));
    }
    let properties = props_if_v5(r, v, Ctx::ConnAck)?;
    Ok(ConnAck {
        session_present: flags & 0x01 != 0,
        code,
        properties,
    })
}

fn decode_publish(flags: u8, r: &mut Reader, v: ProtocolVersion) -> Result<Publish, DecodeError> {
    let qos = QoS::from_u8((flags >> 1) & 0x03).ok_or(Malformed("PUBLISH with QoS 3"))?;
    let topic = r.string()?;
    if topic.contains(['+', '#']) {
        return Err(Malformed("wildcard in PUBLISH topic name"));
    }
    if topic.is_empty() && v == ProtocolVersion::V311 {
        return Err(Malformed("empty PUBLISH topic name"));
    }
    let packet_id = if qos == QoS::AtMostOnce {
        None
    } else {
        Some(r.packet_id()?)
    };
    let properties = props_if_v5(r, v, Ctx::Publish)?;
    if topic.is_empty() && properties.topic_alias.is_none() {
        return Err(ProtocolError(
            "empty PUBLISH topic name without a topic alias",
        ));
    }
    Ok(Publish {
        dup: flags & 0x08 != 0,
        qos,
        retain: flags & 0x01 != 0,
        topic,
        packet_id,
        properties,
        payload: r.rest(),
    })
}

/// PUBACK, PUBREC, PUBREL, PUBCOMP, including the v5 short forms.
fn decode_ack(
    r: &mut Reader,
    v: ProtocolVersion,
    valid: fn(u8) -> bool,
) -> Result<PubAck, DecodeError> {
    let packet_id = r.packet_id()?;
    let mut ack = PubAck {
        packet_id,
        reason: 0,
        properties: Properties::default(),
    };
    if v == ProtocolVersion::V5 && r.remaining() > 0 {
        ack.reason = r.u8()?;
        if !valid(ack.reason) {
            return Err(Malformed("invalid reason code for this acknowledgement"));
        }
        if r.remaining() > 0 {
            ack.properties = read_properties(r, Ctx::Ack)?;
        }
    }
    Ok(ack)
}

fn decode_options(b: u8, v: ProtocolVersion) -> Result<SubscriptionOptions, DecodeError> {
    let qos = QoS::from_u8(b & 0x03).ok_or(Malformed("subscription with QoS 3"))?;
    match v {
        ProtocolVersion::V311 => {
            if b & 0xfc != 0 {
                return Err(Malformed("subscription options reserved bits are set"));
            }
            Ok(SubscriptionOptions {
                qos,
                no_local: false,
                retain_as_published: false,
                retain_handling: 0,
            })
        }
        ProtocolVersion::V5 => {
            if b & 0xc0 != 0 {
                return Err(Malformed("subscription options reserved bits are set"));
            }
            let retain_handling = (b >> 4) & 0x03;
            if retain_handling == 3 {
                return Err(Malformed("subscription retain handling 3"));
            }
            Ok(SubscriptionOptions {
                qos,
                no_local: b & 0x04 != 0,
                retain_as_published: b & 0x08 != 0,
                retain_handling,
            })
        }
    }
}

fn decode_subscribe(r: &mut Reader, v: ProtocolVersion) -> Result<Subscribe, DecodeError> {
    let packet_id = r.packet_id()?;
    let properties = props_if_v5(r, v, Ctx::Subscribe)?;
    let mut filters = Vec::new();
    while r.remaining() > 0 {
        let f = r.string()?;
        if !topic::valid_topic_filter(&f) {
            return Err(Malformed("invalid topic filter"));
        }
        let o = decode_options(r.u8()?, v)?;
        if v == ProtocolVersion::V5 && o.no_local && topic::split_shared(&f).is_some() {
            return Err(ProtocolError("No Local set on a shared subscription"));
        }
        filters.push((f, o));
    }
    if filters.is_empty() {
        return Err(Malformed("SUBSCRIBE without topic filters"));
    }
    Ok(Subscribe {
        packet_id,
        filters,
        properties,
    })
}

fn decode_suback(r: &mut Reader, v: ProtocolVersion) -> Result<SubAck, DecodeError> {
    let packet_id = r.packet_id()?;
    let properties = props_if_v5(r, v, Ctx::SubAck)?;
    let reasons = r.rest().to_vec();
    if reasons.is_empty() {
        return Err(Malformed("SUBACK without reason codes"));
    }
    let ok = match v {
        ProtocolVersion::V311 => reasons.iter().all(|&c| matches!(c, 0 | 1 | 2 | 0x80)),
        ProtocolVersion::V5 => reasons.iter().all(|&c| valid_suback_v5(c)),
    };
    if !ok {
        return Err(Malformed("invalid SUBACK reason code"));
    }
    Ok(SubAck {
        packet_id,
        reasons,
        properties,
    })
}

fn decode_unsubscribe(r: &mut Reader, v: ProtocolVersion) -> Result<Unsubscribe, DecodeError> {
    let packet_id = r.packet_id()?;
    let properties = props_if_v5(r, v, Ctx::Unsubscribe)?;
    let mut filters = Vec::new();
    while r.remaining() > 0 {
        let f = r.string()?;
        if !topic::valid_topic_filter(&f) {
            return Err(Malformed("invalid topic filter"));
        }
        filters.push(f);
    }
    if filters.is_empty() {
        return Err(Malformed("UNSUBSCRIBE without topic filters"));
    }
    Ok(Unsubscribe {
        packet_id,
        filters,
        properties,
    })
}

fn decode_unsuback(r: &mut Reader, v: ProtocolVersion) -> Result<UnsubAck, DecodeError> {
    let packet_id = r.packet_id()?;
    let mut u = UnsubAck {
        packet_id,
        reasons: Vec::new(),
        properties: Properties::default(),
    };
    if v == ProtocolVersion::V5 {
        u.properties = read_properties(r, Ctx::UnsubAck)?;
        u.reasons = r.rest().to_vec();
        if u.reasons.is_empty() {
            return Err(Malformed("UNSUBACK without reason codes"));
        }
        if !u.reasons.iter().all(|&c| valid_unsuback_v5(c)) {
            return Err(Malformed("invalid UNSUBACK reason code"));
        }
    }
    Ok(u)
}

fn decode_disconnect(r: &mut Reader, v: ProtocolVersion) -> Result<Disconnect, DecodeError> {
    let mut d = Disconnect {
        reason: 0,
        properties: Properties::default(),
    };
    if v == ProtocolVersion::V5 && r.remaining() > 0 {
        d.reason = r.u8()?;
        if !valid_disconnect_v5(d.reason) {
            return Err(Malformed("invalid DISCONNECT reason code"));
        }
        if r.remaining() > 0 {
            d.properties = read_properties(r, Ctx::Disconnect)?;
        }
    }
    Ok(d)
}

fn decode_auth(r: &mut Reader) -> Result<Auth, DecodeError> {
    let mut a = Auth {
        reason: 0,
        properties: Properties::default(),
    };
    if r.remaining() > 0 {
        a.reason = r.u8()?;
        if !valid_auth_v5(a.reason) {
            return Err(Malformed("invalid AUTH reason code"));
        }
        if r.remaining() > 0 {
            a.properties = read_properties(r, Ctx::Auth)?;
        }
    }
    Ok(a)
}

// ---------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------

/// Where encoded bytes go: a buffer, or a counter for the length pass.
trait Sink {
    fn put(&mut self, b: &[u8]);
}

/// Counts bytes instead of writing them.
struct Counter(usize);

impl Sink for Counter {
    fn put(&mut self, b: &[u8]) {
        self.0 += b.len();
    }
}

impl Sink for BytesMut {
    fn put(&mut self, b: &[u8]) {
        self.put_slice(b);
    }
}

fn w_u8<S: Sink>(s: &mut S, v: u8) {
    s.put(&[v]);
}

fn w_u16<S: Sink>(s: &mut S, v: u16) {
    s.put(&v.to_be_bytes());
}

fn w_u32<S: Sink>(s: &mut S, v: u32) {
    s.put(&v.to_be_bytes());
}

fn varint_len(v: usize) -> usize {
    match v {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

fn w_varint<S: Sink>(s: &mut S, v: usize) -> Result<(), EncodeError> {
    if v > MAX_VARINT {
        return Err(EncodeError::PacketTooLarge {
            remaining_length: v,
        });
    }
    let mut out = [0u8; 4];
    let mut n = 0;
    let mut x = v;
    for slot in out.iter_mut() {
        let mut b = (x & 0x7f) as u8;
        x >>= 7;
        if x > 0 {
            b |= 0x80;
        }
        *slot = b;
        n += 1;
        if x == 0 {
            break;
        }
    }
    s.put(out.get(..n).unwrap_or(&out));
    Ok(())
}

fn w_str<S: Sink>(s: &mut S, v: &str) -> Result<(), EncodeError> {
    let len = u16::try_from(v.len()).map_err(|_| EncodeError::StringTooLong { len: v.len() })?;
    w_u16(s, len);
    s.put(v.as_bytes());
    Ok(())
}

fn w_bin<S: Sink>(s: &mut S, v: &[u8]) -> Result<(), EncodeError> {
    let len = u16::try_from(v.len()).map_err(|_| EncodeError::DataTooLong { len: v.len() })?;
    w_u16(s, len);
    s.put(v);
    Ok(())
}

/// Write the properties of `p` that `ctx` allows, in identifier order, without the length.
fn w_props_body<S: Sink>(s: &mut S, p: &Properties, ctx: Ctx) -> Result<(), EncodeError> {
    fn byte<S: Sink>(s: &mut S, ctx: Ctx, id: u8, v: Option<u8>) {
        if let Some(v) = v
            && allowed(ctx, id)
        {
            w_u8(s, id);
            w_u8(s, v);
        }
    }
    fn two<S: Sink>(s: &mut S, ctx: Ctx, id: u8, v: Option<u16>) {
        if let Some(v) = v
            && allowed(ctx, id)
        {
            w_u8(s, id);
            w_u16(s, v);
        }
    }
    fn four<S: Sink>(s: &mut S, ctx: Ctx, id: u8, v: Option<u32>) {
        if let Some(v) = v
            && allowed(ctx, id)
        {
            w_u8(s, id);
            w_u32(s, v);
        }
    }
    fn string<S: Sink>(s: &mut S, ctx: Ctx, id: u8, v: &Option<String>) -> Result<(), EncodeError> {
        if let Some(v) = v
            && allowed(ctx, id)
        {
            w_u8(s, id);
            w_str(s, v)?;
        }
        Ok(())
    }
    fn binary<S: Sink>(s: &mut S, ctx: Ctx, id: u8, v: &Option<Bytes>) -> Result<(), EncodeError> {
        if let Some(v) = v
            && allowed(ctx, id)
        {
            w_u8(s, id);
            w_bin(s, v)?;
        }
        Ok(())
    }

    byte(s, ctx, 0x01, p.payload_format_indicator);
    four(s, ctx, 0x02, p.message_expiry_interval);
    string(s, ctx, 0x03, &p.content_type)?;
    string(s, ctx, 0x08, &p.response_topic)?;
    binary(s, ctx, 0x09, &p.correlation_data)?;
    if allowed(ctx, 0x0B) {
        if ctx == Ctx::Subscribe && p.subscription_identifiers.len() > 1 {
            return Err(EncodeError::InvalidPacket(
                "SUBSCRIBE carries at most one subscription identifier",
            ));
        }
        for &id in &p.subscription_identifiers {
            if id == 0 || id as usize > MAX_VARINT {
                return Err(EncodeError::InvalidPacket(
                    "subscription identifier outside 1..=268435455",
                ));
            }
            w_u8(s, 0x0B);
            w_varint(s, id as usize)?;
        }
    }
    four(s, ctx, 0x11, p.session_expiry_interval);
    string(s, ctx, 0x12, &p.assigned_client_identifier)?;
    two(s, ctx, 0x13, p.server_keep_alive);
    string(s, ctx, 0x15, &p.authentication_method)?;
    binary(s, ctx, 0x16, &p.authentication_data)?;
    byte(s, ctx, 0x17, p.request_problem_information);
    four(s, ctx, 0x18, p.will_delay_interval);
    byte(s, ctx, 0x19, p.request_response_information);
    string(s, ctx, 0x1A, &p.response_information)?;
    string(s, ctx, 0x1C, &p.server_reference)?;
    string(s, ctx, 0x1F, &p.reason_string)?;
    two(s, ctx, 0x21, p.receive_maximum);
    two(s, ctx, 0x22, p.topic_alias_maximum);
    two(s, ctx, 0x23, p.topic_alias);
    byte(s, ctx, 0x24, p.maximum_qos);
    byte(s, ctx, 0x25, p.retain_available);
    for (k, v) in &p.user_properties {
        w_u8(s, 0x26);
        w_str(s, k)?;
        w_str(s, v)?;
    }
    four(s, ctx, 0x27, p.maximum_packet_size);
    byte(s, ctx, 0x28, p.wildcard_subscription_available);
    byte(s, ctx, 0x29, p.subscription_identifier_available);
    byte(s, ctx, 0x2A, p.shared_subscription_available);
    Ok(())
}

/// Length of the property list (without its own length prefix).
fn props_len(p: &Properties, ctx: Ctx) -> Result<usize, EncodeError> {
    let mut c = Counter(0);
    w_props_body(&mut c, p, ctx)?;
    Ok(c.0)
}

/// Property length then properties.
fn w_props<S: Sink>(s: &mut S, p: &Properties, ctx: Ctx) -> Result<(), EncodeError> {
    let n = props_len(p, ctx)?;
    w_varint(s, n)?;
    w_props_body(s, p, ctx)
}

fn w_props_if_v5<S: Sink>(
    s: &mut S,
    v: ProtocolVersion,
    p: &Properties,
    ctx: Ctx,
) -> Result<(), EncodeError> {
    match v {
        ProtocolVersion::V5 => w_props(s, p, ctx),
        ProtocolVersion::V311 => Ok(()),
    }
}

fn check_packet_id(id: u16) -> Result<u16, EncodeError> {
    if id == 0 {
        Err(EncodeError::InvalidPacket("packet identifier 0"))
    } else {
        Ok(id)
    }
}

/// First byte of the fixed header.
fn first_byte(p: &Packet, v: ProtocolVersion) -> Result<u8, EncodeError> {
    Ok(match p {
        Packet::Connect(_) => 0x10,
        Packet::ConnAck(_) => 0x20,
        Packet::Publish(p) => {
            0x30 | (u8::from(p.dup) << 3) | ((p.qos as u8) << 1) | u8::from(p.retain)
        }
        Packet::PubAck(_) => 0x40,
        Packet::PubRec(_) => 0x50,
        Packet::PubRel(_) => 0x62,
        Packet::PubComp(_) => 0x70,
        Packet::Subscribe(_) => 0x82,
        Packet::SubAck(_) => 0x90,
        Packet::Unsubscribe(_) => 0xA2,
        Packet::UnsubAck(_) => 0xB0,
        Packet::PingReq => 0xC0,
        Packet::PingResp => 0xD0,
        Packet::Disconnect(_) => 0xE0,
        Packet::Auth(_) => {
            if v == ProtocolVersion::V311 {
                return Err(EncodeError::PacketNotInVersion("AUTH"));
            }
            0xF0
        }
    })
}

/// Encode the variable header and payload.
fn w_body<S: Sink>(s: &mut S, p: &Packet, v: ProtocolVersion) -> Result<(), EncodeError> {
    match p {
        Packet::Connect(c) => w_connect(s, c),
        Packet::ConnAck(c) => {
            w_u8(s, u8::from(c.session_present));
            let code = match v {
                ProtocolVersion::V5 => c.code,
                ProtocolVersion::V311 => match c.code {
                    0..=5 => c.code,
                    0x80..=0xff => crate::reason::connack_code_v311(c.code),
                    _ => {
                        return Err(EncodeError::InvalidPacket(
                            "CONNACK code is neither a 3.1.1 return code nor a v5 error",
                        ));
                    }
                },
            };
            w_u8(s, code);
            w_props_if_v5(s, v, &c.properties, Ctx::ConnAck)
        }
        Packet::Publish(p) => {
            if p.qos == QoS::AtMostOnce && p.dup {
                return Err(EncodeError::InvalidPacket("DUP set on a QoS 0 PUBLISH"));
            }
            w_str(s, &p.topic)?;
            match (p.qos, p.packet_id) {
                (QoS::AtMostOnce, None) => {}
                (QoS::AtMostOnce, Some(_)) => {
                    return Err(EncodeError::InvalidPacket(
                        "QoS 0 PUBLISH with a packet identifier",
                    ));
                }
                (_, Some(id)) => w_u16(s, check_packet_id(id)?),
                (_, None) => {
                    return Err(EncodeError::InvalidPacket(
                        "QoS 1 or 2 PUBLISH without a packet identifier",
                    ));
                }
            }
            w_props_if_v5(s, v, &p.properties, Ctx::Publish)?;
            s.put(&p.payload);
            Ok(())
        }
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
            w_u16(s, check_packet_id(a.packet_id)?);
            if v == ProtocolVersion::V5 {
                w_reason_props(s, a.reason, &a.properties, Ctx::Ack)?;
            }
            Ok(())
        }
        Packet::Subscribe(sub) => {
            w_u16(s, check_packet_id(sub.packet_id)?);
            w_props_if_v5(s, v, &sub.properties, Ctx::Subscribe)?;
            if sub.filters.is_empty() {
                return Err(EncodeError::InvalidPacket(
                    "SUBSCRIBE without topic filters",
                ));
            }
            for (f, o) in &sub.filters {
                w_str(s, f)?;
                let b = match v {
                    ProtocolVersion::V311 => o.qos as u8,
                    ProtocolVersion::V5 => {
                        if o.retain_handling > 2 {
                            return Err(EncodeError::InvalidPacket("retain handling above 2"));
                        }
                        (o.qos as u8)
                            | (u8::from(o.no_local) << 2)
                            | (u8::from(o.retain_as_published) << 3)
                            | (o.retain_handling << 4)
                    }
                };
                w_u8(s, b);
            }
            Ok(())
        }
        Packet::SubAck(a) => {
            w_u16(s, check_packet_id(a.packet_id)?);
            w_props_if_v5(s, v, &a.properties, Ctx::SubAck)?;
            if a.reasons.is_empty() {
                return Err(EncodeError::InvalidPacket("SUBACK without reason codes"));
            }
            for &c in &a.reasons {
                let c = match v {
                    ProtocolVersion::V5 => c,
                    ProtocolVersion::V311 => match c {
                        0..=2 => c,
                        0x80..=0xff => 0x80,
                        _ => {
                            return Err(EncodeError::InvalidPacket(
                                "SUBACK code is neither a 3.1.1 return code nor a v5 error",
                            ));
                        }
                    },
                };
                w_u8(s, c);
            }
            Ok(())
        }
        Packet::Unsubscribe(u) => {
            w_u16(s, check_packet_id(u.packet_id)?);
            w_props_if_v5(s, v, &u.properties, Ctx::Unsubscribe)?;
            if u.filters.is_empty() {
                return Err(EncodeError::InvalidPacket(
                    "UNSUBSCRIBE without topic filters",
                ));
            }
            for f in &u.filters {
                w_str(s, f)?;
            }
            Ok(())
        }
        Packet::UnsubAck(u) => {
            w_u16(s, check_packet_id(u.packet_id)?);
            if v == ProtocolVersion::V5 {
                w_props(s, &u.properties, Ctx::UnsubAck)?;
                if u.reasons.is_empty() {
                    return Err(EncodeError::InvalidPacket("UNSUBACK without reason codes"));
                }
                s.put(&u.reasons);
            }
            Ok(())
        }
        Packet::PingReq | Packet::PingResp => Ok(()),
        Packet::Disconnect(d) => {
            if v == ProtocolVersion::V5 {
                w_reason_props(s, d.reason, &d.properties, Ctx::Disconnect)?;
            }
            Ok(())
        }
        Packet::Auth(a) => w_reason_props(s, a.reason, &a.properties, Ctx::Auth),
    }
}

/// Reason code and properties in the shortest form the spec allows: nothing when the reason
/// is 0 and there are no properties, the reason alone when there are no properties.
fn w_reason_props<S: Sink>(
    s: &mut S,
    reason: u8,
    p: &Properties,
    ctx: Ctx,
) -> Result<(), EncodeError> {
    let n = props_len(p, ctx)?;
    if reason == 0 && n == 0 {
        return Ok(());
    }
    w_u8(s, reason);
    if n > 0 {
        w_varint(s, n)?;
        w_props_body(s, p, ctx)?;
    }
    Ok(())
}

fn w_connect<S: Sink>(s: &mut S, c: &Connect) -> Result<(), EncodeError> {
    let v = c.protocol;
    if v == ProtocolVersion::V311 && c.password.is_some() && c.username.is_none() {
        return Err(EncodeError::InvalidPacket(
            "password without user name in MQTT 3.1.1",
        ));
    }
    w_str(s, "MQTT")?;
    w_u8(s, v.level());
    let mut flags = 0u8;
    if c.clean_start {
        flags |= 0x02;
    }
    if let Some(w) = &c.will {
        flags |= 0x04 | ((w.qos as u8) << 3);
        if w.retain {
            flags |= 0x20;
        }
    }
    if c.password.is_some() {
        flags |= 0x40;
    }
    if c.username.is_some() {
        flags |= 0x80;
    }
    w_u8(s, flags);
    w_u16(s, c.keep_alive);
    w_props_if_v5(s, v, &c.properties, Ctx::Connect)?;
    w_str(s, &c.client_id)?;
    if let Some(w) = &c.will {
        w_props_if_v5(s, v, &w.properties, Ctx::Will)?;
        w_str(s, &w.topic)?;
        w_bin(s, &w.payload)?;
    }
    if let Some(u) = &c.username {
        w_str(s, u)?;
    }
    if let Some(p) = &c.password {
        w_bin(s, p)?;
    }
    Ok(())
}

/// Remaining length of `packet`, checking every encoding error.
fn remaining_length(packet: &Packet, version: ProtocolVersion) -> Result<usize, EncodeError> {
    let mut c = Counter(0);
    w_body(&mut c, packet, version)?;
    if c.0 > MAX_VARINT {
        return Err(EncodeError::PacketTooLarge {
            remaining_length: c.0,
        });
    }
    Ok(c.0)
}

/// Append the encoding of `packet` for `version` to `buf`.
///
/// For 3.1.1, v5-only fields (properties, reason codes of PUBACK and friends, the DISCONNECT
/// reason, UNSUBACK reason codes) are not written; a v5 CONNACK or SUBACK failure code is
/// mapped to its closest 3.1.1 code. A CONNECT is written for its own `protocol`, whatever
/// `version` says. Properties that the packet type does not allow (MQTT 5.0 table 2.2.2.2)
/// are not written. The PUBACK family, DISCONNECT and AUTH use the short forms when the
/// reason is 0 and there are no properties. On error `buf` is unchanged.
pub fn encode(
    packet: &Packet,
    version: ProtocolVersion,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let first = first_byte(packet, version)?;
    let remaining = remaining_length(packet, version)?;
    buf.reserve(1 + varint_len(remaining) + remaining);
    w_u8(buf, first);
    w_varint(buf, remaining)?;
    w_body(buf, packet, version)
}

/// Total encoded size in bytes (fixed header included) of `packet` for `version`, without
/// encoding it. Fails exactly when [`encode`] would.
pub fn encoded_len(packet: &Packet, version: ProtocolVersion) -> Result<usize, EncodeError> {
    first_byte(packet, version)?;
    let remaining = remaining_length(packet, version)?;
    Ok(1 + varint_len(remaining) + remaining)
}
