//! Cargo.toml's `--no-inline=*…*` patterns for wasm-opt name functions of the core that a call
//! settling at once never runs (see the comment there). wasm-opt matches them against the
//! functions' names, so a rename would undo one silently and bring its code back into the
//! first call's compile. This fails instead: each pattern must name a function that exists and
//! is marked out of line for wasm32.
use std::fs;
use std::path::Path;

fn no_inline_patterns(manifest: &str) -> Vec<String> {
    manifest
        .split('"')
        .filter_map(|piece| piece.strip_prefix("--no-inline="))
        .map(|pattern| pattern.trim_matches('*').to_string())
        .collect()
}

fn rust_sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = fs::read_to_string(&path).expect("read a source file");
            out.push((path.display().to_string(), text));
        }
    }
}

/// Whether `source` defines `fn name` inside `impl owner` (any impl when `owner` is None),
/// with `inline(never)` for wasm32 among the lines just above it.
fn defines_out_of_line(source: &str, owner: Option<&str>, name: &str) -> bool {
    let lines: Vec<&str> = source.lines().collect();
    let mut current_impl = "";
    for (i, line) in lines.iter().enumerate() {
        if let Some(rest) = line.strip_prefix("impl ") {
            current_impl = rest.split(['<', ' ', '{']).next().unwrap_or("");
        }
        let trimmed = line.trim_start();
        let defines = trimmed.starts_with(&format!("fn {name}("))
            || trimmed.starts_with(&format!("pub fn {name}("))
            || trimmed.starts_with(&format!("pub(crate) fn {name}("));
        if !defines || owner.is_some_and(|o| o != current_impl) {
            continue;
        }
        let above = &lines[i.saturating_sub(4)..i];
        return above.iter().any(|l| l.contains("target_arch = \"wasm32\", inline(never)"));
    }
    false
}

#[test]
fn every_no_inline_pattern_names_an_out_of_line_function() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = fs::read_to_string(root.join("Cargo.toml")).expect("read Cargo.toml");
    let patterns = no_inline_patterns(&manifest);
    assert!(patterns.len() >= 3, "expected the three --no-inline patterns, found {patterns:?}");
    let mut sources = Vec::new();
    rust_sources(&root.join("src"), &mut sources);
    for pattern in &patterns {
        let (owner, name) = match pattern.rsplit_once("::") {
            Some((owner, name)) => (Some(owner), name),
            None => (None, pattern.as_str()),
        };
        let found = sources.iter().any(|(_, text)| defines_out_of_line(text, owner, name));
        assert!(
            found,
            "Cargo.toml has --no-inline=*{pattern}*, but no `fn {name}` {}marked \
             #[cfg_attr(target_arch = \"wasm32\", inline(never))] is in src/",
            owner.map(|o| format!("in `impl {o}` ")).unwrap_or_default()
        );
    }
}

#[test]
fn a_renamed_function_is_caught() {
    let source = "impl Pacer {\n    #[cfg_attr(target_arch = \"wasm32\", inline(never))]\n    pub fn observe_more(&mut self) {}\n}\n";
    assert!(!defines_out_of_line(source, Some("Pacer"), "observe"));
    let kept = source.replace("observe_more", "observe");
    assert!(defines_out_of_line(&kept, Some("Pacer"), "observe"));
    assert!(!defines_out_of_line(&kept, Some("Call"), "observe"), "another impl's function");
    let inlined = kept.replace("inline(never)", "inline");
    assert!(!defines_out_of_line(&inlined, Some("Pacer"), "observe"), "not out of line");
}
