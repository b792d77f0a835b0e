//! Change safety: the deploys and other changes recorded against services,
//! which of them an incident suspects, whether deploys are frozen, and what
//! to roll back. Pure: changes, incidents, the policy and `now` in, answers
//! out; the server reads the rows and serves the answers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::incident::{Incident, Status};
use crate::policy::{FreezeUntil, Policy, RollbackProcedure};
use crate::{Duration, Timestamp};

/// What a change is. The order is the order rollback tries them in
/// (s000.rollback-kinds): a flag is turned off without a deploy, a config
/// or an application goes back to its previous release, and a schema
/// migration is undone last.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    #[serde(alias = "feature-flag", alias = "flag")]
    FeatureFlag,
    Config,
    #[default]
    #[serde(alias = "application", alias = "deploy")]
    App,
    #[serde(alias = "db_migration", alias = "db-migration")]
    Migration,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 4] = [
        ChangeKind::FeatureFlag,
        ChangeKind::Config,
        ChangeKind::App,
        ChangeKind::Migration,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::FeatureFlag => "feature_flag",
            ChangeKind::Config => "config",
            ChangeKind::App => "app",
            ChangeKind::Migration => "migration",
        }
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change kind that is not one of the four.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown change kind {0:?}; use app, migration, feature_flag or config")]
pub struct InvalidChangeKind(pub String);

impl FromStr for ChangeKind {
    type Err = InvalidChangeKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "feature_flag" | "flag" => Ok(ChangeKind::FeatureFlag),
            "config" => Ok(ChangeKind::Config),
            "app" | "application" | "deploy" => Ok(ChangeKind::App),
            "migration" | "db_migration" => Ok(ChangeKind::Migration),
            _ => Err(InvalidChangeKind(s.to_string())),
        }
    }
}

/// A deploy, migration, flag flip or config change to a service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Change {
    pub id: String,
    /// Who reported it, e.g. `github-actions`, `pagerduty:ci`.
    pub source: String,
    pub summary: String,
    pub service: Option<String>,
    pub environment: Option<String>,
    #[serde(default)]
    pub kind: ChangeKind,
    /// When it took effect (a deploy's finish); every window counts from here.
    pub at: Timestamp,
    #[serde(flatten)]
    pub details: ChangeDetails,
    /// The sender's own data, kept as given (`null` when there was none).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub payload: serde_json::Value,
}

/// What a deploy check-in says beyond the basics.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ChangeDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// Why deploys were frozen when it was recorded: a deploy made during a
    /// freeze is flagged, never refused (the deploy has happened).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub frozen: Vec<FreezeReason>,
}

// --- Freeze ------------------------------------------------------------------

/// Where a freeze comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FreezeSource {
    /// An open incident of a freezing severity (`[freeze] severities`).
    Incident,
    /// A scheduled window (`[[freeze.windows]]`).
    Window,
    /// Set by hand, with a reason and an expiry.
    Manual,
}

/// One reason deploys are frozen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FreezeReason {
    pub source: FreezeSource,
    /// The incident's id, the window's name or the manual freeze's id.
    pub id: String,
    pub reason: String,
    /// Since when: an override covers only the reasons in force when it
    /// was made.
    #[serde(default = "epoch")]
    pub since: Timestamp,
    /// Until when; `None` while an incident holds it (until it is green).
    pub until: Option<Timestamp>,
}

fn epoch() -> Timestamp {
    Timestamp::UNIX_EPOCH
}

/// A manual freeze, or an admin's override of the freezes in its scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FreezeKind {
    Freeze,
    Override,
}

impl FreezeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FreezeKind::Freeze => "freeze",
            FreezeKind::Override => "override",
        }
    }
}

impl FromStr for FreezeKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "freeze" => Ok(FreezeKind::Freeze),
            "override" => Ok(FreezeKind::Override),
            other => Err(format!("unknown freeze kind {other:?}")),
        }
    }
}

