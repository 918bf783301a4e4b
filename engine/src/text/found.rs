//! The facts found in one message before they join the lead's: one slot per built-in fact
//! and nothing allocated, so a message costs no list of its own; only the facts found get
//! a `String` name, when they join the lead's [`Facts`].
//!
//! Facts join in the order the extractor reads them: the tenant's pattern facts, then the
//! built-in ones in [`Fact`] order, then an unsure answer, then the language.

use crate::model::Facts;
use serde_json::Value;

/// The built-in facts, in the order they join the lead's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fact {
    Budget,
    BudgetUnconfirmed,
    Bedrooms,
    Bathrooms,
    MustHaves,
    Timeline,
    Financing,
    Motivation,
    HomeCondition,
    Goal,
    Pathway,
    Name,
    Location,
    Disqualified,
    Language,
}

/// Every [`Fact`], in order.
const FACTS: [Fact; 15] = [
    Fact::Budget,
    Fact::BudgetUnconfirmed,
    Fact::Bedrooms,
    Fact::Bathrooms,
    Fact::MustHaves,
    Fact::Timeline,
    Fact::Financing,
    Fact::Motivation,
    Fact::HomeCondition,
    Fact::Goal,
    Fact::Pathway,
    Fact::Name,
    Fact::Location,
    Fact::Disqualified,
    Fact::Language,
];

impl Fact {
    /// The fact's name in [`Facts`].
    pub const fn name(self) -> &'static str {
        match self {
            Fact::Budget => "budget",
            Fact::BudgetUnconfirmed => super::extract::BUDGET_UNCONFIRMED,
            Fact::Bedrooms => "bedrooms",
            Fact::Bathrooms => "bathrooms",
            Fact::MustHaves => "must_haves",
            Fact::Timeline => "timeline",
            Fact::Financing => "financing",
            Fact::Motivation => "motivation",
            Fact::HomeCondition => "home_condition",
            Fact::Goal => "goal",
            Fact::Pathway => "pathway",
            Fact::Name => "name",
            Fact::Location => "location",
            Fact::Disqualified => super::extract::DISQUALIFIED,
            Fact::Language => super::extract::LANGUAGE,
        }
    }
}

/// The facts of one message. `'a` borrows the names that are not built in: the tenant's
/// pattern facts and the data point an unsure answer is filed under.
pub(super) struct Found<'a> {
    /// The tenant's pattern facts, first match per fact (empty, unallocated, for most).
    custom: Vec<(&'a str, Value)>,
    /// The built-in facts by [`Fact`].
    slots: [Option<Value>; FACTS.len()],
    /// An unsure answer ("not sure yet") and the data point it answers; it joins after
    /// every built-in fact but the language.
    unsure: Option<(&'a str, Value)>,
}

impl<'a> Found<'a> {
    pub fn new() -> Self {
        Self {
            custom: Vec::new(),
            slots: Default::default(),
            unsure: None,
        }
    }

    /// Records a tenant's pattern fact.
    pub fn custom(&mut self, fact: &'a str, v: Value) {
        self.custom.push((fact, v));
    }

    /// Records a built-in fact unless the message already gave it (a tenant's pattern
    /// came first). Each slot has its own name, so only the tenant's facts and the unsure
    /// answer can hold it otherwise.
    pub fn put(&mut self, fact: Fact, v: Value) {
        let name = fact.name();
        let taken = self.slots[fact as usize].is_some()
            || self.custom.iter().any(|(k, _)| *k == name)
            || self.unsure.as_ref().is_some_and(|(k, _)| *k == name);
        if !taken {
            self.slots[fact as usize] = Some(v);
        }
    }

    /// Records an unsure answer under `topic` (the caller checked it is not taken).
    pub fn unsure(&mut self, topic: &'a str, v: Value) {
        self.unsure = Some((topic, v));
    }

    /// The value found for a fact, by name.
    pub fn get(&self, fact: &str) -> Option<&Value> {
        let custom = self.custom.iter().find(|(k, _)| *k == fact);
        let unsure = || self.unsure.as_ref().filter(|(k, _)| *k == fact);
        let built = || {
            FACTS
                .iter()
                .zip(&self.slots)
                .find_map(|(f, v)| v.as_ref().filter(|_| f.name() == fact))
        };
        custom.or_else(unsure).map(|(_, v)| v).or_else(built)
    }

    /// True when the message gave a value for `fact`.
    pub fn contains_key(&self, fact: &str) -> bool {
        self.get(fact).is_some()
    }

    /// Moves the facts to `out` in order (later values override older ones). An empty
    /// `out` (a message read on its own) is first given room for exactly these facts, so
    /// the map allocates once.
    pub fn merge_into(&mut self, out: &mut Facts) {
        if out.is_empty() {
            let n = self.custom.len()
                + self.slots.iter().filter(|v| v.is_some()).count()
                + usize::from(self.unsure.is_some());
            *out = Facts::with_capacity(n);
        }
        let language = self.slots[Fact::Language as usize].take();
        for (k, v) in self.custom.drain(..) {
            out.insert(k.to_string(), v);
        }
        for (f, v) in FACTS.iter().zip(&mut self.slots) {
            if let Some(v) = v.take() {
                out.insert(f.name().to_string(), v);
            }
        }
        if let Some((k, v)) = self.unsure.take() {
            out.insert(k.to_string(), v);
        }
        if let Some(v) = language {
            out.insert(Fact::Language.name().to_string(), v);
        }
    }
}
