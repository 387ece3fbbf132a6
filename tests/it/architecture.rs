//! The module structure rule, checked from the source text: at every folder level of `src/`,
//! the direct children (a file is one node; a subfolder is one node standing for everything in
//! it) import each other without cycles. At the crate root they are the top-level modules
//! (`src/x.rs` or `src/x/`). Using the parent module (`mod.rs`, or `x.rs` for `x/`) is normal
//! and ignored, as are unit tests (`tests.rs`, `tests/` folders, a trailing inline
//! `#[cfg(test)] mod tests { .. }`), `src/lib.rs` (it only wires modules) and `src/main.rs`.
//!
//! A dependency is a path outside comments and string literals, in a `use` tree or inline
//! (`crate::x::f()`), that starts at `crate`, `self`, `super`, a child module or a name a `use`
//! bound. It counts for the longest prefix that is a module file, after following an import
//! there (`crate::creds::Keyring`, a `pub use` of `keyring`, is `creds::keyring`). Not seen:
//! names that glob imports (`use super::*`) bring in.
//!
//! Run it (prints the cycles and the top-level graph):
//! `cargo test --test it architecture -- --nocapture`

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A module path below the crate root, such as `["idp", "oidc", "jws"]`; the root is empty.
type ModPath = Vec<String>;

/// Every module, with the names its `use` declarations bind and the paths they stand for.
type Modules = BTreeMap<ModPath, BTreeMap<String, Vec<String>>>;

/// A path as written: its segments, `as` alias, line, and whether it is in a `use` tree.
type Written = (Vec<String>, Option<String>, usize, bool);

/// Module `from` depends on module `to`: the file, line and path that show it.
type Import = (ModPath, ModPath, String, usize, String);

/// A token of the source text and its line.
type Token<'a> = (&'a str, usize);

/// Every offending cycle under `src_root`, one readable paragraph each; empty if the rule holds.
fn cycles(src_root: &Path) -> io::Result<Vec<String>> {
    let imports = module_imports(src_root)?;
    let mut found = Vec::new();
    for (level, edges) in levels(&imports) {
        let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (a, b) in edges.keys() {
            graph.entry(a).or_default().insert(b);
        }
        let scope = Some(level.join("::")).filter(|s| !s.is_empty());
        let scope = scope.unwrap_or_else(|| "crate root".to_owned());
        for cycle in elementary_cycles(&graph) {
            let mut text = format!("in {scope}: {} -> {}", cycle.join(" -> "), cycle[0]);
            for (i, &a) in cycle.iter().enumerate() {
                let b = cycle[(i + 1) % cycle.len()];
                let evidence = &edges[&(a.to_owned(), b.to_owned())];
                text += &format!("\n    {a} -> {b}:");
                for in_file in evidence.chunk_by(|x, y| x.2 == y.2) {
                    let (_, _, file, line, path) = in_file[0];
                    text += &format!("\n        {file}:{line} {path}");
                    if in_file.len() > 1 {
                        text += &format!(" (and {} more in this file)", in_file.len() - 1);
                    }
                }
            }
            found.push(text);
        }
    }
    Ok(found)
}

/// The edges between siblings, by the module whose children they link: an import counts at the
/// level where its two ends part, so `a::b::x` importing `a::c` is the edge `b -> c` of `a`.
/// An import from or of an ancestor links no two siblings.
fn levels(imports: &[Import]) -> BTreeMap<ModPath, BTreeMap<(String, String), Vec<&Import>>> {
    let mut levels: BTreeMap<ModPath, BTreeMap<_, Vec<_>>> = BTreeMap::new();
    for import @ (from, to, ..) in imports {
        let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
        if from.len() > common && to.len() > common {
            let edge = (from[common].clone(), to[common].clone());
            let level = levels.entry(from[..common].to_vec()).or_default();
            level.entry(edge).or_default().push(import);
        }
    }
    levels
}