/// A freeze or override made by a person; both scopes empty means everywhere.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ManualFreeze {
    pub id: String,
    pub kind: FreezeKind,
    pub environment: Option<String>,
    pub service: Option<String>,
    pub reason: String,
    pub created_by: String,
    pub created_at: Timestamp,
    pub until: Timestamp,
    pub lifted_at: Option<Timestamp>,
    pub lifted_by: Option<String>,
}

impl ManualFreeze {
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.lifted_at.is_none() && self.created_at <= now && now < self.until
    }
}

/// What a deploy asks about: a service, an environment, or both.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scope<'a> {
    pub service: Option<&'a str>,
    pub environment: Option<&'a str>,
}

impl Scope<'_> {
    /// The environment asked about: given, or the service's in the policy.
    fn environment<'p>(&'p self, policy: &'p Policy) -> Option<&'p str> {
        self.environment.or_else(|| {
            policy
                .services
                .get(self.service?)
                .and_then(|s| s.environment.as_deref())
        })
    }

    /// Whether a freeze over `environments` and `services` (empty: all)
    /// covers this scope. A freeze of some services does not freeze a whole
    /// environment asked about without a service.
    fn covered_by(&self, policy: &Policy, environments: &[&str], services: &[&str]) -> bool {
        let env_ok = environments.is_empty()
            || self
                .environment(policy)
                .is_some_and(|e| environments.iter().any(|x| x.eq_ignore_ascii_case(e)));
        let svc_ok = services.is_empty()
            || self
                .service
                .is_some_and(|s| services.iter().any(|x| x.eq_ignore_ascii_case(s)));
        env_ok && svc_ok
    }
}

/// The answer a CI step obeys: frozen or not, why, and until when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FreezeAnswer {
    pub frozen: bool,
    pub reasons: Vec<FreezeReason>,
    /// When the last reason lapses; `None` if frozen until an incident is
    /// green, or not frozen.
    pub until: Option<Timestamp>,
    /// An admin's override in force over every reason: the reasons stand,
    /// deploys may go. A reason that began after the override freezes
    /// again.
    pub overridden_by: Option<ManualFreeze>,
}

/// Whether deploys to `scope` are frozen at `now` (s000.freeze-until-green):
/// by an open incident of a freezing severity on a service in the same
/// environment (or the service itself), by a scheduled window, or by hand;
/// unless an admin's override in force covers the scope and every reason
/// (those that began before it was made). A scope of neither service nor
/// environment asks about everything.
pub fn freeze(
    policy: &Policy,
    scope: Scope<'_>,
    incidents: &[Incident],
    manual: &[ManualFreeze],
    now: Timestamp,
) -> FreezeAnswer {
    let mut reasons = Vec::new();
    let everything = scope.service.is_none() && scope.environment.is_none();
    for i in incidents.iter().filter(|i| freezes(policy, i)) {
        let envs: Vec<&str> = i
            .services
            .iter()
            .filter_map(|s| policy.services.get(s)?.environment.as_deref())
            .collect();
        let asked_env = scope.environment(policy);
        let hit = everything
            || asked_env.is_some_and(|e| envs.iter().any(|x| x.eq_ignore_ascii_case(e)))
            || scope
                .service
                .is_some_and(|s| i.services.iter().any(|x| x.eq_ignore_ascii_case(s)));
        if hit {
            let env = asked_env.map(|e| format!(" ({e})")).unwrap_or_default();
            reasons.push(FreezeReason {
                source: FreezeSource::Incident,
                id: i.id.clone(),
                reason: format!(
                    "{} {} open on {}{env}: no deploys until it is {}",
                    i.severity,
                    i.id,
                    i.services.join(", "),
                    match policy.freeze.until {
                        FreezeUntil::Resolved => "resolved",
                        FreezeUntil::Mitigated => "mitigated",
                    }
                ),
                since: i.declared_at,
                until: None,
            });
        }
    }
    for w in &policy.freeze.windows {
        let Some((start, end)) = w.span() else {
            continue;
        };
        let envs: Vec<&str> = w.environments.iter().map(String::as_str).collect();
        let svcs: Vec<&str> = w.services.iter().map(String::as_str).collect();
        if start <= now && now < end && scope.covered_by(policy, &envs, &svcs) {
            reasons.push(FreezeReason {
                source: FreezeSource::Window,
                id: w.name.clone(),
                reason: if w.reason.is_empty() {
                    format!("freeze window {}", w.name)
                } else {
                    w.reason.clone()
                },
                since: start,
                until: Some(end),
            });
        }
    }
    let covers = |m: &ManualFreeze| {
        let envs: Vec<&str> = m.environment.as_deref().into_iter().collect();
        let svcs: Vec<&str> = m.service.as_deref().into_iter().collect();
        m.is_active(now) && scope.covered_by(policy, &envs, &svcs)
    };
    for m in manual
        .iter()
        .filter(|m| m.kind == FreezeKind::Freeze && covers(m))
    {
        reasons.push(FreezeReason {
            source: FreezeSource::Manual,
            id: m.id.clone(),
            reason: format!("{} (frozen by {})", m.reason, m.created_by),
            since: m.created_at,
            until: Some(m.until),
        });
    }
    let overridden_by = if reasons.is_empty() {
        None
    } else {
        manual
            .iter()
            .filter(|m| m.kind == FreezeKind::Override && covers(m))
            .filter(|m| reasons.iter().all(|r| r.since <= m.created_at))
            .max_by_key(|m| m.until)
            .cloned()
    };
    let frozen = !reasons.is_empty() && overridden_by.is_none();
    let until = if frozen && reasons.iter().all(|r| r.until.is_some()) {
        reasons.iter().filter_map(|r| r.until).max()
    } else {
        None
    };
    FreezeAnswer {
        frozen,
        reasons,
        until,
        overridden_by,
    }
}

