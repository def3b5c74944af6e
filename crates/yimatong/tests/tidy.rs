//! Tidy checks, run as tests (in the style of rust-analyzer's `tidy.rs`).
//!
//! Each check is a pure function over data (file texts, dependency lists, the
//! OpenAPI document), so that unit tests can show that it fails when its rule
//! is broken: a check never seen failing may be checking nothing. Each
//! `workspace_*` test applies a check to the real tree.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::iter::successors as successors_of;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

fn workspace_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Every `.rs` file under `directory`, sorted so that reports are stable, as
/// (path relative to `base` with `/` separators, text).
fn rust_files_under(base: &Path, directory: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for entry in fs::read_dir(directory).expect("read a directory") {
        let path = entry.expect("read a directory entry").path();
        if path.is_dir() {
            files.extend(rust_files_under(base, &path));
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            let relative = path.strip_prefix(base).expect("a file under the base");
            let relative = relative.to_string_lossy().replace('\\', "/");
            let text = fs::read_to_string(&path).expect("read a Rust file");
            files.push((relative, text));
        }
    }
    files.sort();
    files
}

/// Fails with every problem on its own line, under the rule they break.
fn assert_no_problems(rule: &str, problems: &[String]) {
    assert!(problems.is_empty(), "{rule}\n  {}", problems.join("\n  "));
}

// ---- 1. No HTTP in the node library ----------------------------------------

/// The node library is the domain core that the HTTP crate and the command
/// line both build on. Keeping it free of the HTTP stack keeps wire concerns
/// out of it and keeps tools that embed a node from compiling a server.
const NODE_LIBRARY_PACKAGE: &str = "ymt-node";
/// Split on whitespace; one string keeps the list on one line.
const HTTP_SERVER_PACKAGES: &str =
    "axum axum-core hyper hyper-util tower tower-http tower-layer tower-service";

/// Package id -> (package name, ids of its normal dependencies). By id, as
/// two versions of one package can be in the graph at once.
type DependencyGraph = BTreeMap<String, (String, Vec<String>)>;

/// The items of a JSON array; none for anything else.
fn items(value: &Value) -> &[Value] {
    value.as_array().map_or(&[], Vec::as_slice)
}

/// The graph of the resolved packages in the output of `cargo metadata
/// --format-version 1`. Without a resolve the graph is empty, so the check
/// fails rather than passing on nothing.
fn normal_dependency_graph(metadata: &Value) -> DependencyGraph {
    let packages = items(&metadata["packages"]);
    let mut graph = DependencyGraph::new();
    for node in items(&metadata["resolve"]["nodes"]) {
        let id = node["id"].as_str().unwrap_or_default();
        let package = packages.iter().find(|package| package["id"] == id);
        let name = package.map_or(id, |package| package["name"].as_str().unwrap_or(id));
        let mut normal_dependencies = Vec::new();
        for dependency in items(&node["deps"]) {
            // `kind` is null for a normal dependency, and "dev" or "build"
            // for one that never reaches users of the library. A package can
            // be of several kinds at once: any null kind makes it normal.
            if items(&dependency["dep_kinds"])
                .iter()
                .any(|kind| kind["kind"].is_null())
            {
                normal_dependencies.extend(dependency["pkg"].as_str().map(str::to_owned));
            }
        }
        graph.insert(id.to_owned(), (name.to_owned(), normal_dependencies));
    }
    graph
}

