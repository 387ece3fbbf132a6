//! The portal's HTML templates: minijinja with HTML auto-escaping for every `.html` template.
//! The defaults live in the top-level `templates/` folder, embedded at build time; an
//! operator's `[signin] templates_dir` overrides them file by file (a file missing there is the
//! built-in one).

use std::path::{Path, PathBuf};

use minijinja::Environment;
use serde::Serialize;

/// The built-in templates and stylesheet, by file name.
const DEFAULTS: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("signin.html", include_str!("../../templates/signin.html")),
    ("error.html", include_str!("../../templates/error.html")),
    ("roles.html", include_str!("../../templates/roles.html")),
    ("console.html", include_str!("../../templates/console.html")),
    ("device.html", include_str!("../../templates/device.html")),
    (
        "sso_consent.html",
        include_str!("../../templates/sso_consent.html"),
    ),
    (
        "sso_done.html",
        include_str!("../../templates/sso_done.html"),
    ),
    ("style.css", include_str!("../../templates/style.css")),
    ("console.js", include_str!("../../templates/console.js")),
];

/// The stylesheet's file name (served as is, not rendered).
pub const STYLESHEET: &str = "style.css";

/// The console's script (the countdown and copy buttons; served as is, not rendered).
pub const SCRIPT: &str = "console.js";

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {}: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("template {name}{}: {detail}", from.as_ref().map(|f| format!(" ({})", f.display())).unwrap_or_default())]
    Syntax {
        name: String,
        /// The operator's file, when it overrides the built-in one.
        from: Option<PathBuf>,
        detail: String,
    },
    #[error("rendering {name}: {detail}")]
    Render { name: String, detail: String },
}

/// The compiled templates and the stylesheet.
pub struct Templates {
    env: Environment<'static>,
    stylesheet: String,
    script: String,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

impl Templates {
    /// The built-in templates, each replaced by the file of the same name in `dir` if there is
    /// one. Every template is compiled now: a syntax error names its file.
    pub fn load(dir: Option<&Path>) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_formatter(html_formatter);
        // `.html` templates escape every value they print (minijinja's default callback).
        let mut stylesheet = String::new();
        let mut script = String::new();
        for (name, builtin) in DEFAULTS {
            let (text, from) = match dir.map(|d| d.join(name)) {
                Some(file) if file.is_file() => match std::fs::read_to_string(&file) {
                    Ok(text) => (text, Some(file)),
                    Err(source) => return Err(TemplateError::Read { file, source }),
                },
                _ => ((*builtin).to_owned(), None),
            };
            if *name == STYLESHEET {
                stylesheet = text;
                continue;
            }
            if *name == SCRIPT {
                script = text;
                continue;
            }
            env.add_template_owned(*name, text)
                .map_err(|e| TemplateError::Syntax {
                    name: (*name).to_owned(),
                    from,
                    detail: e.to_string(),
                })?;
        }
        Ok(Self {
            env,
            stylesheet,
            script,
        })
    }

    /// Render the template `name` with `context`.
    pub fn render(&self, name: &str, context: impl Serialize) -> Result<String, TemplateError> {
        let render_error = |e: minijinja::Error| TemplateError::Render {
            name: name.to_owned(),
            detail: e.to_string(),
        };
        self.env
            .get_template(name)
            .map_err(render_error)?
            .render(context)
            .map_err(render_error)
    }

    /// The stylesheet.
    pub fn stylesheet(&self) -> &str {
        &self.stylesheet
    }

    /// The console's script.
    pub fn script(&self) -> &str {
        &self.script
    }
}

/// minijinja's formatter, but escaping a string only where HTML needs it (`& < > " '`): its
/// default also writes `/` as `/`, and tools that read AWS's role picker find role ARNs
/// in the page's text as AWS writes them.
fn html_formatter(
    out: &mut minijinja::Output<'_>,
    state: &minijinja::State<'_, '_>,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    use std::fmt::Write as _;
    match value.as_str() {
        Some(text) if state.auto_escape() == minijinja::AutoEscape::Html && !value.is_safe() => {
            for c in text.chars() {
                match c {
                    '&' => out.write_str("&amp;"),
                    '<' => out.write_str("&lt;"),
                    '>' => out.write_str("&gt;"),
                    '"' => out.write_str("&quot;"),
                    '\'' => out.write_str("&#x27;"),
                    c => out.write_char(c),
                }
                .map_err(|e| {
                    minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string())
                })?;
            }
            Ok(())
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Idp {
        name: &'static str,
        href: &'static str,
        display_name: &'static str,
    }

    #[test]
    fn values_are_escaped() {
        let templates = Templates::load(None).unwrap();
        let html = templates
            .render(
                "signin.html",
                minijinja::context! {
                    title => "<b>Corp</b>",
                    stylesheet => "/static/style.css",
                    idps => vec![Idp {
                        name: "x\"onmouseover=\"alert(1)",
                        href: "/signin/x",
                        display_name: "<script>alert(1)</script>",
                    }],
                },
            )
            .unwrap();
        assert!(html.contains("&lt;b&gt;Corp&lt;/b&gt;"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(
            html.contains("data-idp=\"x&quot;onmouseover=&quot;alert(1)\""),
            "{html}"
        );
        assert!(!html.contains("<script>"), "{html}");
    }

    #[test]
    fn an_operator_folder_overrides_file_by_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("error.html"),
            "{% extends \"base.html\" %}{% block content %}Custom: {{ message }}{% endblock %}",
        )
        .unwrap();
        std::fs::write(dir.path().join("style.css"), "body { color: red }").unwrap();
        let templates = Templates::load(Some(dir.path())).unwrap();
        let html = templates
            .render(
                "error.html",
                minijinja::context! { title => "T", message => "<oops>" },
            )
            .unwrap();
        assert!(html.contains("Custom: &lt;oops&gt;"), "{html}");
        assert!(
            html.contains("<title>T</title>"),
            "the built-in base: {html}"
        );
        assert_eq!(templates.stylesheet(), "body { color: red }");
        // Not overridden: the built-in one.
        let signin = templates
            .render("signin.html", minijinja::context! { title => "T" })
            .unwrap();
        assert!(
            signin.contains("No identity provider is offered"),
            "{signin}"
        );
    }

    #[test]
    fn a_broken_override_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("signin.html"), "{% if %}").unwrap();
        let err = Templates::load(Some(dir.path())).unwrap_err().to_string();
        assert!(err.starts_with("template signin.html ("), "{err}");
        assert!(err.contains("signin.html): "), "{err}");
    }
}