/// Whether `incident` freezes deploys: open (or not yet mitigated, if the
/// policy lifts at mitigation), not a drill, of a freezing severity.
pub fn freezes(policy: &Policy, incident: &Incident) -> bool {
    let green = match policy.freeze.until {
        FreezeUntil::Resolved => !incident.is_open(),
        FreezeUntil::Mitigated => {
            !incident.is_open() || matches!(incident.status, Status::Mitigated | Status::Monitoring)
        }
    };
    !green
        && !incident.drill
        && policy
            .freeze
            .severities
            .iter()
            .any(|s| s.eq_ignore_ascii_case(&incident.severity))
}

// --- An incident's changes and the rollback advisor ------------------------------

/// A change shown on an incident: its services', before it began or during it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecentChange {
    #[serde(flatten)]
    pub change: Change,
    /// Close enough before the incident began to suspect.
    pub suspect: bool,
    /// Made while the incident was open (a fix, a rollback): shown, never
    /// suspect, so the advisor never proposes undoing a rollback.
    #[serde(default)]
    pub during: bool,
}

/// The first instant an incident's changes are read from.
pub fn recent_since(policy: &Policy, incident: &Incident) -> Timestamp {
    incident
        .detected_at
        .checked_sub(policy.changes.recent_within.as_signed())
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The changes to `incident`'s services from [`recent_since`] to its end,
/// newest first, each marked suspect when it took effect within
/// `[changes] suspect_within` before the incident began
/// (s002.recent-changes, s000.rollback-suspect-deploy).
pub fn recent(
    policy: &Policy,
    incident: &Incident,
    changes: &[Change],
    now: Timestamp,
) -> Vec<RecentChange> {
    let since = recent_since(policy, incident);
    let suspect_from = incident
        .detected_at
        .checked_sub(policy.changes.suspect_within.as_signed())
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let end = incident.resolved_at.unwrap_or(now);
    let mut out: Vec<RecentChange> = changes
        .iter()
        .filter(|c| {
            c.service
                .as_ref()
                .is_some_and(|s| incident.services.iter().any(|x| x == s))
                && c.at >= since
                && c.at <= end
        })
        .map(|c| RecentChange {
            suspect: c.at >= suspect_from && c.at <= incident.detected_at,
            during: c.at > incident.detected_at,
            change: c.clone(),
        })
        .collect();
    out.sort_by(|a, b| {
        b.change
            .at
            .cmp(&a.change.at)
            .then(a.change.id.cmp(&b.change.id))
    });
    out
}

/// A rollback criterion a deploy check-in's value meets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckedCriterion {
    pub criterion: String,
    pub metric: String,
    pub value: f64,
    pub above: f64,
    pub met: bool,
}