/// One problem per forbidden package that `root_package_name` reaches through
/// normal dependencies, naming a shortest chain of packages that leads to it.
fn forbidden_dependency_paths(
    graph: &DependencyGraph,
    root_package_name: &str,
    forbidden_package_names: &str,
) -> Vec<String> {
    let name_of = |id: &str| graph.get(id).map_or("", |(name, _)| name.as_str());
    let forbidden_names: Vec<&str> = forbidden_package_names.split_whitespace().collect();
    let is_forbidden = |id: &str| forbidden_names.contains(&name_of(id));
    let Some(root_id) = graph
        .iter()
        .find_map(|(id, (name, _))| (name == root_package_name).then_some(id.as_str()))
    else {
        return vec![format!("{root_package_name} is not a workspace package")];
    };
    let dependencies_of = |id: &str| -> Vec<&str> {
        // Not through a forbidden package: what it pulls in goes away with
        // it, so only the first forbidden package on a chain is reported.
        let mut dependencies: Vec<&str> = match graph.get(id) {
            Some((_, dependencies)) if !is_forbidden(id) => {
                dependencies.iter().map(String::as_str).collect()
            }
            _ => Vec::new(),
        };
        dependencies.sort_by_key(|&dependency| (name_of(dependency), dependency));
        dependencies
    };
    let mut problems = Vec::new();
    for forbidden_id in graph.keys().filter(|id| is_forbidden(id)) {
        if let Some(chain) = shortest_path(root_id, dependencies_of, |id| id == forbidden_id) {
            let names: Vec<&str> = chain.into_iter().map(name_of).collect();
            problems.push(format!("{}: {}", name_of(forbidden_id), names.join(" -> ")));
        }
    }
    problems
}

/// A shortest path from `start` to a node that `is_goal` accepts, walking
/// `successors` breadth first; `start` itself is a goal only as the end of a
/// cycle. Successors are walked in the order given, so reports are stable.
fn shortest_path<'a>(
    start: &'a str,
    successors: impl Fn(&'a str) -> Vec<&'a str>,
    is_goal: impl Fn(&str) -> bool,
) -> Option<Vec<&'a str>> {
    let mut parent_of: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(current) = queue.pop_front() {
        for next in successors(current) {
            if is_goal(next) {
                let back_to_start = |node: &&'a str| parent_of.get(node).copied();
                let mut path: Vec<&str> = successors_of(Some(current), back_to_start).collect();
                path.reverse();
                path.push(next);
                return Some(path);
            }
            if next != start && !parent_of.contains_key(next) {
                parent_of.insert(next, current);
                queue.push_back(next);
            }
        }
    }
    None
}

#[test]
fn workspace_node_library_has_no_http_server_dependencies() {
    assert!(
        workspace_root().join("crates/ymt-node").is_dir(),
        "crates/ymt-node is missing: this check applies once crates/ymt-server is split \
         into ymt-node and ymt-http"
    );
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(workspace_root())
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata's JSON");
    let graph = normal_dependency_graph(&metadata);
    assert_no_problems(
        "ymt-node must not depend on an HTTP server crate through normal dependencies:",
        &forbidden_dependency_paths(&graph, NODE_LIBRARY_PACKAGE, HTTP_SERVER_PACKAGES),
    );
}

/// The cluster crate owns the NATS transport and the apply loop; the
/// node-to-node HTTP API, if any, belongs to ymt-http. Keeping it free of the
/// HTTP stack keeps the layering: node library, transport, then adapters.
const CLUSTER_PACKAGE: &str = "ymt-cluster";

#[test]
fn workspace_cluster_crate_has_no_http_server_dependencies() {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(workspace_root())
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata's JSON");
    let graph = normal_dependency_graph(&metadata);
    let mut problems = forbidden_dependency_paths(&graph, CLUSTER_PACKAGE, HTTP_SERVER_PACKAGES);
    // ... nor on the HTTP adapter itself.
    problems.extend(forbidden_dependency_paths(
        &graph,
        CLUSTER_PACKAGE,
        "ymt-http",
    ));
    assert_no_problems(
        "ymt-cluster must not depend on an HTTP server crate or on ymt-http:",
        &problems,
    );
}

// ---- 2. No import cycles between the top-level modules of a crate ----------