/// Each elementary cycle once (at most 100), starting from its smallest node.
fn elementary_cycles<'a>(graph: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Vec<Vec<&'a str>> {
    type Graph<'a> = BTreeMap<&'a str, BTreeSet<&'a str>>;
    fn walk<'a>(graph: &Graph<'a>, stack: &mut Vec<&'a str>, out: &mut Vec<Vec<&'a str>>) {
        for &next in graph.get(stack[stack.len() - 1]).into_iter().flatten() {
            if next == stack[0] && out.len() < 100 {
                out.push(stack.clone());
            } else if next > stack[0] && !stack.contains(&next) {
                stack.push(next);
                walk(graph, stack, out);
                stack.pop();
            }
        }
    }
    let mut out = Vec::new();
    for &start in graph.keys() {
        walk(graph, &mut vec![start], &mut out);
    }
    out
}

/// Every dependency of every module file under `src_root` on another module.
fn module_imports(src_root: &Path) -> io::Result<Vec<Import>> {
    let mut files = Vec::new();
    collect_files(src_root, Path::new(""), &mut files)?;
    files.sort();
    let mut modules = Modules::new();
    let mut written = Vec::new();
    for (rel, module) in files.iter().filter_map(|rel| Some((rel, module_of(rel)?))) {
        let full = src_root.join(rel);
        let text = fs::read_to_string(&full)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", full.display())))?;
        let code = strip_comments_and_strings(without_test_module(&text));
        let paths = paths(&tokenize(&code));
        for n in 0..module.len() {
            modules.entry(module[..n].to_vec()).or_default();
        }
        let bindings = modules.entry(module.clone()).or_default();
        for (path, alias, _, _) in paths.iter().filter(|p| p.3) {
            let name = alias.as_ref().or(path.iter().rev().find(|s| *s != "self"));
            if let Some(name) = name.filter(|name| *name != "*") {
                bindings.insert(name.clone(), path.clone());
            }
        }
        let file = Path::new("src").join(rel).display().to_string();
        written.push((module, file, paths));
    }
    let mut imports = Vec::new();
    for (module, file, paths) in written {
        for (path, _, line, _) in paths {
            if let Some(to) = locate(&path, &module, &modules, 0) {
                let path = path.join("::").trim_end_matches("::self").to_owned();
                imports.push((module.clone(), to, file.clone(), line, path));
            }
        }
    }
    Ok(imports)
}

/// The module that `path`, written in `module`, is or names an item of; `None` for paths into
/// other crates and for local names.
fn locate(path: &[String], module: &[String], modules: &Modules, depth: usize) -> Option<ModPath> {
    let (first, rest) = path.split_first().filter(|_| depth < 8)?;
    let child = [module, std::slice::from_ref(first)].concat();
    let mut target = match first.as_str() {
        "crate" => Vec::new(),
        "self" => module.to_vec(),
        "super" => module.split_last()?.1.to_vec(),
        _ if modules.contains_key(&child) => child,
        name => {
            let bound = modules.get(module)?.get(name)?;
            return locate(&[bound, rest].concat(), module, modules, depth + 1);
        }
    };
    for segment in rest.iter().filter(|s| *s != "self" && *s != "*") {
        if segment == "super" {
            target.pop()?;
        } else {
            target.push(segment.clone());
        }
    }
    let n = (0..=target.len()).rfind(|&n| modules.contains_key(&target[..n]))?;
    let (owner, item) = target.split_at(n);
    // An item the owner only imports (`pub use keyring::Keyring;`) belongs where it comes from.
    match item.split_first() {
        Some((name, more)) if modules[owner].contains_key(name) => {
            let bound = &modules[owner][name];
            locate(&[bound, more].concat(), owner, modules, depth + 1)
        }
        _ => Some(owner.to_vec()),
    }
}

/// The `.rs` files under `root/dir`, relative to `root`, minus unit-test files.
fn collect_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(root.join(dir))? {
        let entry = entry?;
        let (rel, name) = (dir.join(entry.file_name()), entry.file_name());
        if entry.file_type()?.is_dir() {
            if name != "tests" {
                collect_files(root, &rel, out)?;
            }
        } else if name.to_string_lossy().ends_with(".rs") && name != "tests.rs" {
            out.push(rel);
        }
    }
    Ok(())
}

