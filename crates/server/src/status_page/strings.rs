//! The page's own words, in English and Arabic. Incident updates are shown
//! as they were posted (their template chose the language); these are the
//! headings and states around them. Other locales read the English.

use firebell_core::Status;
use firebell_core::status_page::{ComponentStatus, Indicator};
use serde::Serialize;

use super::model::MaintenanceState;

#[derive(Serialize)]
pub struct Strings {
    pub lang: &'static str,
    pub dir: &'static str,
    pub language_name: &'static str,
    pub active_incidents: &'static str,
    pub maintenance: &'static str,
    pub components: &'static str,
    pub past_incidents: &'static str,
    pub no_incidents: &'static str,
    pub uptime: &'static str,
    pub days_30: &'static str,
    pub days_90: &'static str,
    pub target: &'static str,
    pub below_target: &'static str,
    pub ninety_days_ago: &'static str,
    pub today: &'static str,
    pub updated: &'static str,
    pub subscribe_feed: &'static str,
    pub scheduled_for: &'static str,
    pub emergency_in_progress: &'static str,
    pub maintenance_started: &'static str,
    pub maintenance_scheduled: &'static str,
    pub maintenance_completed: &'static str,
    pub affects: &'static str,
}

const EN: Strings = Strings {
    lang: "en",
    dir: "ltr",
    language_name: "English",
    active_incidents: "Active incidents",
    maintenance: "Maintenance",
    components: "Components",
    past_incidents: "Past incidents",
    no_incidents: "No incidents reported.",
    uptime: "Uptime",
    days_30: "30 days",
    days_90: "90 days",
    target: "target",
    below_target: "below target",
    ninety_days_ago: "90 days ago",
    today: "Today",
    updated: "Updated",
    subscribe_feed: "Atom feed",
    scheduled_for: "Scheduled for",
    emergency_in_progress: "Emergency maintenance in progress",
    maintenance_started: "Maintenance in progress",
    maintenance_scheduled: "Scheduled maintenance",
    maintenance_completed: "Maintenance completed",
    affects: "Affects",
};

const AR: Strings = Strings {
    lang: "ar",
    dir: "rtl",
    language_name: "العربية",
    active_incidents: "الحوادث الجارية",
    maintenance: "الصيانة",
    components: "المكونات",
    past_incidents: "الحوادث السابقة",
    no_incidents: "لا توجد حوادث.",
    uptime: "نسبة التشغيل",
    days_30: "٣٠ يومًا",
    days_90: "٩٠ يومًا",
    target: "الهدف",
    below_target: "دون الهدف",
    ninety_days_ago: "قبل ٩٠ يومًا",
    today: "اليوم",
    updated: "آخر تحديث",
    subscribe_feed: "موجز Atom",
    scheduled_for: "موعدها",
    emergency_in_progress: "صيانة طارئة جارية",
    maintenance_started: "صيانة جارية",
    maintenance_scheduled: "صيانة مجدولة",
    maintenance_completed: "اكتملت الصيانة",
    affects: "تؤثر على",
};

/// The strings for `locale` by its language subtag; English otherwise.
pub fn of(locale: &str) -> &'static Strings {
    match locale.split(['-', '_']).next().unwrap_or("") {
        l if l.eq_ignore_ascii_case("ar") => &AR,
        _ => &EN,
    }
}

impl Strings {
    pub fn indicator(&self, indicator: Indicator) -> &'static str {
        let ar = self.lang == "ar";
        match (indicator, ar) {
            (Indicator::None, false) => "All Systems Operational",
            (Indicator::None, true) => "جميع الأنظمة تعمل",
            (Indicator::Maintenance, false) => "Service Under Maintenance",
            (Indicator::Maintenance, true) => "الخدمة تحت الصيانة",
            (Indicator::Minor, false) => "Partially Degraded Service",
            (Indicator::Minor, true) => "أداء متراجع جزئيًا",
            (Indicator::Major, false) => "Partial System Outage",
            (Indicator::Major, true) => "انقطاع جزئي",
            (Indicator::Critical, false) => "Major System Outage",
            (Indicator::Critical, true) => "انقطاع كبير",
        }
    }

    pub fn component(&self, status: ComponentStatus) -> &'static str {
        let ar = self.lang == "ar";
        match (status, ar) {
            (ComponentStatus::Operational, false) => "Operational",
            (ComponentStatus::Operational, true) => "يعمل",
            (ComponentStatus::UnderMaintenance, false) => "Under maintenance",
            (ComponentStatus::UnderMaintenance, true) => "تحت الصيانة",
            (ComponentStatus::DegradedPerformance, false) => "Degraded performance",
            (ComponentStatus::DegradedPerformance, true) => "أداء متراجع",
            (ComponentStatus::PartialOutage, false) => "Partial outage",
            (ComponentStatus::PartialOutage, true) => "انقطاع جزئي",
            (ComponentStatus::MajorOutage, false) => "Major outage",
            (ComponentStatus::MajorOutage, true) => "انقطاع كبير",
        }
    }

    pub fn incident_status(&self, status: Status) -> &'static str {
        let ar = self.lang == "ar";
        match (status, ar) {
            (Status::Investigating, false) => "Investigating",
            (Status::Investigating, true) => "قيد التحقيق",
            (Status::Identified, false) => "Identified",
            (Status::Identified, true) => "تم تحديد السبب",
            (Status::Mitigated | Status::Monitoring, false) => "Monitoring",
            (Status::Mitigated | Status::Monitoring, true) => "قيد المراقبة",
            (Status::Resolved, false) => "Resolved",
            (Status::Resolved, true) => "تم الحل",
        }
    }

    /// The heading a maintenance window shows in its state.
    pub fn maintenance_state(&self, state: MaintenanceState, emergency: bool) -> &'static str {
        match state {
            MaintenanceState::InProgress if emergency => self.emergency_in_progress,
            MaintenanceState::InProgress => self.maintenance_started,
            MaintenanceState::Scheduled => self.maintenance_scheduled,
            MaintenanceState::Completed => self.maintenance_completed,
        }
    }
}
