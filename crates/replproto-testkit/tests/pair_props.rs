//! Generated scenarios over the pair: writes, transactions, GETACKs, time, cuts at any byte
//! of either direction, backlog overflows, failovers and closes, over a network that splits
//! and delays. The pair checks every property as it runs ([`replproto_testkit::pair`]).

use proptest::prelude::*;
use replproto_testkit::scenario::{apply, proptest_config, scenario_strategy};

proptest! {
    #![proptest_config(proptest_config(256, "pair_props"))]

    #[test]
    fn scenarios_lose_and_repeat_nothing(scenario in scenario_strategy(32)) {
        let report = apply(&scenario);
        prop_assert!(!report.links.is_empty());
    }
}