/// The tokens of a text, each with the index of its first character: words
/// (identifiers and keywords), `::`, and single punctuation characters.
/// Comments, string, raw string and character literals and numbers produce
/// no token, so that a path in a doc comment or a message is no import.
fn tokens_of(characters: &[char]) -> Vec<(String, usize)> {
    let character_at = |index: usize| characters.get(index).copied();
    let index_of_next = |target: char, from: usize| {
        (from..characters.len())
            .find(|&index| characters[index] == target)
            .unwrap_or(characters.len())
    };
    let mut tokens = Vec::new();
    let mut index = 0;
    while let Some(character) = character_at(index) {
        let start = index;
        let next = character_at(index + 1);
        if character.is_whitespace() {
            index += 1;
        } else if character == '/' && next == Some('/') {
            index = index_of_next('\n', index);
        } else if character == '/' && next == Some('*') {
            // Block comments nest in Rust.
            let mut depth = 0;
            while let Some(pair) = characters.get(index..index + 2) {
                let (opens, closes) = (pair == ['/', '*'], pair == ['*', '/']);
                depth += i32::from(opens) - i32::from(closes);
                index += 1 + usize::from(opens || closes);
                if depth == 0 {
                    break;
                }
            }
        } else if character == '"' {
            index = index_after_string(characters, index + 1, None);
        } else if character == '\'' {
            // A character literal ('x', '\n', '\'', '\u{1F600}') or a lifetime
            // or label ('a), which has no closing quote two characters on.
            index += 1;
            if next == Some('\\') || character_at(index + 1) == Some('\'') {
                let escaped = usize::from(next == Some('\\'));
                index = index_of_next('\'', index + 1 + escaped) + 1;
            }
        } else if character.is_alphanumeric() || character == '_' {
            while character_at(index).is_some_and(|other| other.is_alphanumeric() || other == '_') {
                index += 1;
            }
            let word: String = characters[start..index].iter().collect();
            let hashes = characters[index..]
                .iter()
                .take_while(|&&other| other == '#')
                .count();
            if matches!(word.as_str(), "r" | "br" | "cr")
                && character_at(index + hashes) == Some('"')
            {
                index = index_after_string(characters, index + hashes + 1, Some(hashes));
            } else if word == "r" && hashes == 1 {
                // A raw identifier (r#type): its name is the next token.
                index += 1;
            } else if !character.is_ascii_digit() {
                tokens.push((word, start));
            }
        } else {
            let is_path_separator = character == ':' && next == Some(':');
            index += 1 + usize::from(is_path_separator);
            tokens.push((characters[start..index].iter().collect(), start));
        }
    }
    tokens
}

/// The index after the closing quote of a string whose content starts at
/// `start`. A raw string (`raw_hashes` is Some) has no escapes and closes
/// with a quote followed by as many `#` as it opened with.
fn index_after_string(characters: &[char], start: usize, raw_hashes: Option<usize>) -> usize {
    let mut index = start;
    while let Some(&character) = characters.get(index) {
        match (character, raw_hashes) {
            ('\\', None) => index += 2,
            ('"', None) => return index + 1,
            ('"', Some(hashes)) if characters[index + 1..].starts_with(&['#'].repeat(hashes)) => {
                return index + 1 + hashes;
            }
            _ => index += 1,
        }
    }
    index
}

/// Whether a token is a word (an identifier or a keyword), not punctuation.
fn is_word(token: &str) -> bool {
    token.starts_with(|first: char| first.is_alphabetic() || first == '_')
}

/// The first names of the path that starts at token `start`: `bar` for
/// `bar::X`, and `bar` and `baz` for the group `{bar, baz::{X, Y}}`.
fn first_names_of_path(tokens: &[(String, usize)], start: usize) -> Vec<(String, usize)> {
    let mut names = Vec::new();
    let mut depth = 0;
    for (index, (token, offset)) in tokens.iter().enumerate().skip(start) {
        // An element of the group starts right after its `{` or a `,`.
        let starts_element = depth == 1 && matches!(tokens[index - 1].0.as_str(), "{" | ",");
        match token.as_str() {
            word if index == start && is_word(word) => return vec![(word.to_owned(), *offset)],
            "{" => depth += 1,
            "}" => depth -= 1,
            word if starts_element && is_word(word) => names.push((word.to_owned(), *offset)),
            _ => {}
        }
        if depth == 0 {
            break;
        }
    }
    names
}

