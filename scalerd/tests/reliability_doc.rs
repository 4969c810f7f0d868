//! `docs/RELIABILITY.md` cannot rot: every test it names (`path/to/file.rs::test`, or
//! `file.rs::tests::test` for a unit test) exists, and the corpus size it states is the
//! corpus's.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `` `file.rs::name` `` reference of the page: (file, test name).
fn references(page: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for quoted in page.split('`').skip(1).step_by(2) {
        let Some((file, path)) = quoted.split_once(".rs::") else {
            continue;
        };
        let name = path.rsplit("::").next().unwrap_or_default();
        let plain = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_/-.".contains(c))
        };
        if plain(file) && plain(name) {
            out.push((format!("{file}.rs"), name.to_owned()));
        }
    }
    out
}

#[test]
fn every_test_the_reliability_table_names_exists() {
    let page = std::fs::read_to_string(root().join("docs/RELIABILITY.md")).unwrap();
    let refs = references(&page);
    assert!(refs.len() > 60, "{} references", refs.len());
    let mut missing = Vec::new();
    for (file, name) in &refs {
        let text = std::fs::read_to_string(root().join(file)).unwrap_or_default();
        // `fn name()` for a test, `fn name(x in …)` for a property test.
        let defined = text.contains(&format!("fn {name}()"))
            || text.contains(&format!("fn {name}(")) && text.contains("proptest!");
        if !defined {
            missing.push(format!("{file}::{name}"));
        }
    }
    assert!(
        missing.is_empty(),
        "named in docs/RELIABILITY.md, not found: {missing:#?}"
    );
}

#[test]
fn the_reliability_page_states_the_corpus_size() {
    let page = std::fs::read_to_string(root().join("docs/RELIABILITY.md")).unwrap();
    let dir = root().join("scalerd/tests/corpus/bad");
    let files = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "yaml")
        })
        .count();
    let lines: usize = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "expected"))
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
        .sum();
    assert!(
        page.contains(&format!("A corpus of {files} broken configs")),
        "the page should say {files} configs"
    );
    assert!(
        page.contains(&format!("({lines} lines in all)")),
        "the page should say {lines} lines"
    );
}
