//! Why a policy document was refused.

/// A policy document that cannot be created. Every variant that concerns one element names
/// it by path (`Statement[1].Effect`), so the admin API and the CLI can point at it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The document is larger than the configured limit.
    #[error(
        "policy document has {chars} non-whitespace characters; the limit is {max} (raise policy.max_chars or split the policy)"
    )]
    TooLarge {
        /// Non-whitespace characters in the document.
        chars: usize,
        /// The configured limit.
        max: usize,
    },
    /// The document is not JSON.
    #[error("policy document is not valid JSON (line {line}, column {column}): {message}")]
    Json {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the JSON parser said.
        message: String,
    },
    /// One element of the document is invalid.
    #[error("{field} {problem}")]
    Invalid {
        /// Path of the offending element, e.g. `Statement[1].Effect`.
        field: String,
        /// What is wrong with it.
        problem: Problem,
    },
}

/// What is wrong with one element of a policy document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// A required element is absent.
    #[error("is required")]
    Missing,
    /// The element has the wrong JSON type.
    #[error("must be {expected}")]
    WrongType {
        /// What was expected, e.g. `a string or a list of strings`.
        expected: &'static str,
    },
    /// An element name the policy language does not have.
    #[error("is not a policy element (allowed: {allowed})")]
    UnknownElement {
        /// The element names allowed at this place.
        allowed: &'static str,
    },
    /// A list that must not be empty is.
    #[error("must not be empty")]
    Empty,
    /// Two mutually exclusive elements are both present, or neither is.
    #[error("{0}")]
    Exclusive(&'static str),
    /// `Effect` is not `Allow` or `Deny`.
    #[error("must be \"Allow\" or \"Deny\" (got {0:?})")]
    BadEffect(String),
    /// `Version` is not one the policy language defines.
    #[error("must be \"2012-10-17\" or \"2008-10-17\" (got {0:?})")]
    BadVersion(String),
    /// An action name without a known service prefix.
    #[error("{0:?} has an unknown service prefix (expected \"iot:...\" or \"*\")")]
    UnknownActionPrefix(String),
    /// An action name that is not `service:Name` with letters, digits and wildcards.
    #[error("{0:?} is not an action name (expected e.g. \"iot:Publish\" or \"iot:*\")")]
    BadAction(String),
    /// A resource that is neither `*` nor an ARN.
    #[error("{0:?} is not \"*\" or an ARN like \"arn:aws:iot:REGION:ACCOUNT:topic/NAME\"")]
    BadResource(String),
    /// A condition operator the engine does not know.
    #[error(
        "{0:?} is not a supported condition operator (String[Not]Equals[IgnoreCase], String[Not]Like, [Not]IpAddress, Bool, Null, Arn[Not]Equals, Arn[Not]Like, with ...IfExists and ForAnyValue:/ForAllValues:)"
    )]
    UnknownOperator(String),
    /// A set qualifier or `IfExists` on an operator that does not take it.
    #[error("{0}")]
    BadQualifier(&'static str),
    /// A condition key the engine does not know.
    #[error("{0:?} is not a supported condition key")]
    UnknownConditionKey(String),
    /// A `${...}` the engine does not know, or one that is not allowed where it is used.
    #[error("uses unknown policy variable ${{{0}}}")]
    UnknownVariable(String),
    /// A policy variable that cannot be used in this place.
    #[error("cannot use policy variable ${{{0}}} here (it has several values)")]
    MultiValuedVariable(String),
    /// `${` without a closing `}`.
    #[error("has a \"${{\" without a closing \"}}\"")]
    UnterminatedVariable,
    /// Policy variables in a document that does not declare the 2012-10-17 language.
    #[error(
        "uses policy variable ${{{0}}}, which needs \"Version\": \"2012-10-17\" (under 2008-10-17 AWS treats it as literal text; Airlock refuses rather than guess)"
    )]
    VariableNeedsVersion(String),
    /// A value that does not fit the operator (`Bool` needs true/false, ...).
    #[error("value {value:?} is not valid here: {expected}")]
    BadValue {
        /// The offending value.
        value: String,
        /// What the operator accepts.
        expected: &'static str,
    },
}

impl PolicyError {
    pub(crate) fn invalid(field: impl Into<String>, problem: Problem) -> PolicyError {
        PolicyError::Invalid {
            field: field.into(),
            problem,
        }
    }
}
