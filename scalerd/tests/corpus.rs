//! Bad input: a corpus of broken configs, each refused by `scalerd check` with exit code 2 and
//! exactly the errors in its `.expected` file; and a few hundred mutated variants of the shipped
//! examples through the loader and validation, none of which may panic.
//!
//! Corpus layout: `tests/corpus/bad/NN-short-name.yaml` next to `NN-short-name.expected`, one
//! line per error, `{file}` standing for the config path as given to `--config` and
//! `{known_types}` for the built-in trigger types, as "unknown trigger type" errors list them.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::Command;

use scalers_core::config::auth::offline_secrets;
use scalers_core::config::{load_str, validate, validate_with_secrets};

/// Broken configs, relative to the crate directory (the `check` processes run there).
const CORPUS: &str = "tests/corpus/bad";
/// The one variable the corpus may rely on being set (`env` authentication sources).
const CORPUS_ENV: (&str, &str) = ("SCALERS_CORPUS_PASSWORD", "corpus-password");
/// Every variant a mutation run produces; a few hundred, as the issue asks.
const VARIANTS: usize = 600;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.yaml` of the corpus, sorted, as `tests/corpus/bad/NN-name.yaml`.
fn corpus_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(crate_dir().join(CORPUS))
        .expect("the corpus directory exists")
        .map(|e| {
            e.expect("readable entry")
                .file_name()
                .into_string()
                .unwrap()
        })
        .filter(|n| n.ends_with(".yaml"))
        .map(|n| format!("{CORPUS}/{n}"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_broken_config_is_refused_with_its_exact_errors() {
    let files = corpus_files();
    assert!(
        files.len() >= 40,
        "the corpus must hold at least 40 broken configs, found {}",
        files.len()
    );
    // The list that "unknown trigger type" errors end with grows with every trigger type.
    let known_types = scalerd::builtin_registry()
        .types()
        .collect::<Vec<_>>()
        .join(", ");
    let mut failures = Vec::new();
    for file in &files {
        let name = Path::new(file).file_name().unwrap().to_str().unwrap();
        assert!(
            name.len() > 3 && name.as_bytes()[..2].iter().all(u8::is_ascii_digit),
            "{name}: corpus files are named NN-short-name.yaml"
        );
        let expected_path = crate_dir().join(file.replace(".yaml", ".expected"));
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()))
            .replace("{file}", file)
            .replace("{known_types}", &known_types);
        // A clean environment: only PATH-free, locale-free defaults and the corpus variable.
        let out = Command::new(env!("CARGO_BIN_EXE_scalerd"))
            .args(["check", "--config", file])
            .current_dir(crate_dir())
            .env_clear()
            .env(CORPUS_ENV.0, CORPUS_ENV.1)
            .output()
            .expect("scalerd runs");
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        if out.status.code() != Some(2) || stderr != expected || !stdout.is_empty() {
            failures.push(format!(
                "{file}: exit {:?}\n--- expected stderr\n{expected}--- actual stderr\n{stderr}--- stdout\n{stdout}",
                out.status.code()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus files differ:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn every_expected_file_has_its_config() {
    let dir = crate_dir().join(CORPUS);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(stem) = name.strip_suffix(".expected") {
            assert!(
                dir.join(format!("{stem}.yaml")).exists(),
                "{name} has no {stem}.yaml"
            );
        } else {
            assert!(
                name.ends_with(".yaml"),
                "unexpected file {name} in {CORPUS}"
            );
        }
    }
}

// ---------------------------------------------------------------- mutations of the examples

/// xorshift64*: a small deterministic PRNG, so that a failing variant can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Scalars that are wrong somewhere: other types, limits, YAML oddities.
const EVIL_SCALARS: &[&str] = &[
    "-1",
    "0",
    "4294967296",
    "18446744073709551616",
    "1e400",
    "-1e400",
    ".nan",
    ".inf",
    "-.inf",
    "NaN",
    "~",
    "''",
    "\"\"",
    "[]",
    "{}",
    "[1, {a: b}]",
    "{type: prometheus}",
    "\"unterminated",
    "'unterminated",
    "!!binary aGVsbG8=",
    "!!str 5",
    "!custom tag",
    "*nowhere",
    "&anchor 3",
    "<<: {a: 1}",
    "true",
    "0x1F",
    "0o17",
    "1_000",
    "+5",
    "2.5",
    "é",
    "\u{202e}rtl",
    "|\n  block\n  text",
    ">-\n  folded",
    "'(a + b'",
    "'max(,)'",
    "'a ?? b ?? c ? : d'",
    "'1 / 0'",
    "'-(-(-(-(-(-(-(-1)))))))'",
    "'pending > 2 ? pending : retries * 1e308 * 1e308'",
];

/// Fragments inserted at random places.
const FRAGMENTS: &[&str] = &[
    ":", "- ", "{", "}", "[", "]", "\"", "'", "#", "&a ", "*a", "!", "|", ">", "%", "@", "`", "\t",
    "\n", "  ", "---\n", "...\n", "? ", ",", "\u{feff}", "\r\n",
];

