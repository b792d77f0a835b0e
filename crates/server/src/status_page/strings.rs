//! The page's own words, in English and Arabic. Incident updates are shown
//! as they were posted (their template chose the language); these are the
//! headings and states around them. Other locales read the English.

use firebell_core::Status;
use firebell_core::status_page::{ComponentStatus, Indicator, SubscriberChannel};
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
    pub subscribe: &'static str,
    pub subscribe_intro: &'static str,
    pub email_label: &'static str,
    pub webhook_label: &'static str,
    pub components_choice: &'static str,
    pub subscribe_button: &'static str,
    pub check_inbox: &'static str,
    pub check_endpoint: &'static str,
    pub confirm_title: &'static str,
    pub confirm_button: &'static str,
    pub confirmed: &'static str,
    pub unsubscribe_title: &'static str,
    pub unsubscribe_button: &'static str,
    pub unsubscribed: &'static str,
    pub link_invalid: &'static str,
    pub back_to_page: &'static str,
    pub confirm_subject: &'static str,
    pub confirm_body: &'static str,
    pub reminder: &'static str,
    pub why_you_get_this: &'static str,
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
    subscribe: "Get updates",
    subscribe_intro: "Be told when an incident or maintenance affects you. We send a confirmation first; every message has a one-click unsubscribe link.",
    email_label: "Email address",
    webhook_label: "Or a webhook URL (signed JSON)",
    components_choice: "Only these components (none ticked: everything)",
    subscribe_button: "Subscribe",
    check_inbox: "Almost done: we sent a confirmation link to that address. Follow it to start receiving updates.",
    check_endpoint: "Almost done: we sent a signed confirmation request to that URL. POST to its confirm_url to start receiving updates.",
    confirm_title: "Confirm your subscription",
    confirm_button: "Confirm",
    confirmed: "You are subscribed. Every message carries a link to unsubscribe.",
    unsubscribe_title: "Unsubscribe",
    unsubscribe_button: "Unsubscribe",
    unsubscribed: "You are unsubscribed and will receive nothing more.",
    link_invalid: "This link is not valid, or it has lapsed. Subscribe again from the status page.",
    back_to_page: "Back to the status page",
    confirm_subject: "Confirm your subscription",
    confirm_body: "Someone (hopefully you) asked to receive status updates at this address. To confirm, open:",
    reminder: "Reminder: scheduled maintenance starts",
    why_you_get_this: "You receive this because you subscribed to status updates.",
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
    subscribe: "تلقَّ التحديثات",
    subscribe_intro: "نخبرك عندما تؤثر حادثة أو صيانة عليك. نرسل أولًا رسالة تأكيد، وفي كل رسالة رابط لإلغاء الاشتراك بنقرة واحدة.",
    email_label: "البريد الإلكتروني",
    webhook_label: "أو عنوان Webhook (JSON موقَّع)",
    components_choice: "هذه المكونات فقط (إن لم تختر شيئًا: كل شيء)",
    subscribe_button: "اشترك",
    check_inbox: "بقيت خطوة: أرسلنا رابط تأكيد إلى هذا العنوان. افتحه لتبدأ بتلقي التحديثات.",
    check_endpoint: "بقيت خطوة: أرسلنا طلب تأكيد موقَّعًا إلى هذا العنوان. أرسل POST إلى confirm_url لتبدأ بتلقي التحديثات.",
    confirm_title: "أكِّد اشتراكك",
    confirm_button: "تأكيد",
    confirmed: "تم اشتراكك. في كل رسالة رابط لإلغاء الاشتراك.",
    unsubscribe_title: "إلغاء الاشتراك",
    unsubscribe_button: "إلغاء الاشتراك",
    unsubscribed: "أُلغي اشتراكك ولن تصلك رسائل أخرى.",
    link_invalid: "هذا الرابط غير صالح أو انتهت مدته. اشترك من جديد من صفحة الحالة.",
    back_to_page: "العودة إلى صفحة الحالة",
    confirm_subject: "أكِّد اشتراكك",
    confirm_body: "طلب أحدهم (نرجو أن تكون أنت) تلقي تحديثات الحالة على هذا العنوان. للتأكيد افتح:",
    reminder: "تذكير: تبدأ الصيانة المجدولة",
    why_you_get_this: "تصلك هذه الرسالة لأنك اشتركت في تحديثات الحالة.",
};

/// The strings for `locale` by its language subtag; English otherwise.
pub fn of(locale: &str) -> &'static Strings {
    match locale.split(['-', '_']).next().unwrap_or("") {
        l if l.eq_ignore_ascii_case("ar") => &AR,
        _ => &EN,
    }
}

impl Strings {
    /// What to do next after signing up on `channel`.
    pub fn check_inbox_for(&self, channel: SubscriberChannel) -> &'static str {
        match channel {
            SubscriberChannel::Email => self.check_inbox,
            SubscriberChannel::Webhook => self.check_endpoint,
        }
    }

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
