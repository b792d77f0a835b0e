//! Who a paging severity can reach, read off the policy alone: a warning
//! for every person its escalation would page who has no contact it can use.
//! Found at `policy check`, not at 3 a.m. when a P0 pages into the void.

use super::{ContactKind, Paging, Policy};

/// One warning per severity that pages nobody reachable, or per person it
/// would page who cannot be reached on its channels.
pub fn unreachable_warnings(policy: &Policy) -> Vec<String> {
    let mut out = Vec::new();
    for severity in &policy.severities {
        if severity.paging == Paging::Never {
            continue;
        }
        let name = &severity.name;
        let Some(ep_name) = severity
            .escalation_policy
            .as_deref()
            .or(policy.organization.escalation_policy.as_deref())
        else {
            out.push(format!(
                "{name} pages, but no escalation policy applies to it: nobody is paged \
                 (set [organization] escalation_policy or the severity's escalation_policy)"
            ));
            continue;
        };
        let Some(ep) = policy.escalation_policy(ep_name) else {
            continue; // An unknown name is a validation error already.
        };
        let mut people: Vec<String> = Vec::new();
        for target in ep.steps.iter().flat_map(|s| &s.targets) {
            for person in static_people(policy, target) {
                if !people.contains(&person) {
                    people.push(person);
                }
            }
        }
        for person in &people {
            let Some(p) = policy.people.get(person) else {
                continue;
            };
            let reachable = p.contacts.iter().any(|c| {
                c.kind.parse::<ContactKind>().is_ok_and(|kind| {
                    policy.notifiers.contains_key(kind.as_str()) && severity.allows(kind)
                })
            });
            if !reachable {
                let has: Vec<&str> = p.contacts.iter().map(|c| c.kind.as_str()).collect();
                out.push(format!(
                    "{name} pages {person} (escalation policy {}), who has no contact for its \
                     channels [{}] with a notifier configured (contacts: {}; notifiers: {})",
                    ep.name,
                    severity.channels.join(", "),
                    if has.is_empty() {
                        "none".into()
                    } else {
                        has.join(", ")
                    },
                    if policy.notifiers.is_empty() {
                        "none".to_string()
                    } else {
                        policy
                            .notifiers
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ));
            }
        }
    }
    out
}

/// The people a target can page, as far as the policy alone says: a
/// schedule's participants, a team's members. Roles are filled at run time.
fn static_people(policy: &Policy, target: &str) -> Vec<String> {
    let schedule_people = |name: &str| -> Vec<String> {
        policy
            .schedule(name)
            .map(|s| {
                s.layers
                    .iter()
                    .flat_map(|l| l.participants.iter().cloned())
                    .collect()
            })
            .unwrap_or_default()
    };
    match target.split_once(':') {
        Some(("person", name)) => vec![name.to_string()],
        Some(("schedule", name)) => schedule_people(name),
        Some(("team", name)) => match policy.teams.get(name) {
            Some(team) => match &team.schedule {
                Some(schedule) => schedule_people(schedule),
                None => team.members.clone(),
            },
            None => Vec::new(),
        },
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_reaches_everyone_it_pages() {
        assert_eq!(unreachable_warnings(&Policy::demo()), Vec::<String>::new());
    }

    #[test]
    fn a_severity_that_pages_people_it_cannot_reach_is_named() {
        let mut policy = Policy::demo();
        policy.notifiers.clear();
        let warnings = unreachable_warnings(&policy);
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("P0 pages alice") && w.contains("notifiers: none")),
            "{warnings:#?}"
        );
        // P3 never pages, so it owes nobody a contact.
        assert!(
            !warnings.iter().any(|w| w.starts_with("P3")),
            "{warnings:#?}"
        );
        policy.organization.escalation_policy = None;
        let warnings = unreachable_warnings(&policy);
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("P1 pages, but no escalation policy")),
            "{warnings:#?}"
        );
    }
}