/// The names that a file reaches at the crate root, with their 1-based
/// lines: `crate::bar` anywhere, and `super::bar` where `super` climbs to the
/// root. `module_path` is the file's module (`["foo", "inner"]` for
/// `src/foo/inner.rs`); an inline module such as `mod tests { .. }` adds a
/// level, so `super::bar` inside it does not reach the root.
fn names_reached_at_crate_root(text: &str, module_path: &[String]) -> Vec<(String, usize)> {
    let characters: Vec<char> = text.chars().collect();
    let tokens = tokens_of(&characters);
    let token_at = |index: usize| tokens.get(index).map(|(token, _)| token.as_str());
    let mut names = Vec::new();
    let mut brace_depth = 0_usize;
    let mut inline_module_depths: Vec<usize> = Vec::new();
    for (index, (token, _)) in tokens.iter().enumerate() {
        // Only a path's first segment: in `a::crate` or `super::super` the
        // later segment is part of a path already looked at.
        let starts_path =
            token_at(index + 1) == Some("::") && token_at(index.wrapping_sub(1)) != Some("::");
        match token.as_str() {
            "{" => {
                let opens_inline_module = index >= 2
                    && token_at(index - 2) == Some("mod")
                    && token_at(index - 1).is_some_and(is_word);
                if opens_inline_module {
                    inline_module_depths.push(brace_depth);
                }
                brace_depth += 1;
            }
            "}" => {
                brace_depth = brace_depth.saturating_sub(1);
                if inline_module_depths.last() == Some(&brace_depth) {
                    inline_module_depths.pop();
                }
            }
            "crate" if starts_path => names.extend(first_names_of_path(&tokens, index + 2)),
            "super" if starts_path => {
                let mut levels_up = 1;
                let mut after = index + 2;
                while token_at(after) == Some("super") && token_at(after + 1) == Some("::") {
                    levels_up += 1;
                    after += 2;
                }
                // Fewer levels stay inside the file's own top-level module.
                if levels_up == module_path.len() + inline_module_depths.len() {
                    names.extend(first_names_of_path(&tokens, after));
                }
            }
            _ => {}
        }
    }
    // Each name's offset becomes its line.
    let line_at = |offset: usize| 1 + characters[..offset].iter().filter(|c| **c == '\n').count();
    names
        .iter_mut()
        .for_each(|(_, offset)| *offset = line_at(*offset));
    names
}

/// The module of a file relative to its crate directory: `src/foo.rs` and
/// `src/foo/mod.rs` are `["foo"]`, `src/foo/bar.rs` is `["foo", "bar"]`,
/// `src/lib.rs` and `src/main.rs` are the root `[]`. None for files that
/// are not in the crate's module tree (each `src/bin/*` is a crate root).
fn module_path_of_file(relative_path: &str) -> Option<Vec<String>> {
    let inside_source = relative_path.strip_prefix("src/")?.strip_suffix(".rs")?;
    // `mod` is a keyword, so no module has that name: `x/mod.rs` is `x`.
    let components = inside_source
        .split('/')
        .filter(|&component| component != "mod");
    match inside_source {
        "lib" | "main" => Some(Vec::new()),
        _ if inside_source.starts_with("bin/") => None,
        _ => Some(components.map(str::to_owned).collect()),
    }
}