/// The module a file under `src/` defines: `lib.rs` is the root, `a/mod.rs` is `a`, `a/b.rs`
/// is `a::b`; `None` for `main.rs`, a separate crate.
fn module_of(rel: &Path) -> Option<ModPath> {
    let mut module: ModPath = rel.iter().map(|s| s.to_string_lossy().into()).collect();
    match module.pop()?.strip_suffix(".rs")? {
        "main" | "lib" if module.is_empty() => (rel == Path::new("lib.rs")).then_some(module),
        "mod" => Some(module),
        stem => Some([module, vec![stem.to_owned()]].concat()),
    }
}

/// `text` up to a `#[cfg(test)]` line followed (after blank lines) by an inline `mod tests {`:
/// by this project's convention, the test module comes last. `mod tests;` is kept, since code
/// may follow it (its file is skipped anyway).
fn without_test_module(text: &str) -> &str {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let next = text[offset + line.len()..].trim_start();
        let next = next.strip_prefix("mod tests");
        if line.trim() == "#[cfg(test)]" && next.is_some_and(|r| r.trim_start().starts_with('{')) {
            return &text[..offset];
        }
        offset += line.len();
    }
    text
}

/// `text` with comments and string, byte-string, raw-string and char literals blanked out
/// (newlines kept, so line numbers stay right).
fn strip_comments_and_strings(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < c.len() {
        let ident_before = i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_');
        // Where a literal or comment starting at `i` ends, if one does.
        let end = match c[i] {
            '/' if at(i + 1) == '/' => {
                Some((i..c.len()).find(|&j| c[j] == '\n').unwrap_or(c.len()))
            }
            '/' if at(i + 1) == '*' => {
                let (mut j, mut depth) = (i + 2, 1);
                while j < c.len() && depth > 0 {
                    match (c[j], at(j + 1)) {
                        ('/', '*') => (depth, j) = (depth + 1, j + 2),
                        ('*', '/') => (depth, j) = (depth - 1, j + 2),
                        _ => j += 1,
                    }
                }
                Some(j)
            }
            '\'' if at(i + 1) == '\\' => (i + 3..c.len()).find(|&j| c[j] == '\'').map(|j| j + 1),
            '\'' if at(i + 2) == '\'' => Some(i + 3),
            '"' | 'b' | 'r' if c[i] == '"' || !ident_before => {
                let mut j = i + usize::from(c[i] == 'b');
                let raw = at(j) == 'r';
                j += usize::from(raw);
                let hashes = (j..c.len()).take_while(|&k| c[k] == '#').count();
                j += hashes;
                (at(j) == '"').then(|| {
                    j += 1;
                    while j < c.len() {
                        match c[j] {
                            '\\' if !raw => j += 2,
                            '"' if !raw || (1..=hashes).all(|h| at(j + h) == '#') => break,
                            _ => j += 1,
                        }
                    }
                    j + 1 + hashes
                })
            }
            _ => None,
        };
        if let Some(end) = end.map(|end| end.min(c.len())) {
            for &ch in &c[i..end] {
                out.push(if ch == '\n' { ch } else { ' ' });
            }
            i = end;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// Identifiers, `::` and other single characters, each with its 1-based line.
fn tokenize(text: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut rest = line.trim_start();
        while let Some(ch) = rest.chars().next() {
            let len = match ch {
                _ if is_ident(rest) => rest.find(|c: char| !c.is_alphanumeric() && c != '_'),
                ':' if rest.starts_with("::") => Some(2),
                _ => Some(ch.len_utf8()),
            };
            let (token, tail) = rest.split_at(len.unwrap_or(rest.len()));
            tokens.push((token, n + 1));
            rest = tail.trim_start();
        }
    }
    tokens
}

fn is_ident(token: &str) -> bool {
    token.starts_with(|c: char| c.is_alphabetic() || c == '_')
}

/// Every path in `tokens`: the `use` trees expanded, and the inline paths `a::b::c`.
fn paths(tokens: &[Token]) -> Vec<Written> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let after_path = i > 0 && tokens[i - 1].0 == "::";
        let path_start = is_ident(tokens[i].0) && !after_path;
        i = if tokens[i].0 == "use" {
            path_tree(tokens, i + 1, Vec::new(), true, &mut out).max(i + 1)
        } else if path_start && tokens.get(i + 1).is_some_and(|t| t.0 == "::") {
            path_tree(tokens, i, Vec::new(), false, &mut out)
        } else {
            i + 1
        };
    }
    out
}

