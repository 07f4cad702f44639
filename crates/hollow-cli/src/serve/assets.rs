//! The stylesheet and script, compiled into the binary: nothing is fetched at run time, and
//! only these names are served (no path reaches the file system).

/// `(name, content type, bytes)` of every asset.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "explorer.css",
        "text/css; charset=utf-8",
        include_str!("assets/explorer.css"),
    ),
    (
        "explorer.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/explorer.js"),
    ),
];

/// The asset called `name`, with its content type.
pub fn get(name: &str) -> Option<(&'static str, &'static str)> {
    ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, ty, body)| (*ty, *body))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_named_assets() {
        assert!(super::get("explorer.css").is_some());
        assert!(super::get("../Cargo.toml").is_none());
        assert!(super::get("").is_none());
    }
}