/// One problem per set of top-level modules of a crate that import each other
/// in a cycle (a strongly connected component of more than one module).
/// Modules that import each other cannot be understood, tested or moved to
/// another crate one at a time, which is what splitting ymt-server needed.
/// The root is left out: it declares every module, so it is in every cycle.
fn module_cycles(crate_name: &str, files: &[(String, String)]) -> Vec<String> {
    let top_level_modules: BTreeSet<String> = files
        .iter()
        .filter_map(|(path, _)| module_path_of_file(path)?.first().cloned())
        .collect();
    // imports[from][to] is where `from` first names `to`: the evidence.
    let mut imports: BTreeMap<&str, BTreeMap<&str, String>> = BTreeMap::new();
    for (relative_path, text) in files {
        // Neither the root's mentions are evidence (it declares every
        // module) nor those of files outside the module tree.
        let module_path = module_path_of_file(relative_path).unwrap_or_default();
        let Some(importing_module) = module_path
            .first()
            .and_then(|first| top_level_modules.get(first))
        else {
            continue;
        };
        for (name, line) in names_reached_at_crate_root(text, &module_path) {
            if let Some(imported_module) = top_level_modules.get(&name)
                && imported_module != importing_module
            {
                imports
                    .entry(importing_module)
                    .or_default()
                    .entry(imported_module)
                    .or_insert_with(|| format!("{relative_path}:{line}"));
            }
        }
    }
    let imported_by = |module: &str| -> Vec<&str> {
        imports
            .get(module)
            .map_or(Vec::new(), |to| to.keys().copied().collect())
    };
    let mut problems = Vec::new();
    let mut reported: BTreeSet<&str> = BTreeSet::new();
    for module in top_level_modules.iter().map(String::as_str) {
        // The shortest cycle through the first module of a knot: the
        // smallest piece of it to show, and a place to cut it.
        if reported.contains(module) {
            continue;
        }
        let Some(cycle) = shortest_path(module, imported_by, |other| other == module) else {
            continue;
        };
        let reaches = |from, to| shortest_path(from, imported_by, |other| other == to).is_some();
        let knot: Vec<&str> = top_level_modules
            .iter()
            .map(String::as_str)
            .filter(|&other| reaches(module, other) && reaches(other, module))
            .collect();
        reported.extend(&knot);
        let mut problem = format!("{crate_name}: {}", cycle.join(" -> "));
        for pair in cycle.windows(2) {
            let evidence = &imports[pair[0]][pair[1]];
            problem.push_str(&format!("\n    {} -> {}: {evidence}", pair[0], pair[1]));
        }
        if knot.len() > cycle.len() - 1 {
            let members = knot.join(", ");
            problem.push_str(&format!("\n    all of these reach each other: {members}"));
        }
        problems.push(problem);
    }
    problems
}

#[test]
fn workspace_crates_have_no_import_cycles_between_top_level_modules() {
    // Every crate directory is named after its package.
    let mut files_by_crate: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (path, text) in rust_files_under(workspace_root(), &workspace_root().join("crates")) {
        let (crate_name, path_in_crate) = path["crates/".len()..].split_once('/').expect("a crate");
        let files = files_by_crate.entry(crate_name.to_owned()).or_default();
        files.push((path_in_crate.to_owned(), text));
    }
    let problems: Vec<String> = files_by_crate
        .iter()
        .flat_map(|(crate_name, files)| module_cycles(crate_name, files))
        .collect();
    assert_no_problems(
        "top-level modules of a crate must not import each other in a cycle:",
        &problems,
    );
}

// ---- 3. File size ----------------------------------------------------------

/// Long files are hard to review and usually hold more than one idea. The
/// few that are long for a reason say why in the allow-list.
const LONG_FILE_LINES_MAX: usize = 800;
const LONG_FILE_ALLOW_LIST: &str = "crates/yimatong/tests/tidy-allow-long-files.txt";

/// Problems with the length of the files (`line_counts` by path relative to
/// the workspace root) and with the allow-list, whose lines are
/// `path<TAB>reason`. An entry that no longer applies is a problem too, so
/// that the list stays a true account of the long files.
fn long_file_problems(line_counts: &BTreeMap<String, usize>, allow_list: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut allowed_paths = BTreeSet::new();
    for (index, entry) in allow_list.lines().enumerate() {
        let at = format!("allow-list line {}", index + 1);
        let Some((path, _reason)) = entry
            .split_once('\t')
            .filter(|(path, reason)| !path.trim().is_empty() && !reason.trim().is_empty())
        else {
            problems.push(format!(
                "{at}: not `path<TAB>reason` with a reason: {entry:?}"
            ));
            continue;
        };
        if !allowed_paths.insert(path) {
            problems.push(format!("{at}: {path} is listed twice"));
            continue;
        }
        match line_counts.get(path) {
            None => problems.push(format!("{at}: {path} does not exist; remove the line")),
            Some(&count) if count <= LONG_FILE_LINES_MAX => problems.push(format!(
                "{at}: {path} has {count} lines, not over {LONG_FILE_LINES_MAX}; remove the line"
            )),
            Some(_) => {}
        }
    }
    for (path, &count) in line_counts {
        if count > LONG_FILE_LINES_MAX && !allowed_paths.contains(path.as_str()) {
            problems.push(format!(
                "{path} has {count} lines: split it, or allow-list it with a reason"
            ));
        }
    }
    problems
}