/// The criteria with a `metric` that `values` (a check-in's) report on,
/// and whether each is met (the value above its threshold).
pub fn check_in(
    policy: &Policy,
    values: &std::collections::BTreeMap<String, f64>,
) -> Vec<CheckedCriterion> {
    policy
        .rollback
        .criteria
        .iter()
        .filter_map(|c| {
            let (metric, above) = (c.metric.as_ref()?, c.above?);
            let value = *values.get(metric)?;
            Some(CheckedCriterion {
                criterion: c.name.clone(),
                metric: metric.clone(),
                value,
                above,
                met: value > above,
            })
        })
        .collect()
}

/// The alert a met criterion raises when no incident of the service is
/// open: labelled with the criterion, so its incident records it, and
/// firing for `lasts` unless a later check-in below the threshold ends it.
pub fn check_in_alert(
    change: &Change,
    checked: &CheckedCriterion,
    severity: Option<String>,
    now: Timestamp,
    lasts: Duration,
) -> crate::alert::IncomingAlert {
    let mut labels = crate::alert::LabelSet::new();
    labels.insert("alertname".into(), "RollbackCriterionMet".into());
    labels.insert(
        crate::policy::ROLLBACK_CRITERION_LABEL.into(),
        checked.criterion.clone(),
    );
    labels.insert("deploy".into(), change.id.clone());
    if let Some(s) = &change.service {
        labels.insert("service".into(), s.clone());
    }
    let mut annotations = crate::alert::LabelSet::new();
    annotations.insert(
        "summary".into(),
        format!(
            "Rollback criterion {} met after {}",
            checked.criterion, change.id
        ),
    );
    annotations.insert("description".into(), checked.detail());
    crate::alert::IncomingAlert {
        source: crate::alert::AlertSource::Deploy,
        key: format!("deploy:{}:{}", change.id, checked.criterion),
        labels,
        annotations,
        starts_at: now,
        ends_at: Some(if checked.met {
            now + lasts.as_signed()
        } else {
            now
        }),
        generator_url: change.details.url.clone(),
        service: change.service.clone(),
        severity,
    }
}

impl CheckedCriterion {
    /// `error_rate 0.15 > 0.1`.
    pub fn detail(&self) -> String {
        format!(
            "{} {} {} {} (deploy check-in)",
            self.metric,
            self.value,
            if self.met { ">" } else { "<=" },
            self.above
        )
    }
}

/// Roll back, or fix forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Action {
    RollBack,
    FixForward,
    /// No recorded change to suspect: find the cause.
    Investigate,
}

/// One suspect change, with what to do about it and how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RollbackOption {
    pub change: Change,
    pub action: Action,
    pub reason: String,
    /// The service's procedure for this kind of change, if the policy has one.
    pub procedure: Option<RollbackProcedure>,
}

/// What the advisor says about an incident, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Advice {
    pub action: Action,
    pub reason: String,
    /// Every suspect change in the order to undo them: flags first, then
    /// config and applications, then migrations; the newest first within a kind.
    pub options: Vec<RollbackOption>,
    /// The rollback criteria met so far, and by when to decide.
    pub criteria_met: Vec<crate::incident::CriterionMet>,
    pub decide_by: Option<Timestamp>,
    /// What was decided, once someone has.
    pub decision: Option<crate::incident::RollbackRecord>,
}

