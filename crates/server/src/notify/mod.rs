//! Delivering notifications to people: the outbox [`dispatch`]er, the
//! [`channels`] (webhook, Slack, [`email`] over SMTP) and signed ack [`links`].

pub mod channels;
pub mod dispatch;
pub mod email;
pub mod links;