#[test]
fn workspace_rust_files_are_short_or_allow_listed() {
    let line_counts: BTreeMap<String, usize> =
        rust_files_under(workspace_root(), &workspace_root().join("crates"))
            .into_iter()
            .map(|(path, text)| (path, text.lines().count()))
            .collect();
    let allow_list = fs::read_to_string(workspace_root().join(LONG_FILE_ALLOW_LIST))
        .unwrap_or_else(|error| panic!("read {LONG_FILE_ALLOW_LIST}: {error}"));
    assert_no_problems(
        &format!(
            "Rust files under crates/ must have at most {LONG_FILE_LINES_MAX} lines, unless \
             {LONG_FILE_ALLOW_LIST} lists them as `path<TAB>reason`:"
        ),
        &long_file_problems(&line_counts, &allow_list),
    );
}

// ---- 4. Routes are documented ----------------------------------------------

/// Every (method, path template) the router serves that the OpenAPI document
/// does not describe. A route parameter (`{id_action}`) may be documented as
/// one path per verb (`{id}:approve`). Clients and the authorization matrix
/// read the document, so an undescribed route is one they silently miss.
fn undocumented_routes(routes: &[(String, String)], openapi: &Value) -> Vec<String> {
    let covers = |route: &str, documented: &str| {
        let (route, documented) = (route.split('/'), documented.split('/'));
        route.clone().count() == documented.clone().count()
            && route
                .zip(documented)
                .all(|(r, d)| r == d || (r.starts_with('{') && d.starts_with('{')))
    };
    let paths = openapi["paths"].as_object().cloned().unwrap_or_default();
    let mut problems = Vec::new();
    for (method, path) in routes {
        let operation = method.to_ascii_lowercase();
        let items: Vec<&Value> = paths
            .iter()
            .filter(|(d, _)| covers(path, d))
            .map(|(_, i)| i)
            .collect();
        if items.is_empty() {
            problems.push(format!("{method} {path}: no {path} under `paths`"));
        } else if !items.iter().any(|item| item.get(&operation).is_some()) {
            problems.push(format!(
                "{method} {path}: {path} has no `{operation}` operation"
            ));
        }
    }
    problems
}

#[test]
fn workspace_routes_are_all_in_the_openapi_document() {
    let openapi: Value = ymt_http::openapi_json();
    let problems = undocumented_routes(&ymt_http::route_table(), &openapi);
    assert_no_problems(
        "every route of routes.rs is described in /openapi.json:",
        &problems,
    );
}

// ---- Unit tests: each check fails on a broken rule, passes on clean input --

/// Cargo-metadata-shaped JSON from lines `package: dependency...`, where a
/// dependency that is not normal has its kind in parentheses: `hyper(dev)`.
fn metadata_fixture(fixture: &str) -> Value {
    let id = |name: &str| format!("registry+https://example.test#{name}@1.0.0");
    let mut dependencies_of: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for (package, dependencies) in fixture.lines().filter_map(|line| line.split_once(':')) {
        let mut entries = Vec::new();
        for dependency in dependencies.split_whitespace() {
            let (name, kind) = match dependency
                .strip_suffix(')')
                .and_then(|with_kind| with_kind.split_once('('))
            {
                Some((name, kind)) => (name, Some(kind)),
                None => (dependency, None),
            };
            dependencies_of.entry(name).or_default();
            entries.push(json!({"pkg": id(name), "dep_kinds": [{"kind": kind, "target": null}]}));
        }
        dependencies_of.insert(package.trim(), entries);
    }
    let packages: Vec<Value> = dependencies_of
        .keys()
        .map(|name| json!({"id": id(name), "name": name}))
        .collect();
    let nodes: Vec<Value> = dependencies_of
        .iter()
        .map(|(name, deps)| json!({"id": id(name), "deps": deps}))
        .collect();
    json!({"packages": packages, "resolve": {"nodes": nodes}})
}

