//! The two backends, and how one text of every statement serves both.
//!
//! A backend module (`sqlite`, `postgres`) holds only what really differs:
//! connection setup, how a write transaction begins (SQLite's
//! `BEGIN IMMEDIATE`; PostgreSQL's `BEGIN`, plus the `alerts` lock for alert
//! writers), and the row-lock suffixes (`for_update!`, `skip_locked!`, empty
//! on SQLite, whose single writer already serialises).
//!
//! Every operation is written once, under `src/sql/`, with `$N` placeholders
//! and `CAST(… AS …)` (both drivers bind `$N`). [`operations!`] includes those
//! files into each backend module, where `Db`, `Conn` and `Handle` name that
//! backend's concrete types, so the compiler checks each body against both
//! drivers and no call goes through `sqlx::Any`. An operation is an inherent
//! method of `Handle`; a helper that runs inside a caller's transaction takes
//! `&mut Conn`, and other files reach it as `super::<file>::<helper>`, which
//! resolves within the same backend.

pub(crate) mod postgres;
pub(crate) mod sqlite;
mod turns;

pub(crate) use turns::current_lane;
pub use turns::{Lane, in_lane};

/// Include every file of `src/sql/` as a submodule of the calling backend
/// module. Paths are relative to this directory, where both callers live.
macro_rules! operations {
    () => {
        mod alerts {
            include!("../sql/alerts.rs");
        }
        mod batch {
            include!("../sql/batch.rs");
        }
        mod changes {
            include!("../sql/changes.rs");
        }
        mod duties {
            include!("../sql/duties.rs");
        }
        mod follow_ups {
            include!("../sql/follow_ups.rs");
        }
        mod incidents {
            include!("../sql/incidents.rs");
        }
        mod leases {
            include!("../sql/leases.rs");
        }
        mod outbox {
            include!("../sql/outbox.rs");
        }
        mod overrides {
            include!("../sql/overrides.rs");
        }
        mod retention {
            include!("../sql/retention.rs");
        }
        mod set_aside {
            include!("../sql/set_aside.rs");
        }
        mod signals {
            include!("../sql/signals.rs");
        }
        mod subscribers {
            include!("../sql/subscribers.rs");
        }
        mod tokens {
            include!("../sql/tokens.rs");
        }
    };
}
pub(crate) use operations;