/// The rollback advice for `incident` given its recent changes
/// (s000.rollback-suspect-deploy, s000.rollback-kinds,
/// s000.rollback-window-24h, s003.rollback-criteria).
pub fn advise(
    policy: &Policy,
    incident: &Incident,
    recent: &[RecentChange],
    now: Timestamp,
) -> Advice {
    let rb = &policy.rollback;
    let mut suspects: Vec<&Change> = recent
        .iter()
        .filter(|r| r.suspect)
        .map(|r| &r.change)
        .collect();
    suspects.sort_by(|a, b| a.kind.cmp(&b.kind).then(b.at.cmp(&a.at)));
    let exempt = rb
        .migration_window_except
        .iter()
        .any(|s| s.eq_ignore_ascii_case(&incident.severity));
    let options: Vec<RollbackOption> = suspects
        .into_iter()
        .map(|c| {
            let procedure = c
                .service
                .as_ref()
                .and_then(|s| policy.services.get(s))
                .and_then(|s| s.rollback.iter().find(|p| p.kind == c.kind))
                .cloned();
            let age = Duration::from_secs(now.duration_since(c.at).as_secs().max(0));
            let (action, reason) = match (c.kind, rb.migration_window) {
                (ChangeKind::Migration, Some(window)) if age > window && !exempt => (
                    Action::FixForward,
                    format!(
                        "migration applied {age} ago, past the {window} rollback window: fix forward{}",
                        if rb.migration_window_except.is_empty() {
                            String::new()
                        } else {
                            format!(
                                " ({} would still roll back)",
                                rb.migration_window_except.join(", ")
                            )
                        }
                    ),
                ),
                (ChangeKind::Migration, Some(window)) if age > window => (
                    Action::RollBack,
                    format!(
                        "migration applied {age} ago, past the {window} window, but a {} demands it",
                        incident.severity
                    ),
                ),
                (kind, _) => (
                    Action::RollBack,
                    format!(
                        "{} to {} {}",
                        describe(kind),
                        c.service.as_deref().unwrap_or("?"),
                        relative(c.at, incident.detected_at)
                    ),
                ),
            };
            RollbackOption {
                change: c.clone(),
                action,
                reason,
                procedure,
            }
        })
        .collect();
    let criteria_met = incident.rollback.criteria_met.clone();
    let decide_by = criteria_met
        .first()
        .zip(rb.decide_within)
        .map(|(c, d)| c.at + d.as_signed());
    let criteria = if criteria_met.is_empty() {
        String::new()
    } else {
        format!(
            "; rollback criteria met: {}",
            criteria_met
                .iter()
                .map(|c| c.criterion.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let (action, reason) = match options.iter().find(|o| o.action == Action::RollBack) {
        Some(o) => (
            Action::RollBack,
            format!(
                "roll back {} ({}): {}{criteria}",
                o.change.id, o.change.summary, o.reason
            ),
        ),
        None => match options.first() {
            Some(o) => (Action::FixForward, format!("{}{criteria}", o.reason)),
            None => (
                if criteria_met.is_empty() {
                    Action::Investigate
                } else {
                    Action::FixForward
                },
                format!(
                    "no change to {} in the {} before it began{criteria}",
                    if incident.services.is_empty() {
                        "its services".to_string()
                    } else {
                        incident.services.join(", ")
                    },
                    policy.changes.suspect_within
                ),
            ),
        },
    };
    Advice {
        action,
        reason,
        options,
        criteria_met,
        decide_by,
        decision: incident.rollback.decision.clone(),
    }
}

fn describe(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::FeatureFlag => "flag flipped (turn it off first; no deploy needed)",
        ChangeKind::Config => "config changed",
        ChangeKind::App => "deployed",
        ChangeKind::Migration => "migration applied",
    }
}

/// "12m before the incident began".
fn relative(at: Timestamp, began: Timestamp) -> String {
    let secs = began.duration_since(at).as_secs().max(0);
    format!("{} before the incident began", Duration::from_secs(secs))
}
