//! Query strings: every URL's `?version=N`, paging (`after`, `limit`), repeated `key` and
//! `where` values, parsed from the raw query (repeats kept, in order), each checked with a
//! message naming the parameter.

use super::error::PageError;

/// Largest page of records or changes.
pub const MAX_LIMIT: usize = 500;
/// Default page size.
pub const DEFAULT_LIMIT: usize = 50;

/// A request's query parameters, in order.
#[derive(Debug, Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses a raw query string (`None`: no query).
    pub fn parse(raw: Option<&str>) -> Self {
        Self {
            pairs: url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    /// The first value of `name` (an empty value counts as absent).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A number parameter.
    pub fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, PageError> {
        self.get(name)
            .map(|v| {
                v.trim().parse::<T>().map_err(|_| {
                    PageError::BadRequest(format!("?{name}={v}: expected a whole number"))
                })
            })
            .transpose()
    }

    /// `?version=N`.
    pub fn version(&self) -> Result<Option<u64>, PageError> {
        self.number("version")
    }

    /// `?limit=N` (1 … [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]).
    pub fn limit(&self) -> Result<usize, PageError> {
        match self.number::<usize>("limit")? {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(n) => Err(PageError::BadRequest(format!(
                "?limit={n}: between 1 and {MAX_LIMIT}"
            ))),
        }
    }

    /// `?where=FIELD=VALUE` conditions (repeatable), as `hollow query` takes them;
    /// `FIELD:=null` asks for an unset Text or Data field.
    pub fn conditions(&self) -> Result<Vec<(String, Option<String>)>, PageError> {
        self.all("where")
            .into_iter()
            .filter(|c| !c.trim().is_empty())
            .map(|c| {
                let (field, value) = c.split_once('=').ok_or_else(|| {
                    PageError::BadRequest(format!(
                        "?where={c}: expected FIELD=VALUE (for example genres=Drama)"
                    ))
                })?;
                match field.strip_suffix(':') {
                    Some(f) if value.trim() == "null" => Ok((f.trim().to_string(), None)),
                    Some(_) => Err(PageError::BadRequest(format!(
                        "?where={c}: FIELD:= takes only null"
                    ))),
                    None => Ok((field.trim().to_string(), Some(value.to_string()))),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_repeats_numbers_and_conditions() {
        let p = Params::parse(Some(
            "version=3&key=a%20b&key=-1&where=genres%3DDrama&limit=10",
        ));
        assert_eq!(p.version().ok().flatten(), Some(3));
        assert_eq!(p.all("key"), ["a b", "-1"]);
        assert_eq!(p.limit().ok(), Some(10));
        let c = p.conditions().ok().unwrap_or_default();
        assert_eq!(c, [("genres".to_string(), Some("Drama".to_string()))]);
        assert!(Params::parse(Some("version=x")).version().is_err());
        assert!(Params::parse(Some("limit=0")).limit().is_err());
        assert!(Params::parse(Some("limit=100000")).limit().is_err());
        assert!(Params::parse(Some("where=nofield")).conditions().is_err());
        let null = Params::parse(Some("where=countryCode%3A%3Dnull")).conditions();
        assert_eq!(
            null.ok().unwrap_or_default(),
            [("countryCode".to_string(), None)]
        );
        assert_eq!(Params::parse(None).limit().ok(), Some(DEFAULT_LIMIT));
    }
}
