//! A duty's text is only a storage form: every duty, whatever the names in
//! it, reads back as itself.

use firebell_core::escalation::Duty;
use proptest::prelude::*;

fn duty() -> impl Strategy<Value = Duty> {
    prop_oneof![
        any::<u32>().prop_map(|level| Duty::Step { level }),
        (any::<String>(), proptest::option::of(any::<i64>()))
            .prop_map(|(name, update_clock)| Duty::Rule { name, update_clock }),
        // Names made of the characters that matter most.
        ("[:%a3A2-5]{0,12}", proptest::option::of(any::<i64>()))
            .prop_map(|(name, update_clock)| Duty::Rule { name, update_clock }),
        (any::<i64>(), any::<u32>())
            .prop_map(|(last_update, n)| Duty::UpdateReminder { last_update, n }),
        Just(Duty::CommanderReminder),
        Just(Duty::ResponseBreach),
        (any::<String>(), any::<usize>())
            .prop_map(|(key, index)| Duty::ObligationReminder { key, index }),
        ("[:%a-z0-9]{0,12}", any::<usize>())
            .prop_map(|(key, index)| Duty::ObligationReminder { key, index }),
        any::<String>().prop_map(|notification| Duty::DeadLetter { notification }),
    ]
}

proptest! {
    #[test]
    fn text_round_trips(d in duty()) {
        let text = d.to_string();
        prop_assert_eq!(text.parse::<Duty>(), Ok(d.clone()));
        // And through JSON, as events store it.
        let json = serde_json::to_string(&d).unwrap();
        prop_assert_eq!(serde_json::from_str::<Duty>(&json).unwrap(), d);
    }

    #[test]
    fn distinct_duties_have_distinct_texts(a in duty(), b in duty()) {
        prop_assume!(a != b);
        prop_assert_ne!(a.to_string(), b.to_string());
    }
}
