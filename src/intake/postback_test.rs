//! Test postbacks: the one entry point behind the API's, the admin's and the portal's "send a
//! test postback". The limit (`tracking::outbound::TEST_POSTBACKS_PER_HOUR` per affiliate, from
//! every source together) is checked in the transaction that queues it (`store::deliveries`).
//!
//! Architecture Invariant: the limit is counted in the transaction that queues, never before.

use super::Intake;
use crate::error::Error;
use crate::store::deliveries::{self, TestPostback};

/// Queues a test postback to affiliate `code`'s postback URL, or says how long to wait.
pub fn test_postback(ix: &Intake<'_>, code: &str) -> Result<TestPostback, Error> {
    let (code, now) = (code.to_string(), crate::clock::now_ms());
    ix.writer.run(move |conn| deliveries::queue_test(conn, &code, now))
}

/// The refusal of a test postback beyond the limit: 429 `too_many_test_postbacks`. Callers add
/// `Retry-After: <retry_after>`.
pub fn too_many(retry_after: u64) -> Error {
    let minutes = retry_after.div_ceil(60);
    Error::new(
        429,
        "too_many_test_postbacks",
        format!(
            "{} test postbacks were sent to this affiliate within the last hour; the next one can be sent in \
             {minutes} minute{}",
            crate::tracking::outbound::TEST_POSTBACKS_PER_HOUR,
            if minutes == 1 { "" } else { "s" }
        ),
    )
}
