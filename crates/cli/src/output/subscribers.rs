//! Tables of status page subscribers and their messages.

use firebell_server::status_page::subscribers::{SubscriberMessageView, SubscriberView};

use super::table;

pub fn subscribers(items: &[SubscriberView]) {
    if items.is_empty() {
        println!("no subscribers");
        return;
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|s| {
            vec![
                s.id.clone(),
                s.channel.as_str().to_string(),
                s.address.clone(),
                s.state.as_str().to_string(),
                if s.components.is_empty() {
                    "(whole page)".to_string()
                } else {
                    s.components.join(",")
                },
                s.locale.clone(),
                super::when_text(&s.created_at),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "CHANNEL",
            "ADDRESS",
            "STATE",
            "COMPONENTS",
            "LOCALE",
            "SIGNED UP",
        ],
        &rows,
    );
}

pub fn messages(items: &[SubscriberMessageView]) {
    if items.is_empty() {
        println!("nothing sent");
        return;
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|m| {
            vec![
                super::when_text(&m.created_at),
                m.post_key.clone(),
                m.state.clone(),
                m.attempts.to_string(),
                m.subject.clone(),
                m.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &["QUEUED", "ABOUT", "STATE", "ATTEMPTS", "SUBJECT", "ERROR"],
        &rows,
    );
}
