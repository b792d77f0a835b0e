//! One example per command, shown at the end of its `--help`. A unit test
//! checks that every command has one and that each example parses, so the
//! help never shows a command that would be refused.

/// (command path, example). `$ID` is an incident id.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "serve",
        "firebell serve --policy policy.toml --database-url sqlite:/var/lib/firebell/firebell.db",
    ),
    ("policy check", "firebell policy check --strict policy.toml"),
    (
        "token create",
        "firebell token create --name ci --role responder",
    ),
    ("token list", "firebell token list"),
    ("token revoke", "firebell token revoke 3"),
    ("password set", "firebell password set alice"),
    ("password remove", "firebell password remove alice"),
    (
        "declare",
        "ID=$(firebell declare --title \"Checkout failing\" --severity P1 --service api --commander alice -q)",
    ),
    (
        "list",
        "firebell list --status open --severity P0,P1 --since 7d",
    ),
    ("show", "firebell show $ID"),
    ("ack", "firebell ack $ID"),
    ("role", "firebell role $ID comms_lead sara"),
    (
        "update",
        "firebell update $ID --status identified --public --template update --var eta=30m",
    ),
    (
        "severity",
        "firebell severity $ID P0 --reason \"all regions affected\"",
    ),
    (
        "note",
        "firebell note $ID \"restarted the primary; replica lag 40 s\"",
    ),
    ("tick", "firebell tick $ID preserve"),
    (
        "handoff",
        "firebell handoff $ID --to omar --summary \"canary rolled back\" --next-steps \"watch errors 15 min\"",
    ),
    (
        "resolve",
        "firebell resolve $ID --summary \"rolled back v1.4\"",
    ),
    ("reopen", "firebell reopen $ID --reason \"errors are back\""),
    (
        "component",
        "firebell component $ID api.webhooks operational --reason \"webhooks unaffected\"",
    ),
    ("tag", "firebell tag $ID --add personal-data-breach"),
    (
        "obligation",
        "firebell obligation $ID regulator-72h --evidence \"regulator ref 118\"",
    ),
    ("postmortem show", "firebell postmortem show $ID"),
    ("postmortem edit", "firebell postmortem edit $ID"),
    (
        "postmortem state",
        "firebell postmortem state $ID in-review",
    ),
    (
        "postmortem review",
        "firebell postmortem review $ID --at 2d --place \"weekly review\"",
    ),
    ("postmortem export", "firebell postmortem export $ID"),
    ("postmortem list", "firebell postmortem list --overdue"),
    ("drill start", "firebell drill start --scenario llm-outage"),
    ("actions", "firebell actions --overdue"),
    (
        "actions add",
        "firebell actions add $ID --title \"Add a canary stage\" --owner omar --due 7d",
    ),
    (
        "actions update",
        "firebell actions update $ID 1 --status complete",
    ),
    ("duties", "firebell duties"),
    (
        "duty done",
        "firebell duty done restore-test --notes \"restored in 14 min\"",
    ),
    ("duty runs", "firebell duty runs restore-test"),
    (
        "deploy record",
        "firebell deploy record --service api --version v42 --previous-version v41",
    ),
    (
        "deploy check",
        "firebell deploy check 12 --value error_rate=0.12",
    ),
    ("changes", "firebell changes --service api"),
    ("freeze check", "firebell freeze check --service api"),
    (
        "freeze start",
        "firebell freeze start --environment production --reason \"release soak\" --for 2h",
    ),
    ("freeze lift", "firebell freeze lift 3"),
    ("freeze list", "firebell freeze list"),
    (
        "freeze override",
        "firebell freeze override --reason \"hotfix for the outage\" --for 1h",
    ),
    ("rollback", "firebell rollback $ID rolled-back --resolve"),
    ("runbook", "firebell runbook $ID api-outage"),
    ("report", "firebell report --since 90d --csv"),
    ("alerts", "firebell alerts --filter 'service=\"api\"'"),
    (
        "silence add",
        "firebell silence add 'alertname=\"DiskFull\"' --comment \"resizing the volume\" --duration 2h",
    ),
    ("silence list", "firebell silence list"),
    ("silence expire", "firebell silence expire 5d2c…"),
    (
        "maintenance start",
        "firebell maintenance start --service api --title \"Database upgrade\" --duration 1h",
    ),
    (
        "maintenance schedule",
        "firebell maintenance schedule --service api --title \"Database upgrade\" --starts-at 2026-12-12T02:00:00Z --ends-at 2026-12-12T04:00:00Z",
    ),
    ("maintenance list", "firebell maintenance list"),
    ("maintenance end", "firebell maintenance end mw-1"),
    (
        "maintenance review",
        "firebell maintenance review mw-1 --summary \"done in 40 min, no errors\"",
    ),
    (
        "subscribers list",
        "firebell subscribers list --state confirmed",
    ),
    ("subscribers messages", "firebell subscribers messages 7"),
    ("subscribers remove", "firebell subscribers remove 7"),
    ("checks", "firebell checks"),
    ("heartbeat", "firebell heartbeat api-db-backup"),
    (
        "route test",
        "firebell route test --labels 'alertname=APIDown,service=api,severity=critical'",
    ),
    ("oncall", "firebell oncall --schedule primary"),
    (
        "override add",
        "firebell override add --schedule primary --person omar --covering sara --from now --for 15h",
    ),
    ("override list", "firebell override list --all"),
    ("override remove", "firebell override remove 4"),
    (
        "simulate",
        "firebell simulate --policy policy.toml --severity P0 --for 3h --ack-after 20m",
    ),
    ("notifications", "firebell notifications --incident $ID"),
    ("escalation", "firebell escalation"),
    ("agenda", "firebell agenda $ID"),
    ("set-aside list", "firebell set-aside list"),
    ("set-aside retry", "firebell set-aside retry 17"),
    ("set-aside discard", "firebell set-aside discard 17"),
    (
        "health",
        "firebell health --url http://127.0.0.1:8080 --ready",
    ),
    (
        "completions",
        "firebell completions bash > /etc/bash_completion.d/firebell",
    ),
    ("man", "firebell man > /usr/local/share/man/man1/firebell.1"),
    (
        "bench ingest",
        "firebell bench ingest --url http://127.0.0.1:8080 --per-request 100 --requests 2000",
    ),
    (
        "bench storm",
        "firebell bench storm --url http://127.0.0.1:8080 --alerts 100000",
    ),
    ("bench paging", "firebell bench paging"),
    ("bench timers", "firebell bench timers"),
    (
        "bench flood",
        "firebell bench flood --url http://127.0.0.1:8080",
    ),
    (
        "bench incident-list",
        "firebell bench incident-list --incidents 100000",
    ),
    (
        "bench resend",
        "firebell bench resend --url http://127.0.0.1:8080",
    ),
    (
        "bench subscribers",
        "firebell bench subscribers --subscribers 1000",
    ),
];

/// `cmd` with each command's example after its help, recursively.
pub fn with_examples(cmd: clap::Command) -> clap::Command {
    attach(cmd, "")
}

fn attach(mut cmd: clap::Command, path: &str) -> clap::Command {
    if let Some((_, example)) = EXAMPLES.iter().find(|(p, _)| *p == path) {
        cmd = cmd.after_help(format!("Example:\n  {example}"));
    }
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        let sub_path = if path.is_empty() {
            name.clone()
        } else {
            format!("{path} {name}")
        };
        cmd = cmd.mut_subcommand(&name, |s| attach(s, &sub_path));
    }
    cmd
}
