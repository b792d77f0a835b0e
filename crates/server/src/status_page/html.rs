//! The page and its feed, rendered with minijinja from templates compiled
//! into the binary. Everything is formatted here (dates in the calendar's
//! zone, digits as the policy asks) so the templates only place text.

use firebell_core::Timestamp;
use firebell_core::policy::Digits;
use firebell_core::status_page::{ComponentStatus, localize_digits};
use minijinja::value::Serde;
use minijinja::{Environment, Value};
use serde::Serialize;

use super::model::{MaintenanceState, Model, PublicIncident};
use super::statuspage::maintenance_posts;
use super::strings::{self, Strings};

/// Entries in the feed, newest first, at most.
const MAX_FEED_ENTRIES: usize = 100;

pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // `.html` and `.xml` names are escaped as HTML (a superset of what XML
    // text and attributes need).
    env.add_template("page.html", include_str!("assets/page.html"))
        .expect("the status page template compiles");
    env.add_template("feed.xml", include_str!("assets/feed.xml"))
        .expect("the feed template compiles");
    env.add_template("message.html", include_str!("assets/message.html"))
        .expect("the message template compiles");
    env
}

/// How a page is written for one locale.
struct Locale<'a> {
    words: &'static Strings,
    digits: Digits,
    tz: &'a jiff::tz::TimeZone,
}

impl Locale<'_> {
    fn num(&self, text: String) -> String {
        localize_digits(&text, self.digits)
    }

    fn when(&self, at: Timestamp) -> String {
        self.num(
            at.to_zoned(self.tz.clone())
                .strftime("%Y-%m-%d %H:%M %Z")
                .to_string(),
        )
    }

    fn percent(&self, p: f64) -> String {
        // Two decimals, never rounded up to a perfect 100.00 that hides a
        // short outage.
        let floored = (p * 100.0).floor() / 100.0;
        self.num(format!("{floored:.2}%"))
    }
}

fn status_class(status: ComponentStatus) -> &'static str {
    status.as_str()
}

#[derive(Serialize)]
struct UpdateView {
    status: &'static str,
    text: String,
    at: String,
    lang: Option<String>,
    dir: &'static str,
}

#[derive(Serialize)]
struct IncidentView {
    id: String,
    name: String,
    impact: &'static str,
    status: &'static str,
    affects: String,
    when: String,
    updates: Vec<UpdateView>,
}

#[derive(Serialize)]
struct MaintenanceView {
    id: String,
    heading: &'static str,
    title: String,
    emergency: bool,
    state: &'static str,
    when: String,
    affects: String,
}

#[derive(Serialize)]
struct DayView {
    class: &'static str,
    label: String,
}

#[derive(Serialize)]
struct ComponentRow {
    name: String,
    status: &'static str,
    class: &'static str,
}

#[derive(Serialize)]
struct GroupView {
    name: String,
    components: Vec<ComponentRow>,
    last_30: String,
    last_90: String,
    target: Option<String>,
    below_target: bool,
    days: Vec<DayView>,
}

#[derive(Serialize)]
struct PageView<'a> {
    lang: &'a str,
    dir: &'static str,
    t: &'static Strings,
    title: &'a str,
    indicator: &'static str,
    indicator_text: &'static str,
    locales: Vec<LocaleLink>,
    active: Vec<IncidentView>,
    maintenance: Vec<MaintenanceView>,
    groups: Vec<GroupView>,
    past: Vec<IncidentView>,
    updated: String,
    subscribe: Option<SubscribeView>,
}

/// The sign-up form: which channels, and the components to choose from.
#[derive(Serialize)]
struct SubscribeView {
    email: bool,
    webhooks: bool,
    components: Vec<ComponentChoice>,
}

#[derive(Serialize)]
struct ComponentChoice {
    id: String,
    name: String,
}

#[derive(Serialize)]
struct FeedView<'a> {
    lang: &'a str,
    title: &'a str,
    url: &'a str,
    updated: String,
    entries: Vec<Entry>,
}

#[derive(Serialize)]
struct LocaleLink {
    code: String,
    name: &'static str,
    current: bool,
}

