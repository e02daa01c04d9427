//! Why a role policy document was refused.

use super::MAX_POLICY_CHARS;
use super::context::SUPPORTED_KEYS;

/// A role policy document that cannot be used, with the path of the offending element
/// (e.g. `Statement[1].Effect`) so the author can find it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid role policy: {path}: {problem}")]
pub struct PolicyError {
    /// Where: `Statement[0].Resource[2]`, or `(document)` for the whole.
    pub path: String,
    /// What is wrong there.
    pub problem: Problem,
}

/// What is wrong with one element of a role policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The text is not JSON.
    #[error("not valid JSON ({0}); check quotes, commas and brackets")]
    Json(String),
    /// Over IAM's size limit for an inline role policy.
    #[error(
        "the document has {0} characters (whitespace excluded), over IAM's {MAX_POLICY_CHARS}-character limit for a role policy; split it or use wildcards"
    )]
    TooLarge(usize),
    /// Should be a JSON object.
    #[error("must be a JSON object")]
    NotObject,
    /// A required element is missing.
    #[error("is required")]
    Missing,
    /// Should be a string.
    #[error("must be a string")]
    NotString,
    /// Should be a string or a non-empty list of them.
    #[error("must be a string or a non-empty list of strings")]
    NotStringOrList,
    /// An element IAM does not define here.
    #[error("is not a policy element here; allowed: {0}")]
    UnknownElement(&'static str),
    /// `Principal`/`NotPrincipal`: only resource policies and trust policies have them.
    #[error(
        "is not allowed in a role's permissions policy (only in trust and resource policies); remove it"
    )]
    PrincipalNotAllowed,
    /// `Version` other than the two IAM defines.
    #[error("'{0}' is not a policy version; use \"2012-10-17\"")]
    BadVersion(String),
    /// `Effect` other than `Allow`/`Deny`.
    #[error("'{0}' is not an effect; use \"Allow\" or \"Deny\" (case-sensitive)")]
    BadEffect(String),
    /// Both of a mutually exclusive pair.
    #[error("{0} and {1} cannot both appear in one statement; keep one")]
    Both(&'static str, &'static str),
    /// Neither of a required pair.
    #[error("a statement needs {0} or {1}")]
    Neither(&'static str, &'static str),
    /// `Statement` is an empty list.
    #[error("must contain at least one statement")]
    Empty,
    /// Two statements share a `Sid`.
    #[error("Sid '{0}' is used twice; Sids must be unique within a policy")]
    DuplicateSid(String),
    /// An action that is neither `*` nor `service:Name`.
    #[error(
        "'{0}' is not an action; write \"*\" or \"service:ActionName\" (letters, digits, * and ?), e.g. \"s3:GetObject\""
    )]
    BadAction(String),
    /// A resource that is neither `*` nor an ARN.
    #[error(
        "'{0}' is not a resource; write \"*\" or an ARN with six parts, e.g. \"arn:aws:s3:::bucket/key\""
    )]
    BadResource(String),
    /// `${` with no closing `}`.
    #[error("'{0}' has '${{' without a closing '}}'; write ${{$}} for a literal '$'")]
    UnterminatedVariable(String),
    /// A variable this engine does not know.
    #[error(
        "unknown policy variable '${{{0}}}'; supported: {SUPPORTED_KEYS} and ${{*}}, ${{?}}, ${{$}}"
    )]
    UnknownVariable(String),
    /// IAM's `${key, 'default'}` form, which Airlock does not implement.
    #[error(
        "policy variable '${{{0}}}' has a default value, which Airlock does not support; remove the default"
    )]
    VariableDefault(String),
    /// A variable under Version 2008-10-17 (or no Version), where IAM reads it as literal text.
    #[error(
        "'{0}' contains '${{', which is a policy variable only under \"Version\": \"2012-10-17\"; add that Version"
    )]
    VariableNeedsVersion(String),
    /// A condition operator this engine does not implement.
    #[error(
        "unsupported condition operator '{0}'; supported: StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase, StringLike, StringNotLike (each also ...IfExists) and Null"
    )]
    UnknownOperator(String),
    /// A condition key this engine does not know.
    #[error("unknown condition key '{0}'; supported: {SUPPORTED_KEYS}")]
    UnknownKey(String),
    /// `Null` takes a boolean.
    #[error("Null takes \"true\" (key absent) or \"false\" (key present), not '{0}'")]
    BadNull(String),
}
