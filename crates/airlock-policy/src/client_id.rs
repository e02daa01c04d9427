//! Airlock's safe default for client ids that would widen `${iot:ClientId}` grants.
//!
//! AWS's "Basic AWS IoT Core policy variables" page warns: with a `Subscribe` grant on
//! `topicfilter/my/${iot:ClientId}/topic`, "a client can connect using `+` as the client ID.
//! This would allow the user to subscribe to any topic that matches the topic filter
//! `my/+/topic`." AWS leaves the fix to each policy's `iot:Connect` statement. Airlock closes
//! the whole class by default: a client id containing an MQTT wildcard is refused at CONNECT,
//! whatever the policies say. [`ClientIdRule::AwsCompatible`] turns this off.

/// Which client ids the broker accepts before any policy is consulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientIdRule {
    /// Refuse client ids containing `+` or `#` (the default).
    #[default]
    RefuseMqttWildcards,
    /// Accept them, as AWS IoT does; only the policies decide.
    AwsCompatible,
}

/// Why a client id was refused by [`check_client_id`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClientIdRefused {
    /// The client id contains an MQTT wildcard character.
    #[error(
        "client id contains the MQTT wildcard {0:?}, which would widen ${{iot:ClientId}} topic-filter grants; choose another client id (or set the strict AWS compatibility option)"
    )]
    MqttWildcard(char),
}

/// Check a CONNECT's client id against the rule. The broker calls this before evaluating
/// `iot:Connect`.
pub fn check_client_id(client_id: &str, rule: ClientIdRule) -> Result<(), ClientIdRefused> {
    match rule {
        ClientIdRule::AwsCompatible => Ok(()),
        ClientIdRule::RefuseMqttWildcards => {
            match client_id.chars().find(|c| matches!(c, '+' | '#')) {
                Some(c) => Err(ClientIdRefused::MqttWildcard(c)),
                None => Ok(()),
            }
        }
    }
}

/// `true` if the client id may connect: always under `strict_aws_compat`, otherwise only
/// when it contains neither `+` nor `#`.
pub fn client_id_allowed(client_id: &str, strict_aws_compat: bool) -> bool {
    let rule = if strict_aws_compat {
        ClientIdRule::AwsCompatible
    } else {
        ClientIdRule::RefuseMqttWildcards
    };
    check_client_id(client_id, rule).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_refuses_wildcards() {
        assert!(client_id_allowed("sensor-1", false));
        assert!(!client_id_allowed("+", false));
        assert!(!client_id_allowed("a#", false));
        assert_eq!(
            check_client_id("x+y", ClientIdRule::default()),
            Err(ClientIdRefused::MqttWildcard('+'))
        );
        assert!(client_id_allowed("+", true));
        assert!(client_id_allowed("#", true));
        // `*` and `?` are harmless: substituted values are literal in resources.
        assert!(client_id_allowed("a*?", false));
    }
}