/// The page in `locale`; `locales` are offered as links.
pub fn page(
    env: &Environment<'static>,
    model: &Model,
    locale: &str,
    locales: &[&str],
    digits: Digits,
) -> Result<String, minijinja::Error> {
    let tz = jiff::tz::TimeZone::get(&model.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let loc = Locale {
        words: strings::of(locale),
        digits,
        tz: &tz,
    };
    let names = |ids: &[String]| -> String {
        model
            .groups
            .iter()
            .flat_map(|g| &g.components)
            .filter(|c| ids.contains(&c.id))
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let incident = |i: &PublicIncident| IncidentView {
        id: i.id.clone(),
        name: i.name.clone(),
        impact: firebell_core::status_page::impact_name(i.impact),
        status: loc.words.incident_status(i.status),
        affects: names(&i.components),
        when: loc.when(i.resolved_at.unwrap_or(i.created_at)),
        updates: i
            .updates
            .iter()
            .rev()
            .map(|u| UpdateView {
                status: loc.words.incident_status(u.status),
                text: u.text.clone(),
                at: loc.when(u.at),
                lang: u.locale.clone(),
                dir: match u.direction {
                    firebell_core::incident::Direction::Rtl => "rtl",
                    firebell_core::incident::Direction::Ltr => "ltr",
                },
            })
            .collect(),
    };
    let active: Vec<IncidentView> = model
        .incidents
        .iter()
        .filter(|i| i.status.is_open())
        .map(incident)
        .collect();
    let past: Vec<IncidentView> = model
        .incidents
        .iter()
        .filter(|i| !i.status.is_open())
        .map(incident)
        .collect();
    let maintenance: Vec<MaintenanceView> = model
        .maintenances
        .iter()
        .filter(|m| m.state != MaintenanceState::Completed)
        .map(|m| {
            let w = &m.window;
            let until = w.ends_at.map(|e| loc.when(e));
            MaintenanceView {
                id: w.id.clone(),
                heading: loc.words.maintenance_state(m.state, m.is_emergency()),
                title: w.title.clone(),
                emergency: m.is_emergency(),
                state: m.state.as_str(),
                when: match until {
                    Some(until) => format!("{} – {until}", loc.when(w.starts_at)),
                    None => loc.when(w.starts_at),
                },
                affects: names(&m.components),
            }
        })
        .collect();
    let groups: Vec<GroupView> = model
        .groups
        .iter()
        .map(|g| GroupView {
            name: g.name.clone(),
            components: g
                .components
                .iter()
                .map(|c| ComponentRow {
                    name: c.name.clone(),
                    status: loc.words.component(c.status),
                    class: status_class(c.status),
                })
                .collect(),
            last_30: loc.percent(g.uptime.last_30_days),
            last_90: loc.percent(g.uptime.last_90_days),
            target: g.uptime.target.map(|t| loc.num(format!("{t}%"))),
            below_target: g.uptime.below_target,
            days: g
                .uptime
                .days
                .iter()
                .map(|d| DayView {
                    class: status_class(d.worst),
                    label: loc.num(format!("{}: {}", d.date, loc.percent(d.uptime))),
                })
                .collect(),
        })
        .collect();
    let locale_links: Vec<LocaleLink> = locales
        .iter()
        .map(|l| LocaleLink {
            code: l.to_string(),
            name: strings::of(l).language_name,
            current: *l == locale,
        })
        .collect();
    env.get_template("page.html")?
        .render(Value::from(Serde(&PageView {
            lang: locale,
            dir: loc.words.dir,
            t: loc.words,
            title: &model.title,
            indicator: model.indicator.as_str(),
            indicator_text: loc.words.indicator(model.indicator),
            locales: locale_links,
            active,
            maintenance,
            groups,
            past,
            updated: loc.when(model.updated_at),
            subscribe: (model.subscribe_email || model.subscribe_webhooks).then(|| SubscribeView {
                email: model.subscribe_email,
                webhooks: model.subscribe_webhooks,
                components: model
                    .groups
                    .iter()
                    .flat_map(|g| {
                        g.components.iter().map(move |c| ComponentChoice {
                            id: c.id.clone(),
                            name: if g.components.len() > 1 || g.name != c.name {
                                format!("{} · {}", g.name, c.name)
                            } else {
                                c.name.clone()
                            },
                        })
                    })
                    .collect(),
            }),
        })))
}

#[derive(Serialize)]
struct Entry {
    id: String,
    title: String,
    updated: String,
    link: String,
    text: String,
    lang: Option<String>,
}

/// The Atom feed: every public update and maintenance post on the page.
pub fn feed(
    env: &Environment<'static>,
    model: &Model,
    locale: &str,
) -> Result<String, minijinja::Error> {
    let words = strings::of(locale);
    let mut entries: Vec<(Timestamp, Entry)> = Vec::new();
    for i in &model.incidents {
        for u in &i.updates {
            entries.push((
                u.at,
                Entry {
                    id: format!("{}#{}-{}", model.url, i.id, u.seq),
                    title: format!("{} — {}", i.name, words.incident_status(u.status)),
                    updated: u.at.to_string(),
                    link: format!("{}#{}", model.url, i.id),
                    text: u.text.clone(),
                    lang: u.locale.clone(),
                },
            ));
        }
    }
    for m in &model.maintenances {
        for post in maintenance_posts(m, locale, model.post_every, model.now) {
            entries.push((
                post.at,
                Entry {
                    id: format!(
                        "{}#{}-{}-{}",
                        model.url,
                        m.window.id,
                        post.at.as_second(),
                        post.status
                    ),
                    title: post.body.clone(),
                    updated: post.at.to_string(),
                    link: format!("{}#{}", model.url, m.window.id),
                    text: post.body,
                    lang: Some(locale.to_string()),
                },
            ));
        }
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.0));
    entries.truncate(MAX_FEED_ENTRIES);
    let updated = entries.first().map_or(model.updated_at, |e| e.0);
    env.get_template("feed.xml")?
        .render(Value::from(Serde(&FeedView {
            lang: locale,
            title: if model.title.is_empty() {
                "Status"
            } else {
                model.title.as_str()
            },
            url: &model.url,
            updated: updated.to_string(),
            entries: entries.into_iter().map(|(_, e)| e).collect(),
        })))
}
