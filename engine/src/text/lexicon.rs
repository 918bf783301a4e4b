//! The vocabulary extraction reads, English and Spanish: each phrase with what it signals
//! (a [`Cue`]), and the words that tell the two languages apart.
//!
//! Phrases are written folded, as [`super::scan`] folds messages: lower case, accents
//! dropped ("recámaras" is `recamaras`, "año" is `ano`), hyphens as spaces ("pre-approved"
//! is `pre approved`); apostrophes stay ("don't"), so forms typed without one ("dont")
//! are listed too. A phrase is found wherever its words follow one another; what it means
//! in context (negated, hedged, in the past, next to a number) is the readers' business
//! (`super::read`).

use super::scan::{hash, WordTable};
use std::sync::LazyLock;

/// What a phrase signals.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Cue {
    /// A money unit after a number: `k`, `thousand` (×1,000), `million`, `millones` (×1,000,000).
    Unit(f64),
    /// `mil`: a thousand in Spanish ("400 mil"), a million in English slang ("1.2 mil").
    Mil,
    /// `dollars`, `dólares`, `usd`: the number before is money.
    Dollars,
    /// A whole amount in words: "half a million", "medio millón".
    Amount(f64),
    /// A word that makes a nearby bare number a budget: "budget", "afford", "presupuesto".
    BudgetWord,
    /// After a number, a unit that makes it something else than money ("sq ft", "kids").
    NotMoney,
    /// Money that is not the budget: a down payment, rent, income ("50k down").
    NotBudget,
    /// A number in words (bedrooms, months): "three", "tres".
    NumWord(u8),
    /// Bedrooms after a number: "bed", "br", "recámaras".
    Bed,
    /// Bathrooms after a number: "bath", "ba", "baños".
    Bath,
    /// "and a half", "y medio": half a bathroom more.
    AndHalf,
    /// A must-have feature, by label.
    MustHave(&'static str),
    /// A verb of wanting: must-haves count only in a message that has one.
    Want,
    /// A negation: "not", "don't", "no", "without", "sin".
    Negator,
    /// A negation after the thing negated: "not needed", "no es necesario".
    NegAfter,
    /// Ends a clause (negation scope): "but", "pero".
    Break,
    /// Ends a part (past-tense scope): "and", "y", "then".
    And,
    /// An intention or process, not a state: "getting", "working on", "vamos a".
    Hedge,
    /// Past tense: "sold", "bought", "ago", "vendimos".
    Past,
    /// A timeline by itself: "asap", "no rush", "lo antes posible".
    TimeWhole,
    /// "next", "this", "próximo", "este" before a period or season.
    TimeNext,
    /// "que viene" after a period ("el mes que viene").
    TimeNextAfter,
    /// A period: "month(s)", "weeks", "meses", "año".
    TimePeriod,
    /// A season: "summer", "verano".
    TimeSeason,
    /// A month's name.
    TimeMonth,
    /// "in", "within", "en", "dentro de" before a quantity of time.
    TimeIn,
    /// "by", "before", "early", "a finales de" before a date.
    TimePrep,
    /// "end of the year", "fin de año": a date by itself.
    TimeEnd,
    /// "about", "around", "unos": an approximate quantity.
    TimeApprox,
    /// A quantity in words for time: "a few", "a couple of", "un par de", "a".
    TimeFew,
    /// After a period: "from now", "or so", "out".
    TimeAfter,
    /// After a period, not a timeline: "ago", "old", "in a row".
    TimeNot,
    /// A financing status, by label.
    Financing(&'static str),
    /// Financing by a person: "lender", "loan officer", "prestamista".
    Lender,
    /// A loan program: "FHA", "conventional", "jumbo".
    Program,
    /// "VA": a loan program only when written in capitals or followed by "loan".
    Va,
    /// "loan", "mortgage", "préstamo".
    Loan,
    /// A motivation, by label.
    Motivation(&'static str),
    /// "because", "porque": a reason follows.
    Reason,
    /// A move or a transaction: "move", "moving", "mudarnos" (context for reasons).
    Move,
    /// A home's condition, by label.
    Condition(&'static str),
    /// A part of a house that gets repaired or updated: "roof", "floors", "techo".
    CondItem,
    /// An update: "new", "updated", "replaced", "nuevo".
    CondNew,
    /// A need for repair: "needs", "old", "leaks", "issues".
    CondBad,
    /// Goal: buying.
    Buy,
    /// Goal: selling.
    Sell,
    /// Pathway: a quick or as-is sale.
    Wholesale,
    /// Pathway: a listing at market value.
    Listing,
    /// "worth".
    Worth,
    /// What "worth" may be about: "house", "it".
    WorthObject,
    /// "my name is", "me llamo".
    NameIntro,
    /// "in", "near", "cerca de" before a place.
    PlaceIntro,
    /// "zip", "zip code", "código postal".
    ZipWord,
    /// "not sure", "no idea", "no sé".
    Unsure,
    /// A word naming a data point (files a "not sure" under it).
    Topic(&'static str),
    /// A disqualifying signal, by label.
    Disqualify(&'static str),
    /// "not interested": disqualifying unless about one thing ("not interested in condos").
    NotInterested,
    /// A short yes.
    Yes,
    /// A short no, or not yet.
    No,
    /// A capitalised word that is no place nor name ("May", "The", "Cash").
    NotName,
    /// A one-word reason, read only as the answer to the motivation question ("work",
    /// "the schools", "espacio"), by label.
    ReasonWord(&'static str),
}

impl Cue {
    /// This cue's kind as one bit (the payload ignored): sets of kinds are masks, so "is
    /// there a timeline word at this token" is one AND.
    #[inline]
    pub const fn bit(self) -> u64 {
        1u64 << match self {
            Cue::Unit(_) => 0,
            Cue::Mil => 1,
            Cue::Dollars => 2,
            Cue::Amount(_) => 3,
            Cue::BudgetWord => 4,
            Cue::NotMoney => 5,
            Cue::NotBudget => 6,
            Cue::NumWord(_) => 7,
            Cue::Bed => 8,
            Cue::Bath => 9,
            Cue::AndHalf => 10,
            Cue::MustHave(_) => 11,
            Cue::Want => 12,
            Cue::Negator => 13,
            Cue::NegAfter => 14,
            Cue::Break => 15,
            Cue::And => 16,
            Cue::Hedge => 17,
            Cue::Past => 18,
            Cue::TimeWhole => 19,
            Cue::TimeNext => 20,
            Cue::TimeNextAfter => 21,
            Cue::TimePeriod => 22,
            Cue::TimeSeason => 23,
            Cue::TimeMonth => 24,
            Cue::TimeIn => 25,
            Cue::TimePrep => 26,
            Cue::TimeEnd => 27,
            Cue::TimeApprox => 28,
            Cue::TimeFew => 29,
            Cue::TimeAfter => 30,
            Cue::TimeNot => 31,
            Cue::Financing(_) => 32,
            Cue::Lender => 33,
            Cue::Program => 34,
            Cue::Va => 35,
            Cue::Loan => 36,
            Cue::Motivation(_) => 37,
            Cue::Reason => 38,
            Cue::Move => 39,
            Cue::Condition(_) => 40,
            Cue::CondItem => 41,
            Cue::CondNew => 42,
            Cue::CondBad => 43,
            Cue::Buy => 44,
            Cue::Sell => 45,
            Cue::Wholesale => 46,
            Cue::Listing => 47,
            Cue::Worth => 48,
            Cue::WorthObject => 49,
            Cue::NameIntro => 50,
            Cue::PlaceIntro => 51,
            Cue::ZipWord => 52,
            Cue::Unsure => 53,
            Cue::Topic(_) => 54,
            Cue::Disqualify(_) => 55,
            Cue::NotInterested => 56,
            Cue::Yes => 57,
            Cue::No => 58,
            Cue::NotName => 59,
            Cue::ReasonWord(_) => 60,
        }
    }
}

/// A phrase starting with some word: its other words, and what it signals.
pub(super) struct Phrase {
    /// The other words, each as its hash ([`super::scan::hash`]) and length.
    pub rest: Box<[(u64, usize)]>,
    /// The hash of the second word (0 for a one-word phrase): most phrases are ruled out
    /// by comparing it with the next token's.
    pub second: u64,
    pub cue: Cue,
    /// `cue.bit()`.
    pub bit: u64,
}

/// What the lexicon knows of one word: its language weight (+1 Spanish, -1 English) and
/// the phrases starting with it, longest first.
pub(super) struct Entry {
    pub lang: i8,
    pub phrases: Vec<Phrase>,
    /// A 64-bit filter of the second words of the longer phrases ([`second_bit`]): when
    /// the next word's bit is not set, only the one-word phrases (at the end) can match.
    pub seconds: u64,
    /// Where the one-word phrases start in `phrases`.
    pub singles: usize,
    /// The kinds of the one-word phrases ([`Cue::bit`]): they match wherever the word is.
    pub single_mask: u64,
}

/// The bit of a word's hash in [`Entry::seconds`].
#[inline]
pub(super) fn second_bit(h: u64) -> u64 {
    1 << (h >> 58)
}

/// The vocabulary, built once per process.
pub(super) struct Lexicon {
    table: WordTable<Entry>,
}

impl Lexicon {
    /// The entry of a word, by its hash and its length in bytes.
    #[inline]
    pub fn word(&self, h: u64, len: usize) -> Option<&Entry> {
        self.table.get(h, len)
    }
}

pub(super) static LEXICON: LazyLock<Lexicon> = LazyLock::new(build);

fn build() -> Lexicon {
    let mut entries: Vec<(String, Entry)> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = Default::default();
    let mut slot = |entries: &mut Vec<(String, Entry)>, w: &str| -> usize {
        *index.entry(w.to_string()).or_insert_with(|| {
            entries.push((
                w.to_string(),
                Entry {
                    lang: 0,
                    phrases: Vec::new(),
                    seconds: 0,
                    singles: 0,
                    single_mask: 0,
                },
            ));
            entries.len() - 1
        })
    };
    for (phrase, cue) in phrases() {
        let mut words = phrase.split_whitespace();
        let Some(first) = words.next() else { continue };
        let rest: Box<[(u64, usize)]> = words.map(|w| (hash(w.as_bytes()), w.len())).collect();
        let i = slot(&mut entries, first);
        entries[i].1.phrases.push(Phrase {
            second: rest.first().map_or(0, |(h, _)| *h),
            rest,
            cue,
            bit: cue.bit(),
        });
    }
    for w in SPANISH {
        let i = slot(&mut entries, w);
        entries[i].1.lang = 1;
    }
    for w in ENGLISH {
        let i = slot(&mut entries, w);
        entries[i].1.lang = -1;
    }
    for (_, e) in &mut entries {
        e.phrases.sort_by_key(|p| std::cmp::Reverse(p.rest.len()));
        e.singles = e.phrases.iter().take_while(|p| !p.rest.is_empty()).count();
        e.single_mask = e.phrases[e.singles..].iter().fold(0, |m, p| m | p.bit);
        e.seconds = e
            .phrases
            .iter()
            .filter_map(|p| p.rest.first())
            .fold(0, |bits, (h, _)| bits | second_bit(*h));
    }
    Lexicon {
        table: WordTable::new(entries),
    }
}

/// Words only Spanish uses among what leads write: each is a cue for the language
/// scorer (see `super::language`). Short words both languages share ("a", "no", "me")
/// are left out.
#[rustfmt::skip]
const SPANISH: &[&str] = &[
    "el", "la", "los", "las", "del", "que", "en", "y", "para", "una", "un", "con", "por", "mi",
    "mis", "nuestra", "nuestro", "es", "esta", "estamos", "somos", "soy", "tengo", "tenemos",
    "queremos", "quiero", "buscamos", "busco", "buscando", "necesitamos", "necesito", "casa",
    "hola", "gracias", "si", "pero", "muy", "mas", "comprar", "vender", "mudarnos", "mudamos",
    "mudar", "cuando", "donde", "cuanto", "presupuesto", "recamaras", "habitaciones", "cuartos",
    "banos", "meses", "mes", "ano", "anos", "proximo", "proxima", "mil", "millon", "millones",
    "dolares", "trabajo", "familia", "porque", "tambien", "ya", "lo", "le", "nos", "se", "al",
    "sin", "hay", "buenas", "buenos", "dias", "tardes", "senor", "aqui", "bien", "cerca",
    "zona", "contado", "efectivo", "preaprobado", "preaprobados", "preaprobada", "credito",
    "prestamo", "ahorita", "pronto", "urgente", "gustaria", "interesa", "equivocado", "numero",
    "vamos", "puedo", "podemos", "pagar", "esposo", "esposa", "hijos", "ninos", "alberca",
    "cochera", "patio", "nueva", "nuevo", "pequena", "grande", "semana", "verano", "estar",
    "somos", "sabemos", "algo", "ahora", "entre", "hasta", "unos", "unas", "tiene", "tenga",
    "esta", "este", "estos",
    "de", "dentro", "ese", "esa", "eso", "esos", "esas", "barrio", "prefiero", "preferimos",
    "necesita", "pintura", "pisos", "nuevos", "nuevas", "estoy", "estan", "mucho", "usted",
    "ustedes", "les", "favor", "porfa", "puede", "tienen", "hacer", "ver", "cual", "como",
    "todavia", "aun", "manana", "hoy", "despues", "antes", "semanas", "casas", "cocina",
    "techo", "jardin", "escuela", "escuelas", "hijas", "mama", "papa", "buscar", "rentar",
    "renta", "precio", "dinero", "banco", "fue", "era", "estaba", "voy", "desde", "sobre",
    "menos", "todo", "toda", "todos", "nada", "nadie", "nuestros", "nuestras", "sus", "tu",
    "tus", "yo", "nosotros", "ellos", "ella", "pues", "bueno", "claro", "quisiera",
    "quisieramos", "tenia", "zonas", "viendo", "vivir", "vivimos", "lista", "listo", "arreglos",
    "reparaciones", "remodelar", "mudarme", "cuarto", "recamara", "habitacion", "bano",
    "agente", "interesado", "interesados", "llamar", "llameme", "hablar", "senora", "ninguno",
    "alguno", "alguna",
];

/// Words only English uses among what leads write.
#[rustfmt::skip]
const ENGLISH: &[&str] = &[
    "the", "we", "i", "i'm", "im", "we're", "to", "and", "for", "is", "are", "my", "our", "you",
    "your", "it", "it's", "this", "that", "with", "looking", "want", "need", "have", "house",
    "home", "buy", "sell", "budget", "bedrooms", "bed", "beds", "bath", "baths", "months",
    "month", "next", "about", "around", "just", "what", "when", "how", "hi", "hello", "thanks",
    "yes", "please", "would", "will", "can", "be", "of", "in", "at", "on", "or", "but", "so",
    "like", "some", "move", "moving", "buying", "selling", "get", "got", "thank", "yeah",
    "we'll", "don't", "dont", "not", "by", "soon", "work", "family", "kids", "wife", "husband",
    "approved", "cash", "need", "needs", "place", "something",
    "we've", "we'd", "i'd", "i'll", "you're", "they", "them", "their", "there", "here", "was",
    "were", "been", "has", "had", "do", "does", "did", "all", "any", "if", "then", "than",
    "from", "out", "up", "down", "over", "after", "before", "still", "yet", "already", "really",
    "maybe", "probably", "think", "know", "let", "us", "an", "bedroom", "bathroom", "bathrooms",
    "yard", "garage", "pool", "kitchen", "floors", "roof", "school", "schools", "job", "lease",
    "rent", "renting", "year", "years", "week", "weeks", "ready", "working", "lender", "loan",
    "pre", "approval", "price", "area", "near", "close", "closer", "city", "town",
    "neighborhood", "interested",
];

/// Every phrase with its cue.
#[rustfmt::skip]
fn phrases() -> Vec<(&'static str, Cue)> {
    use Cue::*;
    let mut v: Vec<(&'static str, Cue)> = Vec::with_capacity(1500);
    let mut add = |list: &[&'static str], cue: Cue| {
        for p in list {
            v.push((p, cue));
        }
    };

    // Money.
    add(&["k", "thousand", "thousands", "grand"], Unit(1e3));
    add(
        &[
            "m", "mm", "million", "millions", "mill", "millon", "millones", "mln",
        ],
        Unit(1e6),
    );
    add(&["mil"], Mil);
    add(
        &["dollars", "dolares", "usd", "bucks", "dlls", "dls"],
        Dollars,
    );
    add(
        &[
            "half a million", "half a mil", "half a mill", "a half million", "half million",
            "medio millon",
        ],
        Amount(5e5),
    );
    add(
        &[
            "quarter million", "a quarter million", "quarter of a million", "quarter a million",
        ],
        Amount(2.5e5),
    );
    add(
        &["a million", "one million", "a mil", "a mill", "un millon"],
        Amount(1e6),
    );
    add(
        &[
            "a million and a half", "one and a half million", "un millon y medio",
            "millon y medio",
        ],
        Amount(1.5e6),
    );
    add(
        &[
            "budget", "budgets", "budgeted", "price", "prices", "price range", "pricing",
            "afford", "spend", "spending", "pay", "offer", "range", "around", "about", "up to",
            "under", "below", "max", "maximum", "no more than", "less than", "between",
            "approved for", "approved up to", "approved at", "qualified for", "qualified up to", "good for", "qualify for",
            "looking at", "somewhere", "ballpark", "cap", "top", "presupuesto", "precio",
            "rango", "pagar", "gastar", "hasta", "alrededor", "entre", "maximo", "menos de",
            "aprobados por", "aprobado por", "aprobados hasta", "aprobado hasta",
            "aprobados para", "como", "unos", "mas o menos",
        ],
        BudgetWord,
    );
    add(
        &[
            "sq", "sqft", "square", "ft", "feet", "acre", "acres", "percent", "kids", "children",
            "people", "cars", "car", "story", "stories", "yrs", "yr", "old", "hours", "hrs",
            "hour", "minutes", "mins", "min", "miles", "mi", "am", "pm", "st", "nd", "rd", "th",
            "x", "units", "unit", "times", "credit", "score", "metros", "hijos", "ninos",
            "personas", "horas", "minutos", "millas", "pies", "carros", "pisos", "plantas", "dogs",
            "cats", "o'clock",
        ],
        NotMoney,
    );
    add(
        &[
            "down", "down payment", "downpayment", "deposit", "earnest", "per month", "a month",
            "monthly", "mo", "rent", "income", "salary", "a year", "per year", "annually",
            "enganche", "de enganche", "al mes", "mensual", "mensuales", "renta", "owe", "owed",
            "debemos", "payoff", "balance", "commission", "fee", "fees", "taxes", "hoa",
            "closing costs", "credit score", "a week", "per week", "savings", "saved",
            "ahorrado", "ahorros",
        ],
        NotBudget,
    );

    // Numbers in words.
    for (words, n) in [
        (&["one", "uno", "una", "un"][..], 1u8),
        (&["two", "dos", "couple", "a couple"], 2),
        (&["three", "tres"], 3),
        (&["four", "cuatro"], 4),
        (&["five", "cinco"], 5),
        (&["six", "seis"], 6),
        (&["seven", "siete"], 7),
        (&["eight", "ocho"], 8),
        (&["nine", "nueve"], 9),
        (&["ten", "diez"], 10),
        (&["eleven", "once"], 11),
        (&["twelve", "doce"], 12),
    ] {
        add(words, NumWord(n));
    }

    // Rooms.
    add(
        &[
            "bed", "beds", "bedroom", "bedrooms", "br", "brs", "bd", "bds", "bdr", "bdrs",
            "bdrm", "bdrms", "bedrm", "bedrms", "bed room", "bed rooms", "recamara",
            "recamaras", "rec", "recs", "habitacion", "habitaciones", "cuarto", "cuartos",
            "dormitorio", "dormitorios", "bedroom house", "bedroom home",
        ],
        Bed,
    );
    add(
        &[
            "bath", "baths", "bathroom", "bathrooms", "ba", "bth", "bths", "full bath",
            "full baths", "full bathrooms", "bano", "banos", "banos completos", "bano completo",
        ],
        Bath,
    );
    add(&["and a half", "and half", "y medio", "y media"], AndHalf);

    // Must-haves.
    add(
        &["pool", "swimming pool", "alberca", "piscina"],
        MustHave("pool"),
    );
    add(&["garage", "garaje", "cochera"], MustHave("garage"));
    add(
        &[
            "yard", "backyard", "back yard", "big yard", "fenced yard", "patio", "jardin",
            "patio grande",
        ],
        MustHave("yard"),
    );
    add(
        &[
            "home office", "office space", "an office", "office room", "a study", "oficina",
            "un estudio",
        ],
        MustHave("home office"),
    );
    add(
        &[
            "single story", "one story", "single storey", "one storey", "one level",
            "single level", "una planta", "un piso", "un solo piso", "una sola planta",
            "un nivel", "una sola planta",
        ],
        MustHave("single story"),
    );
    add(&["basement", "sotano"], MustHave("basement"));
    add(
        &[
            "open floor plan", "open concept", "open plan", "open layout", "concepto abierto",
        ],
        MustHave("open floor plan"),
    );
    add(
        &[
            "need", "needs", "want", "wants", "must", "looking for", "has to have",
            "have to have", "would love", "would like", "we'd like", "i'd like", "prefer",
            "with", "require", "requires", "must have", "would be nice", "ideally", "love",
            "like", "wanting", "needed", "necesitamos", "necesito", "necesita", "queremos",
            "quiero", "quisieramos", "buscamos", "busco", "con", "que tenga", "tenga",
            "nos gustaria", "me gustaria", "prefiero", "preferimos", "important", "importante",
        ],
        Want,
    );

    // Scopes.
    add(
        &[
            "not", "don't", "dont", "do not", "no", "never", "without", "doesn't", "doesnt",
            "does not", "isn't", "isnt", "aren't", "arent", "won't", "wont", "haven't",
            "havent", "hasn't", "hasnt", "have not", "nor", "neither", "no longer", "sin",
            "nunca", "ni", "didn't", "didnt", "can't", "cant", "cannot",
        ],
        Negator,
    );
    add(
        &[
            "not needed", "not necessary", "not a must", "not important", "not required",
            "is optional", "optional", "doesn't matter", "doesnt matter", "not a priority",
            "no es necesario", "no es necesaria", "no importa", "no necesitamos",
        ],
        NegAfter,
    );
    add(
        &[
            "but", "pero", "though", "although", "however", "except", "instead", "aunque", "sino",
            "just", "only", "solo", "also", "plus", "tambien",
        ],
        Break,
    );
    add(
        &["and", "y", "then", "so", "now", "luego", "ahora", "e"],
        And,
    );
    add(
        &[
            "get", "getting", "working on", "work on", "working to", "trying", "try", "need to",
            "needs to", "have to", "going to", "gonna", "will", "plan to", "planning",
            "planning to", "hope to", "hoping", "hoping to", "about to", "waiting",
            "waiting on", "waiting for", "in the process", "process of", "apply", "applying",
            "want to", "should", "would", "might", "looking into", "start", "starting",
            "talk to", "talking to", "do we need", "do i need", "vamos a", "voy a",
            "en proceso", "tramitando", "tramite", "queremos", "necesitamos", "todavia", "aun",
            "quiero", "sacar", "obtener", "estamos sacando", "need", "needs",
        ],
        Hedge,
    );
    add(
        &[
            "sold", "bought", "moved", "purchased", "paid", "built", "closed", "closed on", "ago",
            "last year", "last month", "last time", "back in", "lived", "have lived", "had",
            "did", "married", "inherited", "in the past", "listed", "since", "vendimos",
            "vendi", "compre", "hace", "el ano pasado", "el mes pasado", "pasado", "pasada",
            "construida", "construido", "renovated", "remodeled", "updated", "replaced",
            "redid",
        ],
        Past,
    );

    // Timelines.
    add(
        &[
            "asap", "as soon as possible", "as soon as we can", "as soon as i can",
            "as soon as", "immediately", "right away", "urgent", "urgently", "soon", "no rush",
            "no hurry", "not in a rush", "not in a hurry", "in no rush", "in no hurry",
            "no big rush", "not in any rush", "not in any hurry", "lo antes posible",
            "cuanto antes", "lo mas pronto posible", "lo mas rapido posible", "pronto",
            "urgente", "inmediatamente", "de inmediato", "sin prisa", "no hay prisa",
            "no tenemos prisa", "sin apuro", "no hay apuro", "ya mismo", "lo mas antes posible",
            "before school starts", "after the school year", "before the school year",
            "antes de que empiece la escuela",
        ],
        TimeWhole,
    );
    add(
        &[
            "next", "this", "the coming", "coming", "upcoming", "proximo", "proxima",
            "el proximo", "la proxima", "este", "esta", "el siguiente", "siguiente",
        ],
        TimeNext,
    );
    add(&["que viene", "entrante"], TimeNextAfter);
    add(
        &[
            "day", "days", "week", "weeks", "month", "months", "year", "years", "yr", "yrs", "mo",
            "mos", "weekend", "dia", "dias", "semana", "semanas", "mes", "meses", "ano", "anos",
        ],
        TimePeriod,
    );
    add(
        &[
            "spring", "summer", "fall", "autumn", "winter", "primavera", "verano", "otono",
            "invierno",
        ],
        TimeSeason,
    );
    add(
        &[
            "january", "february", "march", "april", "may", "june", "july", "august",
            "september", "october", "november", "december", "jan", "feb", "mar", "apr", "jun",
            "jul", "aug", "sep", "sept", "oct", "nov", "dec", "enero", "febrero", "marzo",
            "abril", "mayo", "junio", "julio", "agosto", "septiembre", "setiembre", "octubre",
            "noviembre", "diciembre",
        ],
        TimeMonth,
    );
    add(
        &[
            "in", "within", "in the next", "within the next", "over the next", "in the coming",
            "the next", "en", "dentro de", "en los proximos", "en las proximas",
            "en el proximo", "en la proxima",
        ],
        TimeIn,
    );
    add(
        &[
            "by", "before", "in", "early", "mid", "late", "end of", "the end of",
            "by the end of", "beginning of", "start of", "middle of", "after", "until",
            "no later than", "para", "en", "antes de", "a principios de", "a mediados de",
            "a finales de", "a fines de", "a fin de", "para el", "despues de", "principios de",
            "finales de", "hacia", "para finales de", "around", "sometime in", "this", "next",
        ],
        TimePrep,
    );
    add(
        &[
            "end of the year", "end of year", "end of the month", "year end", "year's end",
            "fin de ano", "fin de mes", "finales de ano", "final del ano", "fin del ano",
            "the new year", "new year", "ano nuevo", "first of the year",
        ],
        TimeEnd,
    );
    add(
        &[
            "about", "around", "roughly", "approximately", "approx", "like", "maybe",
            "probably", "give or take", "unos", "unas", "como", "aproximadamente",
            "mas o menos", "alrededor de", "possibly", "at least", "at most", "under",
            "less than", "more than", "over",
        ],
        TimeApprox,
    );
    add(
        &[
            "a few", "few", "a couple", "a couple of", "couple", "couple of", "several", "a",
            "an", "un par de", "unos cuantos", "unas cuantas", "algunos", "algunas", "un",
            "una", "a handful of",
        ],
        TimeFew,
    );
    add(
        &[
            "from now", "or so", "out", "tops", "max", "or less", "or sooner", "at most",
            "a partir de ahora", "mas o menos", "from today", "or two", "or 2",
        ],
        TimeAfter,
    );
    add(
        &[
            "ago", "old", "in a row", "straight", "already", "so far", "now", "of", "de", "atras",
        ],
        TimeNot,
    );

    // Financing.
    add(
        &[
            "pre approved", "preapproved", "pre approval", "preapproval", "pre approval letter",
            "approved for a loan", "approved for a mortgage", "already approved",
            "got approved", "are approved", "we're approved", "were approved", "i'm approved",
            "im approved", "preaprobado", "preaprobados", "preaprobada", "preaprobadas",
            "pre aprobado", "pre aprobados", "pre aprobada", "pre aprobadas", "preaprobacion",
            "pre aprobacion", "estamos aprobados", "carta de aprobacion", "aprobados",
            "pre approve", "preapprove", "approved for", "approved up to", "approved at",
        ],
        Financing("pre-approved"),
    );
    add(
        &[
            "pre qualified", "prequalified", "pre qual", "prequal", "pre qualification",
            "prequalification", "pre qualify", "prequalify", "precalificado", "precalificados",
            "precalificada", "precalificadas", "pre calificado", "pre calificados",
            "precalificacion", "pre calificacion",
        ],
        Financing("pre-qualified"),
    );
    add(
        &[
            "paying cash", "pay cash", "cash buyer", "cash buyers", "all cash", "cash purchase",
            "buying with cash", "buy with cash", "buying cash", "buy cash", "in cash",
            "with cash", "have cash", "has cash", "cash only", "de contado", "al contado",
            "en efectivo", "en cash", "pagar cash", "pago de contado", "pagar de contado",
            "paying all cash", "tenemos cash", "tengo cash", "tenemos efectivo", "pagamos cash", "cash deal",
        ],
        Financing("cash"),
    );
    add(
        &[
            "need a lender", "need a loan officer", "need a mortgage broker",
            "looking for a lender", "no lender", "need financing", "need a loan",
            "need help with financing", "haven't started", "havent started", "not started",
            "necesitamos un prestamista", "necesitamos financiamiento",
            "no tenemos prestamista", "no hemos empezado", "need help getting approved",
        ],
        Financing("not started"),
    );
    add(
        &[
            "lender", "lenders", "loan officer", "mortgage broker", "mortgage lender",
            "loan originator", "mortgage guy", "mortgage lady", "mortgage company", "bank",
            "credit union", "prestamista", "oficial de prestamos", "banco", "loan officers",
        ],
        Lender,
    );
    add(
        &[
            "fha", "usda", "conventional", "jumbo", "fha loan", "conventional loan",
            "usda loan", "jumbo loan", "va loan", "infonavit", "itin", "itin loan",
            "hard money", "seller financing", "owner financing", "convencional",
            "rural development",
        ],
        Program,
    );
    add(&["va"], Va);
    add(
        &[
            "loan", "mortgage", "prestamo", "hipoteca", "credito", "financing",
            "financiamiento",
        ],
        Loan,
    );

    // Motivation.
    add(
        &[
            "relocate", "relocating", "relocated", "relocation", "job transfer", "transfer",
            "transferred", "transferring", "for work", "for my work", "for my job", "for a job",
            "for his job", "for her job", "for our jobs", "for the job", "for a new job",
            "new job", "job offer", "got a job", "starting a job", "work transfer",
            "company is moving", "company is relocating", "company relocation", "military",
            "pcs", "pcsing", "got orders", "military orders", "new orders", "stationed",
            "new position", "job change", "changing jobs", "new role", "work is moving",
            "por trabajo", "por mi trabajo", "por el trabajo", "por su trabajo",
            "nuevo trabajo", "nuevo empleo", "cambio de trabajo", "cambiaron de trabajo", "me cambiaron de trabajo", "nos cambiaron de trabajo", "me transfirieron",
            "nos transfirieron", "lo transfirieron", "la transfirieron", "transferencia",
            "traslado", "reubicacion", "reubicando", "nos reubicaron", "oferta de trabajo",
            "trabajo nuevo", "por chamba",
        ],
        Motivation("relocation"),
    );
    add(
        &[
            "growing family", "family is growing", "family's growing", "baby", "new baby",
            "baby on the way", "expecting a baby", "we're expecting", "were expecting",
            "expecting our", "pregnant", "twins", "another kid", "another baby", "more kids",
            "outgrown", "outgrew", "outgrowing", "need more space", "need more room",
            "more space", "more room", "bigger place", "bigger house", "bigger home",
            "something bigger", "upsize", "upsizing", "own rooms", "too small", "too cramped",
            "familia creciendo", "familia esta creciendo", "familia crece", "bebe",
            "embarazada", "esperamos un bebe", "mas espacio", "casa mas grande",
            "algo mas grande", "muy pequena", "muy chica", "otro hijo", "otro bebe",
            "nos quedo chica", "nos queda chica", "nos quedo pequena",
        ],
        Motivation("growing family"),
    );
    add(
        &[
            "downsize", "downsizing", "empty nest", "empty nesters", "empty nester",
            "kids moved out", "kids are grown", "kids are gone", "kids left", "smaller place",
            "smaller house", "smaller home", "something smaller", "too much house", "too big",
            "less space", "less maintenance", "casa mas pequena", "casa mas chica",
            "algo mas pequeno", "algo mas chico", "los hijos se fueron", "muy grande",
            "demasiado grande", "reducir",
        ],
        Motivation("downsizing"),
    );
    add(
        &[
            "divorce", "divorced", "divorcing", "separated", "separating", "separation",
            "split up", "splitting up", "breakup", "break up", "divorcio", "divorciamos",
            "divorciando", "divorciada", "divorciado", "separacion", "separados", "separamos",
        ],
        Motivation("divorce"),
    );
    add(
        &[
            "take care of", "taking care of", "care for", "caring for", "aging parents",
            "aging parent", "aging mom", "aging dad", "elderly parents", "elderly mother",
            "elderly father", "elderly mom", "elderly dad", "mother in law", "father in law",
            "parents moving in", "parents are moving in", "help my parents", "help my mom",
            "help my dad", "look after", "looking after", "cuidar a mi", "cuidar de mi",
            "cuidar a mis", "cuidar a nuestros", "cuidar de mis", "cuidar", "cuidando",
            "mis papas se vienen", "mis padres se vienen",
        ],
        Motivation("caring for family"),
    );
    add(
        &[
            "retire", "retired", "retiring", "retirement", "jubilar", "jubilacion", "jubilarnos",
            "jubilarme", "jubilado", "jubilada", "jubilados", "retiro",
        ],
        Motivation("retirement"),
    );
    add(
        &[
            "first home", "first house", "first time buyer", "first time buyers",
            "first time home buyer", "first time home buyers", "first time homebuyer",
            "first time homebuyers", "first place", "primera casa", "primera vivienda",
            "compradores primerizos", "primerizos", "primera vez",
        ],
        Motivation("first home"),
    );
    add(
        &[
            "investment", "investor", "investing", "invest", "rental property", "airbnb",
            "flip", "flipping", "cash flow", "inversion", "invertir", "propiedad de renta",
            "para rentar", "rent it out", "as a rental",
        ],
        Motivation("investment"),
    );
    add(
        &[
            "closer to family", "closer to work", "closer to my parents", "closer to my kids",
            "closer to my family", "closer to my job", "closer to the office",
            "closer to our family", "close to work", "close to my job", "close to family", "close to my family", "close to the office", "close to my work", "closer to the grandkids", "closer to my daughter",
            "closer to my son", "near family", "near my family", "near our family", "commute",
            "cerca de la familia", "cerca de mi familia", "cerca del trabajo",
            "cerca de mis papas", "cerca de mis padres", "mas cerca", "be closer",
        ],
        Motivation("closer to family or work"),
    );
    add(
        &[
            "inherit", "inherited", "inheritance", "heredamos", "herencia", "heredada",
            "heredado", "estate sale", "passed away", "fallecio",
        ],
        Motivation("inherited property"),
    );
    add(
        &[
            "foreclosure", "foreclosing", "behind on payments", "behind on the mortgage",
            "behind on my mortgage", "can't afford", "cant afford", "lost my job", "job loss",
            "medical bills", "no podemos pagar", "embargo", "bankruptcy",
        ],
        Motivation("financial"),
    );
    add(
        &[
            "tired of renting", "stop renting", "done renting", "done with renting",
            "rent is too high", "rent keeps going up", "rent went up", "stop paying rent",
            "paying rent", "lease is up", "lease ends", "lease is ending", "lease ending",
            "quit renting", "cansados de rentar", "dejar de rentar", "dejar de pagar renta",
            "se acaba el contrato", "contrato de renta", "se termina el contrato", "cansado de rentar", "cansada de rentar",
            "own instead of rent", "stop throwing money",
        ],
        Motivation("stop renting"),
    );
    add(
        &[
            "for the schools", "for better schools", "because of the schools", "better schools",
            "better school district", "for the school district", "for the kids schools",
            "por las escuelas", "mejores escuelas", "better school",
        ],
        Motivation("schools"),
    );
    add(
        &[
            "because", "because of", "cause", "cuz", "bc", "due to", "porque", "debido a",
            "ya que", "since",
        ],
        Reason,
    );
    add(
        &[
            "move", "moving", "relocate", "buy", "sell", "buying", "selling", "mudarnos",
            "mudar", "mudamos", "mudarme", "comprar", "vender", "moving to",
        ],
        Move,
    );

    // Home condition.
    add(
        &[
            "fixer", "fixer upper", "fixerupper", "needs a lot of work", "needs major",
            "major repairs", "rough shape", "bad shape", "tear down", "teardown", "gut job",
            "gut it", "full remodel", "complete remodel", "needs everything", "para remodelar",
            "necesita mucho trabajo", "en mal estado", "muy mal estado", "handyman special",
            "needs a ton of work", "needs tons of work",
        ],
        Condition("fixer-upper"),
    );
    add(
        &[
            "needs work", "need work", "need any work", "need much work", "need repairs",
            "need any repairs", "needs any work", "needs some work", "needs a little work",
            "needs a bit of work", "needs repairs", "needs some repairs", "needs updating",
            "needs updates", "needs tlc", "needs love", "needs some love", "needs some tlc",
            "some repairs", "a few repairs", "dated", "outdated", "needs some updating",
            "needs a little tlc", "needs a little love", "necesita reparaciones",
            "necesita arreglos", "necesita trabajo", "necesita algunas reparaciones",
            "algunos arreglos", "necesita mantenimiento", "necesita algo de trabajo",
            "needs cosmetic", "cosmetic work", "minor repairs", "some updating",
            "needs a refresh",
        ],
        Condition("needs work"),
    );
    add(
        &[
            "move in ready", "movein ready", "turn key", "turnkey", "great shape", "good shape",
            "excellent shape", "perfect shape", "great condition", "good condition",
            "excellent condition", "perfect condition", "fully updated", "recently updated",
            "fully renovated", "recently renovated", "fully remodeled", "recently remodeled",
            "everything was updated", "everything is updated", "everything updated",
            "everything is new", "all updated", "lista para mudarse", "lista para vivir",
            "lista para habitar", "buen estado", "buenas condiciones", "excelente estado",
            "excelentes condiciones", "perfecto estado", "totalmente remodelada", "esta remodelada", "esta renovada", "remodelada completamente", "completamente remodelada", "completely remodeled", "completely renovated", "completely updated",
            "recien remodelada", "move in condition", "ready to move in", "pristine",
            "like new", "como nueva", "everything's updated", "all redone", "everything redone",
            "no repairs needed", "nothing needs fixing", "needs nothing", "good as new",
            "no necesita nada", "no necesita reparaciones",
        ],
        Condition("move-in ready"),
    );
    add(
        &[
            "roof", "foundation", "floors", "flooring", "floor", "paint", "kitchen",
            "bathrooms", "hvac", "ac", "windows", "carpet", "carpets", "appliances", "plumbing",
            "electrical", "siding", "water heater", "cabinets", "countertops", "fence", "techo",
            "cimientos", "cimentacion", "pisos", "pintura", "cocina", "ventanas", "alfombra",
            "plomeria", "electricidad", "aire acondicionado", "boiler", "furnace", "deck",
            "driveway", "bathroom",
        ],
        CondItem,
    );
    add(
        &[
            "new", "brand new", "updated", "replaced", "renovated", "remodeled", "redone",
            "fresh", "just replaced", "upgraded", "nuevo", "nueva", "nuevos", "nuevas",
            "remodelada", "remodelado", "renovada", "renovado", "recien", "updates", "upgrades",
            "redid", "refinished", "cambiamos",
        ],
        CondNew,
    );
    add(
        &[
            "needs", "need", "old", "damaged", "damage", "issues", "issue", "problems",
            "problem", "leak", "leaks", "leaking", "cracked", "cracks", "crack", "repair",
            "repairs", "fix", "fixing", "broken", "worn", "replacing", "dated", "original",
            "necesita", "viejo", "vieja", "viejos", "problemas", "gotera", "goteras", "danos",
            "reparar", "arreglar", "mold", "moho", "termites", "needs replacing", "bad",
            "rotten", "sagging",
        ],
        CondBad,
    );

    // Goal and pathway.
    add(
        &[
            "buy", "buying", "purchase", "purchasing", "homebuyer", "home buyer",
            "looking for a home", "looking for a house", "looking for a place",
            "looking for a new home", "comprar", "comprando", "buscamos casa",
            "buscamos una casa", "busco casa", "busco una casa", "buscando casa",
            "buscando una casa", "compra",
        ],
        Buy,
    );
    add(
        &[
            "sell", "selling", "list", "listing", "vender", "vendiendo", "vendo", "vendemos",
        ],
        Sell,
    );
    add(
        &[
            "as is", "asis", "fast sale", "quick sale", "cash offer", "quick", "quickly",
            "need to sell fast", "sell fast", "sell it fast", "don't want to fix",
            "dont want to fix", "don't want to repair", "dont want to repair", "venta rapida",
            "oferta en efectivo", "como esta", "tal como esta", "tal cual",
        ],
        Wholesale,
    );
    add(
        &[
            "best price", "top dollar", "what's it worth", "whats it worth",
            "how much can i get", "how much could i get", "how much would i get",
            "market value", "list it", "mls", "mejor precio", "valor de mercado", "cuanto vale",
        ],
        Listing,
    );
    add(&["worth"], Worth);
    add(
        &["house", "home", "property", "place", "it", "it's", "its"],
        WorthObject,
    );

    // Name, places, unsure answers, topics.
    add(
        &[
            "my name is", "my name's", "my names", "this is", "me llamo", "mi nombre es", "soy",
            "name is", "name's",
        ],
        NameIntro,
    );
    add(
        &[
            "in", "near", "around", "close to", "near to", "outside of", "outside", "north of",
            "south of", "east of", "west of", "en", "cerca de",
        ],
        PlaceIntro,
    );
    add(
        &[
            "zip", "zipcode", "zip code", "codigo postal", "postal code", "zip is",
        ],
        ZipWord,
    );
    add(
        &[
            "not sure", "not really sure", "no idea", "unsure", "unknown", "don't know",
            "dont know", "do not know", "dunno", "idk", "no clue", "not certain", "undecided",
            "haven't decided", "havent decided", "haven't thought", "havent thought", "no se",
            "ni idea", "no sabemos", "no lo sabemos", "no estoy seguro", "no estoy segura",
            "no estamos seguros", "no lo se", "not decided",
        ],
        Unsure,
    );
    for (words, topic) in [
        (
            &[
                "budget", "price", "afford", "spend", "cost", "worth", "presupuesto", "precio",
                "price range",
            ][..],
            "budget",
        ),
        (
            &[
                "area", "location", "where", "neighborhood", "neighbourhood", "city",
                "part of town", "zona", "ubicacion", "donde", "ciudad", "colonia",
            ],
            "location",
        ),
        (
            &[
                "when", "timeline", "timing", "how soon", "timeframe", "time frame", "cuando",
                "fecha",
            ],
            "timeline",
        ),
        (
            &[
                "bed", "beds", "bedroom", "bedrooms", "bath", "baths", "bathroom", "bathrooms",
                "must have", "must haves", "features", "recamaras", "habitaciones", "banos",
            ],
            "bedrooms",
        ),
        (
            &[
                "financing", "finance", "financed", "lender", "loan", "mortgage",
                "pre approval", "pre approved", "preapproved", "financiamiento", "prestamo",
                "credito",
            ],
            "financing",
        ),
        (
            &[
                "why", "reason", "motivation", "motivated", "prompting", "por que", "razon",
                "motivo",
            ],
            "motivation",
        ),
        (
            &[
                "condition", "repairs", "repair", "shape", "move in ready", "fixer",
                "condicion", "estado", "reparaciones",
            ],
            "home_condition",
        ),
    ] {
        add(words, Topic(topic));
    }

    // Disqualifying signals.
    add(
        &[
            "already bought", "already purchased", "already found a house",
            "already found a home", "already found one", "already found a place",
            "already closed", "just bought", "just closed", "just purchased",
            "bought a house already", "bought one already", "under contract",
            "already under contract", "found a house", "found a home", "found our home",
            "found a place", "closed on a house", "closed on a home", "ya compramos",
            "ya compre", "ya encontramos casa", "ya encontramos una casa", "ya tenemos casa",
            "ya cerramos", "ended up buying", "went with a builder", "bought with another",
            "decidimos comprar otra",
        ],
        Disqualify("already_bought"),
    );
    add(
        &[
            "no longer interested", "not interested anymore", "not looking anymore",
            "no longer looking", "not looking to buy anymore", "not buying anymore",
            "not selling anymore", "not moving anymore", "changed our minds",
            "changed our mind", "changed my mind", "decided not to", "decided to stay",
            "staying put", "not interested at all", "no estoy interesado", "no estoy interesada", "no estamos interesados",
            "ya no estamos buscando", "ya no buscamos", "cambiamos de opinion", "cambie de opinion", "decidimos no", "not in the market",
        ],
        Disqualify("not_interested"),
    );
    add(
        &["not interested", "no me interesa", "no nos interesa", "ya no me interesa", "ya no nos interesa"],
        NotInterested,
    );
    add(
        &[
            "wrong number", "wrong person", "wrong guy", "wrong girl", "you have the wrong",
            "numero equivocado", "numero incorrecto", "se equivoco de numero",
            "equivocado de numero", "persona equivocada", "equivocada de numero",
        ],
        Disqualify("wrong_number"),
    );
    add(
        &[
            "already have an agent", "already have a realtor",
            "already have a real estate agent", "have an agent", "have a realtor",
            "got an agent", "got a realtor", "working with an agent", "working with a realtor",
            "working with another agent", "working with another realtor", "another agent",
            "another realtor", "my realtor", "our realtor", "my agent", "our agent",
            "signed with", "is a realtor", "is an agent", "ya tenemos agente",
            "ya tengo agente", "ya tenemos un agente", "ya tengo un agente",
            "ya tenemos realtor", "ya tengo un realtor", "otro agente",
            "trabajando con un agente", "trabajamos con un agente", "tenemos un agente",
            "tenemos agente", "using an agent", "using a realtor", "have a broker",
            "working with a broker",
        ],
        Disqualify("has_agent"),
    );

    // Short answers.
    add(
        &[
            "yes", "yep", "yeah", "yea", "yup", "sure", "definitely", "absolutely", "we are",
            "i am", "correct", "si", "claro", "ya estamos", "already", "of course", "ya",
            "si estamos", "we have", "already are",
        ],
        Yes,
    );
    add(
        &[
            "no", "nope", "nah", "not yet", "no todavia", "todavia no", "aun no", "not really",
            "working on it", "still working on it", "en proceso", "not at the moment",
            "not right now", "todavia",
        ],
        No,
    );
    for (words, label) in [
        (&["school", "schools", "escuela", "escuelas", "school district"][..], "schools"),
        (&["work", "job", "trabajo", "chamba", "empleo", "the job", "my job"], "relocation"),
        (&["space", "room", "espacio", "kids", "ninos", "hijos"], "growing family"),
        (&["family", "familia", "parents", "papas", "padres"], "closer to family or work"),
        (&["rent", "renta", "renting", "rentar"], "stop renting"),
    ] {
        add(words, ReasonWord(label));
    }
    add(
        &[
            "i", "a", "an", "the", "my", "our", "your", "it", "this", "that", "cash", "person",
            "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
            "january", "february", "march", "april", "may", "june", "july", "august",
            "september", "october", "november", "december", "spring", "summer", "fall",
            "autumn", "winter", "touch", "mind", "advance", "fact", "general", "total", "el",
            "la", "los", "las", "un", "una", "mi", "su", "nuestra", "nuestro", "este", "esta",
            "enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
            "septiembre", "octubre", "noviembre", "diciembre", "verano", "invierno",
            "primavera", "lo", "que", "efectivo", "contado", "no", "not", "yes", "si", "any",
            "anywhere", "some", "something", "we", "he", "she", "they", "ok", "okay", "hi",
            "hello", "hola", "thanks", "gracias", "please", "asap", "fha", "va", "usda", "mls",
            "hoa", "zillow", "realtor", "redfin", "dm", "texas", "tx", "person", "cuanto",
            "cuando", "donde", "what", "when", "where", "how", "why", "which", "who", "north", "south", "east", "west", "northern", "southern", "downtown", "area", "norte", "sur", "oeste",
        ],
        NotName,
    );
    v
}
