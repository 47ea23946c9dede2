//! The files of `static/`: embedded in the binary, or read from disk for development.

use std::path::{Path, PathBuf};

/// Every file the page needs, compiled into the binary so the release binary alone serves
/// the dashboard. A test checks that this list and `static/` agree.
const EMBEDDED: &[(&str, &[u8])] = &[
    ("index.html", include_bytes!("../../static/index.html")),
    ("login.html", include_bytes!("../../static/login.html")),
    ("favicon.svg", include_bytes!("../../static/favicon.svg")),
    ("css/app.css", include_bytes!("../../static/css/app.css")),
    ("js/api.js", include_bytes!("../../static/js/api.js")),
    ("js/app.js", include_bytes!("../../static/js/app.js")),
    ("js/detail.js", include_bytes!("../../static/js/detail.js")),
    ("js/dom.js", include_bytes!("../../static/js/dom.js")),
    ("js/format.js", include_bytes!("../../static/js/format.js")),
    (
        "js/history.js",
        include_bytes!("../../static/js/history.js"),
    ),
    (
        "js/jsontree.js",
        include_bytes!("../../static/js/jsontree.js"),
    ),
    ("js/login.js", include_bytes!("../../static/js/login.js")),
    ("js/notify.js", include_bytes!("../../static/js/notify.js")),
    ("js/panel.js", include_bytes!("../../static/js/panel.js")),
    (
        "js/rejected.js",
        include_bytes!("../../static/js/rejected.js"),
    ),
    (
        "js/timeline.js",
        include_bytes!("../../static/js/timeline.js"),
    ),
    ("js/toasts.js", include_bytes!("../../static/js/toasts.js")),
    (
        "js/widgets.js",
        include_bytes!("../../static/js/widgets.js"),
    ),
];

/// A request path inside `static/`: relative, `/`-separated segments of safe characters,
/// none of them empty or starting with a dot (so no `..`, no hidden files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetPath(String);