/// Reads the path (in a `use`, the tree) at `t[i]`, following `path`, into `out`; returns the
/// index after it.
fn path_tree(
    t: &[Token],
    mut i: usize,
    mut path: ModPath,
    is_use: bool,
    out: &mut Vec<Written>,
) -> usize {
    let token = |k: usize| t.get(k).map_or("", |t| t.0);
    let line = t.get(i).map_or(0, |t| t.1);
    let mut segment_next = true;
    loop {
        match token(i) {
            "::" => segment_next = true,
            s if segment_next && is_ident(s) && s != "as" => {
                path.push(s.to_owned());
                segment_next = false;
            }
            "*" if segment_next && is_use => path.push("*".to_owned()),
            "{" if segment_next && is_use => {
                i += 1;
                while !matches!(token(i), "}" | "") {
                    i = path_tree(t, i, path.clone(), true, out).max(i + 1);
                    i += usize::from(token(i) == ",");
                }
                return i + 1;
            }
            _ => break,
        }
        i += 1;
    }
    let alias = (is_use && token(i) == "as").then(|| token(i + 1).to_owned());
    let end = i + if alias.is_some() { 2 } else { 0 };
    out.push((path, alias, line, is_use));
    end
}

#[test]
fn no_cycles_between_sibling_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = cycles(&src).expect("reading src/");
    assert!(
        found.is_empty(),
        "{} module cycle(s); at each folder level the children must import each other \
         acyclically (see tests/it/architecture.rs):\n\n{}\n",
        found.len(),
        found.join("\n\n")
    );
}

/// Which top-level modules may not import which (DESIGN.md's layers): the protocol adapters
/// never call each other and nothing below them calls them; the domain (`principal`,
/// `federation`) knows no protocol; the policy engine is pure; the store knows no business
/// rules; identity providers know no configuration or domain.
const FORBIDDEN: &[(&str, &[&str])] = &[
    // Plain data: the store, the IdPs and the server count into it, never the other way.
    (
        "metrics",
        &[
            "store",
            "idp",
            "config",
            "creds",
            "principal",
            "federation",
            "sts",
            "authz",
            "admin",
            "server",
            "state",
            "error",
            "audit",
            "web",
            "sso",
        ],
    ),
    ("sts", &["authz", "admin", "server", "dev", "web", "sso"]),
    ("authz", &["sts", "admin", "server", "dev", "web", "sso"]),
    ("admin", &["sts", "authz", "server", "dev", "web", "sso"]),
    // The portal's pages of the SSO flows (the device verification page, the authorize
    // consent) call `sso`'s checks; `sso` never reaches back into the portal.
    ("web", &["sts", "authz", "admin", "server", "dev"]),
    ("sso", &["sts", "authz", "admin", "server", "dev", "web"]),
    (
        "follow",
        &[
            "sts", "authz", "admin", "server", "state", "dev", "web", "sso",
        ],
    ),
    (
        "federation",
        &[
            "sts", "authz", "admin", "server", "state", "dev", "web", "sso",
        ],
    ),
    (
        "principal",
        &[
            "federation",
            "sts",
            "authz",
            "admin",
            "server",
            "state",
            "dev",
            "web",
            "sso",
        ],
    ),
    (
        "policy",
        &[
            "store",
            "creds",
            "idp",
            "config",
            "principal",
            "federation",
            "sts",
            "authz",
            "server",
            "state",
            "admin",
            "audit",
            "users",
            "error",
            "web",
            "sso",
        ],
    ),
    (
        "store",
        &[
            "idp",
            "config",
            "principal",
            "federation",
            "sts",
            "authz",
            "server",
            "state",
            "admin",
            "error",
            "web",
            "sso",
        ],
    ),
    (
        "idp",
        &[
            "config",
            "principal",
            "federation",
            "sts",
            "authz",
            "server",
            "state",
            "admin",
            "error",
            "web",
            "sso",
        ],
    ),
    (
        "config",
        &[
            "principal",
            "federation",
            "sts",
            "authz",
            "server",
            "state",
            "admin",
            "web",
            "sso",
        ],
    ),
];