fn check_http_dependencies(fixture: &str, expect: &[&str]) {
    let graph = normal_dependency_graph(&metadata_fixture(fixture));
    let problems = forbidden_dependency_paths(&graph, NODE_LIBRARY_PACKAGE, HTTP_SERVER_PACKAGES);
    assert_eq!(problems, expect);
}

#[test]
fn http_dependencies_direct_transitive_or_a_missing_node_library_are_reported() {
    // hyper is only behind axum: it is reported through axum, not again.
    check_http_dependencies(
        "ymt-node: foo axum\n axum: hyper\n foo: bar\n bar: tower-service",
        &[
            "axum: ymt-node -> axum",
            "tower-service: ymt-node -> foo -> bar -> tower-service",
        ],
    );
    check_http_dependencies("ymt-http: axum", &["ymt-node is not a workspace package"]);
}

#[test]
fn http_dependencies_of_dev_and_build_kinds_and_of_other_packages_are_allowed() {
    check_http_dependencies(
        "ymt-node: hyper(dev) foo(build) serde\n foo: axum\n ymt-http: ymt-node axum",
        &[],
    );
}

/// Splits a fixture into files at lines `//- path`, as rust-analyzer does.
fn check_module_cycles(fixture: &str, expect: &[&str]) {
    let files: Vec<(String, String)> = fixture
        .split("//- ")
        .skip(1)
        .map(|file| file.split_once('\n').expect("a path line"))
        .map(|(path, text)| (path.to_owned(), text.to_owned()))
        .collect();
    assert_eq!(module_cycles("demo", &files), expect);
}

#[test]
fn module_cycles_of_two_modules_are_reported_with_where_they_import() {
    check_module_cycles(
        "
//- src/lib.rs
mod a;
mod b;
pub use a::A;
//- src/a.rs
//! A.

use crate::b::B;
pub struct A;
//- src/b.rs
pub struct B(crate::a::A);
",
        &["demo: a -> b -> a\n    a -> b: src/a.rs:3\n    b -> a: src/b.rs:1"],
    );
}

#[test]
fn module_cycles_are_found_through_groups_super_and_submodules() {
    check_module_cycles(
        "
//- src/a/mod.rs
use crate::{c, b::{X, Y}};
//- src/a/inner.rs
use super::super::c::Z;
//- src/b.rs
fn f() { super::a::g() }
//- src/c.rs
use crate::{
    self,
    Root,
};
",
        &["demo: a -> b -> a\n    a -> b: src/a/mod.rs:1\n    b -> a: src/b.rs:1"],
    );
}

#[test]
fn module_cycles_longer_than_two_name_every_module_that_takes_part() {
    check_module_cycles(
        "
//- src/a.rs
use crate::b;
//- src/b.rs
use crate::c; use crate::d;
//- src/c.rs
use crate::a;
//- src/d.rs
use crate::b;
//- src/e.rs
use crate::a;
",
        &[
            "demo: a -> b -> c -> a\n    a -> b: src/a.rs:1\n    b -> c: src/b.rs:1\n    \
           c -> a: src/c.rs:1\n    all of these reach each other: a, b, c, d",
        ],
    );
}

/// Mentions of `crate::b` that are no import of module b.
const MENTIONS_OUTSIDE_CODE: &str = r##"// crate::b
/* crate::b /* nested */ crate::b */
const TEXT: &str = "crate::b \" \
    crate::b";
const RAW: &str = r#"crate::b "quoted" crate::b"#;
const QUOTES: [char; 2] = ['"', '\'']; fn f<'a>(x: &'a str) -> crate::Root { todo!() }
#[cfg(test)]
mod tests {
    use super::b;
}
"##;

#[test]
fn module_cycles_ignore_comments_strings_root_items_and_inline_modules() {
    let fixture = "
//- src/main.rs
mod a; mod b; use crate::a::A; use crate::b::B;
//- src/b.rs
use crate::a::A;
//- src/a.rs
";
    check_module_cycles(&format!("{fixture}{MENTIONS_OUTSIDE_CODE}"), &[]);
    // Once a mention is code, the same file does import b, on line 11.
    check_module_cycles(
        &format!("{fixture}{MENTIONS_OUTSIDE_CODE}use crate::b::B;\n"),
        &["demo: a -> b -> a\n    a -> b: src/a.rs:11\n    b -> a: src/b.rs:1"],
    );
}

