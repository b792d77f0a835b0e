//! `firebell set-aside list`.

use firebell_server::wire::SetAsideList;

use super::{table, when};

pub fn list(l: &SetAsideList) {
    let queues: Vec<Vec<String>> = l
        .queues
        .iter()
        .map(|q| {
            vec![
                q.queue.to_string(),
                if q.stalled { "STALLED" } else { "ok" }.to_string(),
                format!("{:.0}s", q.late_seconds),
                q.set_aside.to_string(),
            ]
        })
        .collect();
    table(&["QUEUE", "STATE", "OLDEST LATE BY", "SET ASIDE"], &queues);
    if l.items.is_empty() {
        println!("\nnothing set aside");
        return;
    }
    println!();
    let rows: Vec<Vec<String>> = l
        .items
        .iter()
        .map(|e| {
            let error: String = e.error.replace('\n', " ").chars().take(80).collect();
            vec![
                e.id.to_string(),
                e.queue.to_string(),
                e.item.clone(),
                e.tries.to_string(),
                when(e.set_aside_at),
                error,
            ]
        })
        .collect();
    table(
        &["ID", "QUEUE", "ITEM", "TRIES", "SET ASIDE AT", "LAST ERROR"],
        &rows,
    );
}
