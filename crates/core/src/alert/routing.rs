//! The policy's routing tree, Alertmanager-style: which service and severity
//! an alert is about, which runbook goes with it, and which group it joins.
//!
//! Teams moving from Alertmanager already think in its route trees, so the
//! semantics are the same: the walk is depth-first; a node matches when all
//! its matchers hold; among siblings the first match wins unless it says
//! `continue = true`; a matching node none of whose children match is itself
//! the result. The root matches everything, so there is always a result.
//! Children inherit `receiver`, `group_by`, `service`, `severity` and
//! `runbook` from their parent unless they set them.
//!
//! Without a `[routing]` section every alert takes the default root route:
//! receiver [`DEFAULT_RECEIVER`], grouped by [`DEFAULT_GROUP_BY`], no service,
//! no severity. A `[routing]` root that sets no `group_by` groups by the same
//! default (Alertmanager's root default is "one group for everything", which
//! would fold unrelated alerts into one incident).

use serde::Serialize;

use super::{LabelSet, format_labels};
use crate::Policy;
use crate::policy::{Route, RunbookLink};

/// Receiver name reported when the policy names none.
pub const DEFAULT_RECEIVER: &str = "firebell";

/// Labels the root route groups by when the policy says nothing.
pub const DEFAULT_GROUP_BY: [&str; 1] = ["alertname"];

/// `group_by = ["..."]`: group by every label (Alertmanager's special value).
pub const GROUP_BY_ALL: &str = "...";

/// The path of the root route in [`RouteMatch::path`].
pub const ROOT_PATH: &str = "root";

/// Where an alert goes: the matched route and what it decides.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RouteMatch {
    /// Position in the tree: `root`, `0`, `0.2`, ...
    pub path: String,
    /// Alertmanager receiver name reported for compatibility (default `firebell`).
    pub receiver: String,
    pub service: Option<String>,
    pub severity: Option<String>,
    /// Labels the alert is grouped by (after `group_by`), and the group's key.
    pub group_labels: LabelSet,
    pub group_key: String,
    pub runbook: Option<crate::policy::RunbookLink>,
    /// Escalation policy for incidents these alerts open.
    pub escalation_policy: Option<String>,
}

/// Every route the labels match (more than one only through `continue`);
/// never empty: the root route catches everything.
pub fn route(policy: &Policy, labels: &LabelSet) -> Vec<RouteMatch> {
    let default_root = Route::default();
    let root = policy.routing.as_ref().unwrap_or(&default_root);
    let settings = Settings::default_root().apply(root, policy);
    let mut out = Vec::new();
    // The root's matchers are not consulted: it is the fallback for everything
    // (validation refuses matchers on it).
    visit_children(root, ROOT_PATH, &settings, policy, labels, &mut out);
    if out.is_empty() {
        out.push(settings.finish(ROOT_PATH, labels));
    }
    out
}

/// Children in order; a node with no matching child is itself the match.
fn visit_children(
    node: &Route,
    path: &str,
    settings: &Settings,
    policy: &Policy,
    labels: &LabelSet,
    out: &mut Vec<RouteMatch>,
) {
    for (i, child) in node.routes.iter().enumerate() {
        let child_path = if path == ROOT_PATH {
            i.to_string()
        } else {
            format!("{path}.{i}")
        };
        let matched = visit(child, &child_path, settings, policy, labels, out);
        if matched && !child.continue_matching {
            break;
        }
    }
}

/// Whether `node` matched; its results (or its descendants') go to `out`.
fn visit(
    node: &Route,
    path: &str,
    inherited: &Settings,
    policy: &Policy,
    labels: &LabelSet,
    out: &mut Vec<RouteMatch>,
) -> bool {
    if !node.matchers.iter().all(|m| m.matches(labels)) {
        return false;
    }
    let settings = inherited.apply(node, policy);
    let before = out.len();
    visit_children(node, path, &settings, policy, labels, out);
    if out.len() == before {
        out.push(settings.finish(path, labels));
    }
    true
}

#[derive(Clone, Debug)]
enum GroupBy {
    All,
    Labels(Vec<String>),
}

impl GroupBy {
    fn from_list(list: &[String]) -> GroupBy {
        if list.iter().any(|l| l == GROUP_BY_ALL) {
            GroupBy::All
        } else {
            GroupBy::Labels(list.to_vec())
        }
    }
}

/// What a node decides, after inheritance.
#[derive(Clone, Debug)]
struct Settings {
    receiver: String,
    group_by: GroupBy,
    service: Option<String>,
    severity: Option<String>,
    runbook: Option<RunbookLink>,
    escalation_policy: Option<String>,
}

impl Settings {
    /// The defaults the root starts from.
    fn default_root() -> Settings {
        Settings {
            receiver: DEFAULT_RECEIVER.to_string(),
            group_by: GroupBy::Labels(DEFAULT_GROUP_BY.map(String::from).to_vec()),
            service: None,
            severity: None,
            runbook: None,
            escalation_policy: None,
        }
    }

    /// These settings overridden by what `node` sets.
    fn apply(&self, node: &Route, policy: &Policy) -> Settings {
        let mut s = self.clone();
        if let Some(receiver) = &node.receiver {
            s.receiver.clone_from(receiver);
        }
        if let Some(group_by) = &node.group_by {
            s.group_by = GroupBy::from_list(group_by);
        }
        if let Some(service) = &node.service {
            s.service = Some(service.clone());
        }
        if let Some(severity) = &node.severity {
            // The ladder's spelling: `p1` in a route means the severity `P1`.
            let name = policy
                .severity(severity)
                .map_or(severity.as_str(), |sev| sev.name.as_str());
            s.severity = Some(name.to_string());
        }
        if let Some(runbook) = &node.runbook {
            s.runbook = Some(runbook.clone());
        }
        if let Some(ep) = &node.escalation_policy {
            s.escalation_policy = Some(ep.clone());
        }
        s
    }

    fn finish(&self, path: &str, labels: &LabelSet) -> RouteMatch {
        let group_labels: LabelSet = match &self.group_by {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => names
                .iter()
                .filter_map(|n| labels.get_key_value(n))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        RouteMatch {
            path: path.to_string(),
            receiver: self.receiver.clone(),
            service: self.service.clone(),
            severity: self.severity.clone(),
            group_key: format!("{path}:{}", format_labels(&group_labels)),
            group_labels,
            runbook: self.runbook.clone(),
            escalation_policy: self.escalation_policy.clone(),
        }
    }
}