/// The lines of a fixture as pairs split at their first space.
fn pairs_of(fixture: &str) -> Vec<(String, String)> {
    let pair = |line: &str| {
        line.trim()
            .split_once(' ')
            .map(|(first, second)| (first.into(), second.into()))
    };
    fixture.lines().filter_map(pair).collect()
}

/// `line_counts` has lines `path count`.
fn check_long_files(line_counts: &str, allow_list: &str, expect: &[&str]) {
    let line_counts: BTreeMap<String, usize> = pairs_of(line_counts)
        .into_iter()
        .map(|(path, count)| (path, count.parse().expect("a line count")))
        .collect();
    assert_eq!(long_file_problems(&line_counts, allow_list), expect);
}

#[test]
fn long_files_fail_unless_short_or_allow_listed_with_a_reason() {
    check_long_files(
        "crates/a/src/lib.rs 800\n crates/a/src/big.rs 801",
        "crates/a/src/big.rs\tone match over every operator\n",
        &[],
    );
    check_long_files(
        "crates/a/src/big.rs 1200\n crates/a/tests/big.rs 900",
        "",
        &[
            "crates/a/src/big.rs has 1200 lines: split it, or allow-list it with a reason",
            "crates/a/tests/big.rs has 900 lines: split it, or allow-list it with a reason",
        ],
    );
}

#[test]
fn long_files_fail_when_the_allow_list_is_stale_or_malformed() {
    check_long_files(
        "crates/a/src/shrunk.rs 640\n crates/a/src/big.rs 900",
        "crates/a/src/gone.rs\twas long\ncrates/a/src/shrunk.rs\twas long\n\
         crates/a/src/big.rs\ncrates/a/src/big.rs\t \n\
         crates/a/src/big.rs\treal\ncrates/a/src/big.rs\treal again\n",
        &[
            "allow-list line 1: crates/a/src/gone.rs does not exist; remove the line",
            "allow-list line 2: crates/a/src/shrunk.rs has 640 lines, not over 800; remove the line",
            "allow-list line 3: not `path<TAB>reason` with a reason: \"crates/a/src/big.rs\"",
            "allow-list line 4: not `path<TAB>reason` with a reason: \"crates/a/src/big.rs\\t \"",
            "allow-list line 6: crates/a/src/big.rs is listed twice",
        ],
    );
}

/// `routes` has lines `METHOD /path`.
fn check_undocumented_routes(routes: &str, openapi: Value, expect: &[&str]) {
    assert_eq!(undocumented_routes(&pairs_of(routes), &openapi), expect);
}

const SOME_ROUTES: &str = "GET /v1/persons/{pid}/status\n GET /v1/rule-sets\n POST /v1/rule-sets";

#[test]
fn undocumented_routes_fail_on_a_missing_path_or_method_and_pass_when_all_are_described() {
    check_undocumented_routes(
        SOME_ROUTES,
        json!({"paths": {"/v1/persons/{pid}/status": {"get": {}},
                         "/v1/rule-sets": {"get": {}, "post": {}}}}),
        &[],
    );
    check_undocumented_routes(
        SOME_ROUTES,
        json!({"paths": {"/v1/person/{id}/status": {"get": {}}, "/v1/rule-sets": {"get": {}}}}),
        &[
            "GET /v1/persons/{pid}/status: no /v1/persons/{pid}/status under `paths`",
            "POST /v1/rule-sets: /v1/rule-sets has no `post` operation",
        ],
    );
    // One route parameter may be documented as one path per verb.
    check_undocumented_routes(
        "POST /v1/pending/{id_action}",
        json!({"paths": {"/v1/pending/{id}:approve": {"post": {}}}}),
        &[],
    );
    check_undocumented_routes(
        "GET /healthz",
        json!({"openapi": "3.1.0"}),
        &["GET /healthz: no /healthz under `paths`"],
    );
}