/// Keys that may appear where they do not belong.
const KEYS: &[&str] = &[
    "name",
    "namespace",
    "scaleTargetRef",
    "triggers",
    "metadata",
    "type",
    "minReplicaCount",
    "maxReplicaCount",
    "pollingInterval",
    "cooldownPeriod",
    "fallback",
    "advanced",
    "scalingModifiers",
    "formula",
    "authenticationRef",
    "apiVersion",
    "kind",
    "spec",
    "scaledObjects",
    "authentications",
    "threshold",
    "serverAddress",
    "unknownField",
];

/// Applies one random mutation to `text`.
fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    let n = lines.len();
    match rng.below(9) {
        0 => {
            lines.remove(rng.below(n));
        }
        1 => {
            let i = rng.below(n);
            let line = lines[i].clone();
            lines.insert(i, line);
        }
        2 => {
            let (a, b) = (rng.below(n), rng.below(n));
            lines.swap(a, b);
        }
        3 => {
            // Replace the value after the first `: ` (or append one).
            let i = rng.below(n);
            let evil = rng.pick(EVIL_SCALARS);
            let line = &lines[i];
            lines[i] = match line.find(": ") {
                Some(at) => format!("{}: {evil}", &line[..at]),
                None => format!("{line} {evil}"),
            };
        }
        4 => {
            // Indent or dedent a line.
            let i = rng.below(n);
            if rng.below(2) == 0 {
                lines[i] = format!("  {}", lines[i]);
            } else {
                lines[i] = lines[i].trim_start().to_owned();
            }
        }
        5 => {
            // Truncate at a random character.
            let chars: Vec<char> = text.chars().collect();
            return chars[..rng.below(chars.len().max(1))].iter().collect();
        }
        6 => {
            // Insert a fragment at a random character.
            let chars: Vec<char> = text.chars().collect();
            let at = rng.below(chars.len() + 1);
            let mut out: String = chars[..at].iter().collect();
            out.push_str(rng.pick(FRAGMENTS));
            out.extend(&chars[at..]);
            return out;
        }
        7 => {
            // Rename a key.
            let i = rng.below(n);
            if let Some(at) = lines[i].find(':') {
                let indent = lines[i].len() - lines[i].trim_start().len();
                let dash = if lines[i].trim_start().starts_with("- ") {
                    "- "
                } else {
                    ""
                };
                let key = rng.pick(KEYS);
                lines[i] = format!("{}{dash}{key}{}", &lines[i][..indent], &lines[i][at..]);
            }
        }
        _ => {
            // Add a line with a random key and value at a random indentation.
            let i = rng.below(n + 1);
            let indent = " ".repeat(2 * rng.below(5));
            let line = format!("{indent}{}: {}", rng.pick(KEYS), rng.pick(EVIL_SCALARS));
            lines.insert(i, line);
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// The shipped example configs (the ones the built-in registry knows), by file name.
fn examples() -> BTreeMap<String, String> {
    let dir = crate_dir().join("../examples/configs");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            out.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    out
}

/// Loads `text` and validates it both ways: as `scalerd check` does (authentications read,
/// Kubernetes Secrets offline), and with no authentication values at all. Returns the errors
/// of each (empty for a valid config); a load error counts for both.
fn load_and_validate(
    text: &str,
    registry: &scalers_core::trigger::Registry,
) -> (Vec<String>, Vec<String>) {
    let env = |name: &str| (name == CORPUS_ENV.0).then(|| CORPUS_ENV.1.to_owned());
    let no_auth = |_: &_, _: &_| BTreeMap::new();
    let strings = |e: scalers_core::ConfigErrors| {
        assert!(!e.is_empty(), "an Err with no errors");
        e.iter().map(ToString::to_string).collect::<Vec<_>>()
    };
    let config = match load_str(text, "fuzz.yaml") {
        Ok(c) => c,
        Err(e) => {
            let errors = strings(e);
            return (errors.clone(), errors);
        }
    };
    let read = validate_with_secrets(&config, registry, "fuzz.yaml", &env, &offline_secrets);
    let plain = validate(&config, registry, "fuzz.yaml", &env, &no_auth);
    (
        read.err().map(strings).unwrap_or_default(),
        plain.err().map(strings).unwrap_or_default(),
    )
}

#[test]
fn mutated_examples_never_panic_and_every_error_is_located() {
    let registry = scalerd::builtin_registry();
    let examples = examples();
    assert!(examples.len() >= 8, "the shipped examples: {examples:?}");
    // Every example is valid as shipped (as `scalerd check` sees it).
    for (name, text) in &examples {
        assert_eq!(
            load_and_validate(text, &registry).0,
            Vec::<String>::new(),
            "{name}"
        );
    }
    let sources: Vec<(&String, &String)> = examples.iter().collect();
    let mut rng = Rng(0x5CA1_E125_0009_0001);
    let (mut refused, mut accepted) = (0, 0);
    let mut panics = Vec::new();
    for variant in 0..VARIANTS {
        let (name, original) = sources[variant % sources.len()];
        let mut text = original.clone();
        for _ in 0..=rng.below(3) {
            text = mutate(&mut rng, &text);
        }
        match catch_unwind(AssertUnwindSafe(|| load_and_validate(&text, &registry))) {
            Ok((read, plain)) => {
                if read.is_empty() {
                    accepted += 1;
                } else {
                    refused += 1;
                }
                for e in read.iter().chain(&plain) {
                    assert!(
                        e.starts_with("fuzz.yaml: ") && e.len() > "fuzz.yaml: ".len(),
                        "variant {variant} of {name}: an error without its file: {e:?}\n{text}"
                    );
                    assert!(!e.contains("panicked"), "{e}");
                }
            }
            Err(_) => panics.push(format!("variant {variant} of {name}:\n{text}")),
        }
    }
    assert!(panics.is_empty(), "panics:\n{}", panics.join("\n---\n"));
    assert_eq!(refused + accepted, VARIANTS);
    // The mutations are not all harmless, nor all fatal.
    assert!(refused > VARIANTS / 4, "only {refused} refused");
    assert!(accepted > 0, "every variant was refused");
}

// ---------------------------------------------------------------- random formulas and traces

/// Tokens that corrupt a formula: the language's own, misplaced, and some it does not have.
const FORMULA_NOISE: &[&str] = &[
    "-", "+", "*", "/", "%", "(", ")", ",", "?", ":", "??", "==", "<", "&&", "||", "!", "max",
    "nil", " ", "$", "'", "\"", ".", "é", "\u{0}", "((((", "))))", "1e999", "nope",
];

/// A random well-formed formula over `a`, `b` and `c` (`c` has no value), `depth` deep at most.
fn formula(rng: &mut Rng, depth: usize) -> String {
    let leaf = |rng: &mut Rng| -> String {
        rng.pick(&["a", "b", "c", "0", "1", "2.5", "1e308", "-3", "nil", "true"])
            .to_owned()
    };
    if depth == 0 {
        return leaf(rng);
    }
    let d = depth - 1;
    match rng.below(8) {
        0 => leaf(rng),
        1 | 2 => {
            let op = rng.pick(&[
                "+", "-", "*", "/", "%", "==", "!=", "<", ">=", "&&", "||", "??",
            ]);
            format!("{} {op} {}", formula(rng, d), formula(rng, d))
        }
        3 => format!("({})", formula(rng, d)),
        4 => format!("-{}", formula(rng, d)),
        5 => {
            let f = rng.pick(&["max", "min", "abs", "round", "floor", "ceil"]);
            let n = 1 + rng.below(3);
            let args: Vec<String> = (0..n).map(|_| formula(rng, d)).collect();
            format!("{f}({})", args.join(", "))
        }
        6 => format!(
            "{} ? {} : {}",
            formula(rng, d),
            formula(rng, d),
            formula(rng, d)
        ),
        _ => format!("!{}", formula(rng, d)),
    }
}

#[test]
fn random_formulas_parse_or_fail_and_never_panic() {
    let mut rng = Rng(0x0F0E_0D0C_0B0A_0908);
    let values = |name: &str| match name {
        "a" => Some(3.0),
        "b" => Some(-0.5),
        _ => None,
    };
    let (mut parsed, mut evaluated, mut refused) = (0, 0, 0);
    for case in 0..2000 {
        let depth = 1 + rng.below(4);
        let mut source = formula(&mut rng, depth);
        if rng.below(3) == 0 {
            // Corrupt it: a token in, or a character out.
            let chars: Vec<char> = source.chars().collect();
            let at = rng.below(chars.len() + 1);
            let mut out: String = chars[..at].iter().collect();
            if rng.below(2) == 0 {
                out.push_str(rng.pick(FORMULA_NOISE));
                out.extend(&chars[at..]);
            } else {
                out.extend(chars.iter().skip(at + 1));
            }
            source = out;
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            match scalers_core::formula::Formula::parse(&source) {
                // Evaluation may fail (a missing value, a type error), never panic.
                Ok(f) => Ok(f.eval(&values).is_ok()),
                Err(e) => Err(e.to_string()),
            }
        }));
        match outcome {
            Ok(Ok(ok)) => {
                parsed += 1;
                evaluated += usize::from(ok);
            }
            Ok(Err(e)) => {
                refused += 1;
                assert!(!e.is_empty(), "case {case}: {source:?}");
            }
            Err(_) => panic!("case {case}: formula {source:?} panicked"),
        }
    }
    assert!(
        parsed > 1000 && evaluated > 200 && refused > 100,
        "{parsed} parsed, {evaluated} evaluated, {refused} refused"
    );
}

#[test]
fn random_traces_parse_or_fail_with_a_line_and_never_panic() {
    let mut rng = Rng(0x7A0E_5EED_0000_0042);
    let cells: &[&str] = &[
        "0",
        "15",
        "30",
        "-1",
        "1e400",
        "NaN",
        "inf",
        "",
        "error",
        "x",
        "1.5",
        "00",
        " 3 ",
        "\"4\"",
        "18446744073709551616",
        "queue",
        "time",
    ];
    for case in 0..1000 {
        let mut text = String::from(rng.pick(&[
            "time,queue\n",
            "time,queue,other\n",
            "queue,time\n",
            "",
            "time\n",
        ]));
        for _ in 0..rng.below(6) {
            let n = rng.below(4);
            let row: Vec<&str> = (0..n).map(|_| rng.pick(cells)).collect();
            text.push_str(&row.join(","));
            text.push('\n');
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            scalerd::tools::simulate::Trace::parse(&text, "trace.csv").map_err(|e| e.to_string())
        }));
        match outcome {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => assert!(e.starts_with("trace.csv: "), "case {case}: {e:?}\n{text}"),
            Err(_) => panic!("case {case}: trace panicked:\n{text}"),
        }
    }
}
