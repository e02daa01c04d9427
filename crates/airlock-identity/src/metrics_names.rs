//! Metric names, in one place so the docs and dashboards match the code.

/// Decisions answered from the per-connection decision cache.
pub const CACHE_HITS: &str = "airlock_authz_cache_hits_total";
/// Decisions the policy engine had to compute.
pub const CACHE_MISSES: &str = "airlock_authz_cache_misses_total";
/// Refusals, labelled by `action` (`iot:Connect`, `iot:Publish`, ...).
pub const DENIED: &str = "airlock_authz_denied_total";
