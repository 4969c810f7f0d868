//! `scalerd simulate --plot`: every shipped sample trace renders to well-formed SVG that names
//! each series and marks what decided the ticks.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use scalerd::tools::plot::{self, Mark};
use scalerd::tools::simulate::{Tick, Trace, simulate};
use scalers_core::config::ValidatedObject;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every shipped trace with the config of the same name, sorted.
fn samples() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("examples/traces"))
        .expect("examples/traces exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .map(|p| p.file_stem().unwrap().to_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// Loads sample `name` and simulates it as the CLI does (one object, 1 initial replica).
fn run(name: &str) -> (ValidatedObject, Trace, Vec<Tick>) {
    let registry = scalerd::builtin_registry();
    let config = root().join(format!("examples/configs/{name}.yaml"));
    let mut objects = scalerd::load(&config, &registry)
        .unwrap_or_else(|e| panic!("examples/configs/{name}.yaml: {e}"));
    assert_eq!(objects.len(), 1, "{name}: one object per sample");
    let object = objects.remove(0);
    let file = format!("examples/traces/{name}.csv");
    let text = std::fs::read_to_string(root().join(&file)).unwrap();
    let trace = Trace::parse(&text, &file).unwrap();
    let ticks = simulate(&object, &trace, &file, 1).unwrap();
    (object, trace, ticks)
}

/// The texts of an SVG document, after checking that it parses as XML with an `svg` root.
fn svg_texts(svg: &str, name: &str) -> BTreeSet<String> {
    let doc = roxmltree::Document::parse(svg)
        .unwrap_or_else(|e| panic!("{name}: the SVG is not well-formed XML: {e}"));
    let svg_root = doc.root_element();
    assert_eq!(svg_root.tag_name().name(), "svg", "{name}");
    assert_eq!(svg_root.attribute("width"), Some("1200"), "{name}");
    assert_eq!(svg_root.attribute("height"), Some("780"), "{name}");
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_owned())
        .collect()
}

#[test]
fn every_sample_trace_renders_with_its_series_and_marks() {
    let names = samples();
    // At least these (a trace added later is rendered and checked too).
    for name in [
        "burst-limited",
        "keda-scaledobject",
        "scale-from-zero",
        "stabilized-scale-down",
    ] {
        assert!(names.iter().any(|n| n == name), "{name}: {names:?}");
    }
    for name in &names {
        let (object, trace, ticks) = run(name);
        let svg = plot::render(&object, &trace, &ticks).unwrap();
        let texts = svg_texts(&svg, name);
        for wanted in ["trigger values", "replicas", "time (s)", "value"] {
            assert!(texts.contains(wanted), "{name}: no {wanted:?} in {texts:?}");
        }
        for t in &object.triggers {
            assert!(texts.contains(&t.name), "{name}: no legend for {}", t.name);
        }
        let expected: BTreeSet<Mark> = ticks
            .iter()
            .flat_map(|t| plot::marks(&t.decision))
            .collect();
        assert!(!expected.is_empty(), "{name}: every sample shows some mark");
        for m in Mark::ALL {
            assert_eq!(
                texts.contains(m.label()),
                expected.contains(&m),
                "{name}: legend entry {:?}",
                m.label()
            );
        }
        let lines = roxmltree::Document::parse(&svg)
            .unwrap()
            .descendants()
            .filter(|n| n.has_tag_name("polyline"))
            .count();
        assert!(lines > 10, "{name}: only {lines} polylines");
    }
}

#[test]
fn samples_mark_what_they_demonstrate() {
    let marks = |name: &str| -> BTreeSet<Mark> {
        let (_, _, ticks) = run(name);
        ticks
            .iter()
            .flat_map(|t| plot::marks(&t.decision))
            .collect()
    };
    assert_eq!(
        marks("burst-limited"),
        BTreeSet::from([Mark::Window, Mark::RateLimit])
    );
    assert_eq!(
        marks("scale-from-zero"),
        BTreeSet::from([Mark::Activated, Mark::Cooldown, Mark::Window])
    );
    assert_eq!(
        marks("stabilized-scale-down"),
        BTreeSet::from([Mark::Window, Mark::RateLimit, Mark::Bounds, Mark::Held])
    );
    assert_eq!(
        marks("keda-scaledobject"),
        BTreeSet::from([
            Mark::Activated,
            Mark::Cooldown,
            Mark::Window,
            Mark::RateLimit,
            Mark::Fallback,
            Mark::Held
        ])
    );
}

#[test]
fn a_formula_adds_the_composite_metric_and_its_target_only() {
    let (object, trace, ticks) = run("keda-scaledobject");
    let texts = svg_texts(&plot::render(&object, &trace, &ticks).unwrap(), "keda");
    assert!(texts.contains("composite-metric"));
    assert!(texts.contains("target of composite-metric"));
    assert!(!texts.contains("target of pending"), "{texts:?}");
    assert!(texts.contains("failed sample"));

    let (object, trace, ticks) = run("burst-limited");
    let texts = svg_texts(&plot::render(&object, &trace, &ticks).unwrap(), "burst");
    assert!(texts.contains("target of backlog"));
    assert!(texts.contains("maxReplicaCount 30"), "{texts:?}");
    assert!(!texts.contains("failed sample"));
}

#[test]
fn the_cli_writes_the_plot_and_still_prints_the_csv() {
    let dir = std::env::temp_dir().join(format!("scalerd-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("scale-from-zero.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_scalerd"))
        .args([
            "simulate",
            "--config",
            "examples/configs/scale-from-zero.yaml",
            "--trace",
            "examples/traces/scale-from-zero.csv",
            "--plot",
            svg.to_str().unwrap(),
        ])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(
        csv.starts_with("time,replicas,active,reason\n0,1,false,"),
        "{csv}"
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(svg_texts(&text, "cli").contains("queue"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_cli_reports_a_plot_it_cannot_write() {
    let out = Command::new(env!("CARGO_BIN_EXE_scalerd"))
        .args([
            "simulate",
            "--config",
            "examples/configs/scale-from-zero.yaml",
            "--trace",
            "examples/traces/scale-from-zero.csv",
            "--plot",
            "/nonexistent-dir/out.svg",
        ])
        .current_dir(root())
        .output()
        .unwrap();
    // An output failure, not an input one: exit 1, and no CSV printed for a half-done run.
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("cannot write the output"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}
