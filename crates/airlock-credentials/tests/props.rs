//! Hostile input never panics: arbitrary strings to `verify` and to `RolePolicy::parse`.

use std::time::{Duration, UNIX_EPOCH};

use airlock_credentials::{CredentialMinter, RequestContext, RolePolicy};
use proptest::prelude::*;

proptest! {
    #[test]
    fn verify_never_panics(akid in ".{0,40}", token in ".{0,600}", now in any::<u32>()) {
        let m = CredentialMinter::new([1; 32]);
        let _ = m.verify(&akid, &token, UNIX_EPOCH + Duration::from_secs(u64::from(now)));
    }

    #[test]
    fn verify_base64url_never_panics(token in "[A-Za-z0-9_-]{0,400}") {
        let m = CredentialMinter::new([1; 32]);
        prop_assert!(m.verify("ASIAAAAAAAAAAAAAAAAA", &token, UNIX_EPOCH).is_err());
    }

    #[test]
    fn parse_never_panics(json in ".{0,400}") {
        let _ = RolePolicy::parse(&json);
    }

    /// Structurally plausible documents with arbitrary strings in every slot: parse either
    /// refuses or yields a policy that evaluates without panicking.
    #[test]
    fn parse_and_evaluate_never_panic(
        version in prop_oneof![Just("2012-10-17".to_string()), Just("2008-10-17".to_string()), ".{0,12}"],
        effect in prop_oneof![Just("Allow".to_string()), Just("Deny".to_string()), ".{0,6}"],
        action in "[a-zA-Z0-9:*?${}-]{0,24}",
        resource in "(arn:aws:s3:::)?[a-zA-Z0-9/*?${}:,' -]{0,40}",
        op in prop_oneof![Just("StringLike"), Just("StringNotEquals"), Just("Null"), Just("StringEqualsIfExists"), Just("Bogus")],
        key in prop_oneof![Just("s3:prefix"), Just("credentials-iot:ThingName"), Just("x:y")],
        value in "[a-z*?${}:-]{0,20}",
        text in ".{0,40}",
        thing in proptest::option::of("[a-z*?-]{0,10}"),
    ) {
        let doc = serde_json::json!({
            "Version": version,
            "Statement": [{
                "Effect": effect, "Action": action, "Resource": resource,
                "Condition": { op: { key: value } }
            }]
        })
        .to_string();
        if let Ok(p) = RolePolicy::parse(&doc) {
            let ctx = RequestContext { thing_name: thing.as_deref(), s3_prefix: Some(&text), ..RequestContext::default() };
            let _ = p.evaluate(&action, &text, &ctx);
            let _ = p.evaluate("s3:GetObject", &resource, &ctx);
        }
    }
}
