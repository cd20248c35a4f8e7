//! The shop connectors' signing secrets kept in the database (`PUT`/`DELETE
//! /api/v1/connectors/{name}`): storing one, replacing the one before, and forgetting it. A
//! secret set by the environment wins and cannot be changed here.
//!
//! Architecture Invariant: plain values in (a connector, the secret as sent), a domain outcome
//! out; never a request or a response. Secrets are never logged or returned.

use super::Intake;
use crate::error::Error;
use crate::store::connectors as stored;
use crate::tracking::connectors::Connector;

/// Stores `secret` (`None`: none was sent) as `connector`'s signing secret; returns when. 409
/// `connector_configured_by_environment` when the environment sets it; a secret the platform
/// cannot have made is 400 `invalid_signing_secret`.
pub fn set_secret(ix: &Intake<'_>, connector: Connector, secret: Option<&str>) -> Result<i64, Error> {
    changeable(ix, connector)?;
    let secret = secret.ok_or_else(|| Error::missing("signing_secret"))?;
    let secret = connector.signing_secret(secret).map_err(|e| Error::invalid("signing_secret", e))?;
    let now = crate::clock::now_ms();
    ix.writer.run(move |tx| stored::set_secret(tx, connector, &secret, now))?;
    Ok(now)
}

/// Forgets `connector`'s stored secret: its webhooks are refused from then on. 404
/// `connector_not_configured` when none is stored.
pub fn delete_secret(ix: &Intake<'_>, connector: Connector) -> Result<(), Error> {
    changeable(ix, connector)?;
    if ix.writer.run(move |tx| stored::delete_secret(tx, connector))? {
        Ok(())
    } else {
        Err(Error::not_found("connector_not_configured", format!("no {} signing secret is stored", connector.title())))
    }
}

/// Refuses to touch a secret the environment sets.
fn changeable(ix: &Intake<'_>, connector: Connector) -> Result<(), Error> {
    if ix.config.webhook_secret(connector).is_none() {
        return Ok(());
    }
    let opt = crate::config::webhook_secret_opt(connector);
    Err(Error::conflict(
        "connector_configured_by_environment",
        format!(
            "the {} signing secret is set by {} (or --{}); change it there and restart",
            connector.title(),
            opt.env.unwrap_or(""),
            opt.long
        ),
    ))
}
