//! The data-plane actions a policy can allow or deny, and action-name patterns.

use std::fmt;
use std::str::FromStr;

use crate::error::Problem;
use crate::glob::wildcard_match;

/// An action the engine decides on. Names and resources as in AWS IoT's
/// "AWS IoT Core policy actions" page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// `iot:Connect` on `client/{clientId}`.
    Connect,
    /// `iot:Publish` on `topic/{topic}`.
    Publish,
    /// `iot:Subscribe` on `topicfilter/{filter}`.
    Subscribe,
    /// `iot:Receive` on `topic/{topic}`, checked on each delivery.
    Receive,
    /// `iot:RetainPublish` on `topic/{topic}`. AWS requires `iot:Publish` as well for a retained
    /// publish; see [`crate::Engine::evaluate_all`].
    RetainPublish,
    /// `iot:AssumeRoleWithCertificate` on `rolealias/{alias}`.
    AssumeRoleWithCertificate,
    /// `iot:GetRetainedMessage` on `topic/{topic}`.
    GetRetainedMessage,
    /// `iot:ListRetainedMessages` on `*`.
    ListRetainedMessages,
}

impl Action {
    /// Every action, in declaration order.
    pub const ALL: [Action; 8] = [
        Action::Connect,
        Action::Publish,
        Action::Subscribe,
        Action::Receive,
        Action::RetainPublish,
        Action::AssumeRoleWithCertificate,
        Action::GetRetainedMessage,
        Action::ListRetainedMessages,
    ];

    /// The policy-language name, e.g. `"iot:Connect"`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Connect => "iot:Connect",
            Action::Publish => "iot:Publish",
            Action::Subscribe => "iot:Subscribe",
            Action::Receive => "iot:Receive",
            Action::RetainPublish => "iot:RetainPublish",
            Action::AssumeRoleWithCertificate => "iot:AssumeRoleWithCertificate",
            Action::GetRetainedMessage => "iot:GetRetainedMessage",
            Action::ListRetainedMessages => "iot:ListRetainedMessages",
        }
    }

    fn lower_name(self) -> &'static str {
        match self {
            Action::Connect => "iot:connect",
            Action::Publish => "iot:publish",
            Action::Subscribe => "iot:subscribe",
            Action::Receive => "iot:receive",
            Action::RetainPublish => "iot:retainpublish",
            Action::AssumeRoleWithCertificate => "iot:assumerolewithcertificate",
            Action::GetRetainedMessage => "iot:getretainedmessage",
            Action::ListRetainedMessages => "iot:listretainedmessages",
        }
    }

    pub(crate) fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A string that is not the name of an [`Action`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not an action Airlock decides on (iot:Connect, iot:Publish, iot:Subscribe, iot:Receive, iot:RetainPublish, iot:AssumeRoleWithCertificate, iot:GetRetainedMessage, iot:ListRetainedMessages)"
)]
pub struct UnknownAction(pub String);

impl FromStr for Action {
    type Err = UnknownAction;

    /// Case-insensitive, as IAM action names are.
    fn from_str(s: &str) -> Result<Action, UnknownAction> {
        let lower = s.to_ascii_lowercase();
        Action::ALL
            .into_iter()
            .find(|a| a.lower_name() == lower)
            .ok_or_else(|| UnknownAction(s.to_string()))
    }
}

impl serde::Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Service prefixes accepted in `Action`. `greengrass` appears in the policies AWS documents
/// for Greengrass core devices, which are attached to IoT certificates; such actions are kept
/// (so the documents import unchanged) but never match anything Airlock decides on.
const KNOWN_PREFIXES: [&str; 2] = ["iot", "greengrass"];

/// Compile one action-name pattern into the set of [`Action`]s it matches, as a bit mask.
/// Action names are case-insensitive in IAM, so matching is done on lowercase.
pub(crate) fn action_mask(pattern: &str) -> Result<u16, Problem> {
    if pattern == "*" {
        return Ok(all_bits());
    }
    let Some((prefix, name)) = pattern.split_once(':') else {
        return Err(Problem::BadAction(pattern.to_string()));
    };
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?');
    let prefix_lower = prefix.to_ascii_lowercase();
    if !prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-')
        || prefix.is_empty()
    {
        return Err(Problem::BadAction(pattern.to_string()));
    }
    if !KNOWN_PREFIXES.contains(&prefix_lower.as_str()) {
        return Err(Problem::UnknownActionPrefix(pattern.to_string()));
    }
    if !name_ok {
        return Err(Problem::BadAction(pattern.to_string()));
    }
    let lower = pattern.to_ascii_lowercase();
    Ok(Action::ALL
        .into_iter()
        .filter(|a| wildcard_match(&lower, a.lower_name()))
        .fold(0, |m, a| m | a.bit()))
}

pub(crate) fn all_bits() -> u16 {
    Action::ALL.into_iter().fold(0, |m, a| m | a.bit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Action::ALL {
            assert_eq!(a.name().parse::<Action>(), Ok(a));
            assert_eq!(a.name().to_uppercase().parse::<Action>(), Ok(a));
        }
        assert!("iot:Nope".parse::<Action>().is_err());
    }

    #[test]
    fn masks() {
        assert_eq!(action_mask("iot:*"), Ok(all_bits()));
        assert_eq!(action_mask("*"), Ok(all_bits()));
        assert_eq!(
            action_mask("iot:Pub*"),
            Ok(Action::Publish.bit()),
            "RetainPublish does not start with Pub"
        );
        assert_eq!(
            action_mask("iot:*Publish"),
            Ok(Action::Publish.bit() | Action::RetainPublish.bit())
        );
        assert_eq!(action_mask("IOT:receive"), Ok(Action::Receive.bit()));
        assert_eq!(action_mask("iot:GetThingShadow"), Ok(0));
        assert_eq!(action_mask("greengrass:*"), Ok(0));
        assert!(matches!(
            action_mask("s3:GetObject"),
            Err(Problem::UnknownActionPrefix(_))
        ));
        assert!(matches!(action_mask("Publish"), Err(Problem::BadAction(_))));
        assert!(matches!(action_mask("iot:"), Err(Problem::BadAction(_))));
    }
}
