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
///
/// Every report is routed (on the request, and again as it is merged), so
/// the walk borrows what the tree says and formats only the result.
pub fn route(policy: &Policy, labels: &LabelSet) -> Vec<RouteMatch> {
    let default_root = Route::default();
    let root = policy.routing.as_ref().unwrap_or(&default_root);
    let settings = Settings::default_root().apply(root, policy);
    let mut out = Vec::new();
    let mut path = Vec::new();
    // The root's matchers are not consulted: it is the fallback for everything
    // (validation refuses matchers on it).
    visit_children(root, &mut path, &settings, policy, labels, &mut out);
    if out.is_empty() {
        out.push(settings.finish(&path, labels));
    }
    out
}

/// Children in order; a node with no matching child is itself the match.
/// `path` holds the indexes from the root to `node`.
fn visit_children(
    node: &Route,
    path: &mut Vec<usize>,
    settings: &Settings<'_>,
    policy: &Policy,
    labels: &LabelSet,
    out: &mut Vec<RouteMatch>,
) {
    for (i, child) in node.routes.iter().enumerate() {
        path.push(i);
        let matched = visit(child, path, settings, policy, labels, out);
        path.pop();
        if matched && !child.continue_matching {
            break;
        }
    }
}

/// Whether `node` matched; its results (or its descendants') go to `out`.
fn visit(
    node: &Route,
    path: &mut Vec<usize>,
    inherited: &Settings<'_>,
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

#[derive(Clone, Copy, Debug)]
enum GroupBy<'a> {
    All,
    Labels(&'a [String]),
    Default,
}

impl<'a> GroupBy<'a> {
    fn from_list(list: &'a [String]) -> GroupBy<'a> {
        if list.iter().any(|l| l == GROUP_BY_ALL) {
            GroupBy::All
        } else {
            GroupBy::Labels(list)
        }
    }
}

/// What a node decides, after inheritance: borrowed from the tree.
#[derive(Clone, Copy, Debug)]
struct Settings<'a> {
    receiver: &'a str,
    group_by: GroupBy<'a>,
    service: Option<&'a str>,
    severity: Option<&'a str>,
    runbook: Option<&'a RunbookLink>,
    escalation_policy: Option<&'a str>,
}

impl<'a> Settings<'a> {
    /// The defaults the root starts from.
    fn default_root() -> Settings<'a> {
        Settings {
            receiver: DEFAULT_RECEIVER,
            group_by: GroupBy::Default,
            service: None,
            severity: None,
            runbook: None,
            escalation_policy: None,
        }
    }

    /// These settings overridden by what `node` sets.
    fn apply(&self, node: &'a Route, policy: &'a Policy) -> Settings<'a> {
        let mut s = *self;
        if let Some(receiver) = &node.receiver {
            s.receiver = receiver;
        }
        if let Some(group_by) = &node.group_by {
            s.group_by = GroupBy::from_list(group_by);
        }
        if let Some(service) = &node.service {
            s.service = Some(service);
        }
        if let Some(severity) = &node.severity {
            // The ladder's spelling: `p1` in a route means the severity `P1`.
            s.severity = Some(
                policy
                    .severity(severity)
                    .map_or(severity.as_str(), |sev| sev.name.as_str()),
            );
        }
        if let Some(runbook) = &node.runbook {
            s.runbook = Some(runbook);
        }
        if let Some(ep) = &node.escalation_policy {
            s.escalation_policy = Some(ep);
        }
        s
    }

    fn finish(&self, path: &[usize], labels: &LabelSet) -> RouteMatch {
        let pick = |names: &mut dyn Iterator<Item = &str>| -> LabelSet {
            names
                .filter_map(|n| labels.get_key_value(n))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let group_labels: LabelSet = match self.group_by {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => pick(&mut names.iter().map(String::as_str)),
            GroupBy::Default => pick(&mut DEFAULT_GROUP_BY.into_iter()),
        };
        let path = match path {
            [] => ROOT_PATH.to_string(),
            _ => path
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join("."),
        };
        RouteMatch {
            group_key: format!("{path}:{}", format_labels(&group_labels)),
            path,
            receiver: self.receiver.to_string(),
            service: self.service.map(str::to_string),
            severity: self.severity.map(str::to_string),
            group_labels,
            runbook: self.runbook.cloned(),
            escalation_policy: self.escalation_policy.map(str::to_string),
        }
    }
}