impl AssetPath {
    pub fn parse(raw: &str) -> Option<AssetPath> {
        let safe_segment = |segment: &str| {
            !segment.is_empty()
                && !segment.starts_with('.')
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        };
        (raw.len() <= 200 && raw.split('/').all(safe_segment)).then(|| AssetPath(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn content_type(&self) -> &'static str {
        match self.0.rsplit_once('.').map(|(_, ext)| ext) {
            Some("html") => "text/html; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("json") => "application/json",
            Some("svg") => "image/svg+xml",
            Some("png") => "image/png",
            Some("ico") => "image/x-icon",
            Some("txt") => "text/plain; charset=utf-8",
            _ => "application/octet-stream",
        }
    }
}

/// Where the files come from.
#[derive(Debug, Clone)]
pub enum AssetSource {
    Embedded,
    /// `--static-dir`: read on every request, so edits show on reload.
    Disk(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    #[error("no such asset")]
    NotFound,
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl AssetSource {
    pub async fn load(&self, path: &AssetPath) -> Result<Vec<u8>, AssetError> {
        match self {
            AssetSource::Embedded => EMBEDDED
                .iter()
                .find(|(name, _)| *name == path.as_str())
                .map(|(_, bytes)| bytes.to_vec())
                .ok_or(AssetError::NotFound),
            AssetSource::Disk(dir) => read_from(dir, path).await,
        }
    }
}

async fn read_from(dir: &Path, path: &AssetPath) -> Result<Vec<u8>, AssetError> {
    let full = dir.join(path.as_str());
    match tokio::fs::read(&full).await {
        Ok(bytes) => Ok(bytes),
        // A directory or a missing file is simply not an asset.
        Err(error)
            if matches!(
                error.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::IsADirectory
            ) =>
        {
            Err(AssetError::NotFound)
        }
        Err(source) => Err(AssetError::Io { path: full, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_paths_reject_traversal_hidden_and_odd_characters() {
        for bad in [
            "",
            "/",
            "../Cargo.toml",
            "js/../../x",
            ".env",
            "js/.hidden",
            "a//b",
            "a\\b",
            "a%2e%2e",
            "a b",
            "a\0b",
            "/etc/passwd",
        ] {
            assert_eq!(AssetPath::parse(bad), None, "{bad:?} must be refused");
        }
        for good in ["index.html", "js/app.js", "css/app.css", "favicon.svg"] {
            assert!(
                AssetPath::parse(good).is_some(),
                "{good:?} must be accepted"
            );
        }
    }

    #[test]
    fn content_types_follow_the_extension() {
        let type_of = |p: &str| AssetPath::parse(p).map(|p| p.content_type());
        assert_eq!(type_of("index.html"), Some("text/html; charset=utf-8"));
        assert_eq!(type_of("js/app.js"), Some("text/javascript; charset=utf-8"));
        assert_eq!(type_of("css/app.css"), Some("text/css; charset=utf-8"));
        assert_eq!(type_of("favicon.svg"), Some("image/svg+xml"));
        assert_eq!(type_of("README"), Some("application/octet-stream"));
    }

    fn files_under(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            let rel = format!("{prefix}{name}");
            if entry.file_type().unwrap().is_dir() {
                files_under(&entry.path(), &format!("{rel}/"), out);
            } else {
                out.push(rel);
            }
        }
    }

    #[test]
    fn every_file_in_static_is_embedded_and_nothing_else() {
        let mut on_disk = Vec::new();
        files_under(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("static"),
            "",
            &mut on_disk,
        );
        on_disk.sort();
        let mut embedded: Vec<String> = EMBEDDED.iter().map(|(n, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(
            embedded, on_disk,
            "the EMBEDDED table must list exactly static/"
        );
    }
}

#[cfg(test)]
mod safety {
    //! The page must work under `default-src 'self'` and never turn data into markup. These
    //! checks keep the obvious ways of breaking that out of the shipped files.
    use super::EMBEDDED;

    fn files(ext: &str) -> impl Iterator<Item = (&'static str, &'static str)> {
        let ext = format!(".{ext}");
        EMBEDDED
            .iter()
            .filter(move |(name, _)| name.ends_with(&ext))
            .map(|(name, bytes)| (*name, std::str::from_utf8(bytes).unwrap()))
    }

    #[test]
    fn html_has_no_inline_script_style_or_event_handlers() {
        for (name, html) in files("html") {
            let lower = html.to_ascii_lowercase();
            for (index, _) in lower.match_indices("<script") {
                let tag = &lower[index..index + lower[index..].find('>').unwrap()];
                assert!(
                    tag.contains(" src="),
                    "{name}: inline <script> (CSP forbids it)"
                );
            }
            assert!(!lower.contains("<style"), "{name}: inline <style>");
            assert!(!lower.contains(" style="), "{name}: inline style attribute");
            assert!(!lower.contains("javascript:"), "{name}: javascript: URL");
            for word in lower.split(|c: char| c.is_whitespace()) {
                let is_handler = word.starts_with("on") && word.contains('=');
                assert!(!is_handler, "{name}: inline event handler {word}");
            }
            for foreign in ["http://", "https://", "//cdn", "fonts.g"] {
                assert!(
                    !lower.contains(foreign),
                    "{name}: refers to another origin ({foreign})"
                );
            }
        }
    }

    #[test]
    fn scripts_never_parse_strings_as_markup_or_code() {
        let forbidden = [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "createContextualFragment",
            "DOMParser",
            "setAttribute('on",
            "setAttribute(\"on",
            ".srcdoc",
            "import(",
        ];
        for (name, js) in files("js") {
            for word in forbidden {
                assert!(!js.contains(word), "{name} uses {word}");
            }
            assert!(
                !js.contains("http://") && !js.contains("https://"),
                "{name}: foreign URL"
            );
        }
        for (name, css) in files("css") {
            assert!(
                !css.contains("@import") && !css.contains("url(http"),
                "{name}: foreign CSS"
            );
        }
    }
}
