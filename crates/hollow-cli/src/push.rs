//! `--push URL`: announcements over NATS for `produce` (publish each one) and `follow`
//! (refresh as soon as one arrives; polling stays the fallback).

use anyhow::{Context, Result};
use hollow::push::{NatsAnnouncements, default_subject};

/// The NATS options of `produce` and `follow`.
#[derive(Debug, Clone, clap::Args)]
pub struct PushArgs {
    /// Push announcements over NATS: a producer publishes each one, a follower refreshes as
    /// soon as one arrives (its poll stays the fallback). E.g. nats://127.0.0.1:4222.
    #[arg(long, env = "HOLLOW_PUSH", value_name = "NATS_URL")]
    pub push: Option<String>,
    /// The subject announcements travel on (default: hollow.announced.<dataset>).
    #[arg(long, value_name = "SUBJECT", requires = "push")]
    pub push_subject: Option<String>,
}

impl PushArgs {
    /// Connects when `--push` is given; `dataset` names the default subject (`None` when the
    /// store announces nothing yet: then `--push-subject` is needed).
    pub async fn connect(&self, dataset: Option<&str>) -> Result<Option<NatsAnnouncements>> {
        let Some(url) = &self.push else {
            return Ok(None);
        };
        let subject = match (&self.push_subject, dataset) {
            (Some(s), _) => s.clone(),
            (None, Some(d)) => default_subject(d),
            (None, None) => anyhow::bail!(
                "--push: the store announces no dataset yet, so name the subject with \
                 --push-subject (the producer's default is hollow.announced.<dataset>)"
            ),
        };
        let push = NatsAnnouncements::connect(url, &subject)
            .await
            .with_context(|| format!("--push {url}"))?;
        Ok(Some(push))
    }
}