#[test]
fn the_layers_hold() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let imports = module_imports(&src).expect("reading src/");
    let top = levels(&imports).remove(&Vec::new()).unwrap_or_default();
    let mut broken = Vec::new();
    for (from, forbidden) in FORBIDDEN {
        for to in *forbidden {
            if let Some(evidence) = top.get(&((*from).to_owned(), (*to).to_owned())) {
                let (_, _, file, line, path) = evidence[0];
                broken.push(format!("{from} -> {to}: {file}:{line} {path}"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "imports across the layers (see FORBIDDEN in tests/it/architecture.rs):\n{}",
        broken.join("\n")
    );
}

#[test]
fn print_top_level_module_graph() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let imports = module_imports(&src).expect("reading src/");
    let mut text = "top-level module graph (a -> b: a imports b; paths that do):".to_owned();
    for ((a, b), evidence) in levels(&imports).remove(&Vec::new()).unwrap_or_default() {
        text += &format!("\n    {a} -> {b} ({})", evidence.len());
    }
    eprintln!("{text}");
}

/// The cycles of a throwaway source tree, its files given as `"path: text"`.
fn cycles_of(name: &str, files: &[&str]) -> Vec<String> {
    let pid = std::process::id();
    let root = std::env::temp_dir().join(format!("stsbridge-architecture-{name}-{pid}"));
    for (path, text) in files.iter().filter_map(|f| f.split_once(": ")) {
        let file = root.join(path);
        fs::create_dir_all(file.parent().expect("a parent")).expect("create dir");
        fs::write(&file, text).expect("write file");
    }
    let found = cycles(&root);
    fs::remove_dir_all(&root).expect("remove the tree");
    found.expect("read the tree")
}

#[test]
fn the_checker_finds_sibling_and_top_level_cycles() {
    // No cycles, only decoys: comments, strings, test code, `main.rs`, parent and child imports.
    let mut files = [
        "lib.rs: pub mod a; pub mod b; pub mod p; use crate::a::g;",
        "main.rs: fn main() { stsbridge::b::thing(); crate::a::g(); }",
        "a.rs: use crate::{\n    b::thing,\n    p,\n};\npub fn g() {}",
        "b/mod.rs: pub mod inner; pub use inner::f; pub fn thing() { inner::f() }",
        "b/inner.rs: // crate::a::g()\nconst S: &str = \"crate::a::g\\\"\"; const R: &str = r#\"\"crate::a\"#;\n\
         pub fn f() -> bool { '\"' == '\\'' && super::thing() == () }\n\
         #[cfg(test)]\n\nmod tests {\n    use crate::a::g;\n}\n",
        "b/tests.rs: use crate::a::g;",
        "b/tests/more.rs: use crate::a::g;",
        "p/mod.rs: mod x; mod y; pub use x::X;",
        "p/x.rs: use super::y::{self, Y}; pub struct X; pub fn g() { y::f() }",
        "p/y.rs: /* /* nested */ super::x::g() */ pub struct Y; pub fn f() {}",
    ];
    assert_eq!(cycles_of("acyclic", &files), Vec::<String>::new());

    // A cycle at the root (from inside `b/`, through an alias) and one in `p` (through the
    // parent's re-export).
    files[4] = "b/inner.rs: use crate::a as other;\npub fn f() { other::g() }";
    files[9] = "p/y.rs: use super::X; pub struct Y; pub fn f() {}";
    let found = cycles_of("cyclic", &files);
    assert_eq!(found.len(), 2, "{found:#?}");
    let expected = [
        "in crate root: a -> b -> a\n",
        "\n        src/b/inner.rs:1 crate::a (and 1 more in this file)\n",
        "in p: x -> y -> x\n",
        "\n        src/p/y.rs:1 super::X",
    ];
    let all = found.join("\n\n");
    for text in expected {
        assert!(all.contains(text), "{text:?} not in:\n{all}");
    }
}
