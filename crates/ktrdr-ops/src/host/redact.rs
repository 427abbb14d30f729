//! Keeping credentials in a URL out of everything a URL is shown in.
//!
//! A host-service URL may carry a user and password (`http://user:secret@gateway:5001`, sent as
//! HTTP basic auth). Every text that shows such a URL (errors, the provider's name, progress
//! lines, the registry's metadata) goes through [`redact_url`] first.

use std::borrow::Cow;

/// What the user information of a URL is replaced with.
pub const REDACTED: &str = "***";

/// `url` with its user information (user name and password) replaced by [`REDACTED`]:
/// `http://user:secret@host:5001/x` becomes `http://***@host:5001/x`. A URL without user
/// information, or a text that is not a URL, comes back as it is (borrowed).
///
/// Works on the text, so that an unparsable URL a user typed is redacted too: the user
/// information is whatever precedes the last `@` of the authority (the part after `://` up to
/// the first `/`, `?` or `#`).
///
/// ```
/// use ktrdr_ops::host::redact_url;
///
/// assert_eq!(redact_url("http://ib:hunter2@127.0.0.1:5001/"), "http://***@127.0.0.1:5001/");
/// assert_eq!(redact_url("http://127.0.0.1:5001/a@b"), "http://127.0.0.1:5001/a@b");
/// ```
pub fn redact_url(url: &str) -> Cow<'_, str> {
    let Some(scheme_end) = url.find("://") else {
        return Cow::Borrowed(url);
    };
    let authority_start = scheme_end + "://".len();
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_len].rfind('@') {
        Some(at) => Cow::Owned(format!(
            "{}{REDACTED}{}",
            &url[..authority_start],
            &rest[at..]
        )),
        None => Cow::Borrowed(url),
    }
}

/// [`redact_url`] of a parsed URL, still parsed.
pub(crate) fn redact_parsed(url: reqwest::Url) -> reqwest::Url {
    match redact_url(url.as_str()) {
        Cow::Borrowed(_) => url,
        Cow::Owned(redacted) => reqwest::Url::parse(&redacted).unwrap_or(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_information_is_replaced_and_nothing_else() {
        for (given, shown) in [
            ("http://u:p@h:5001/x?q=1", "http://***@h:5001/x?q=1"),
            ("https://token@h/", "https://***@h/"),
            ("http://u:p@ss@h", "http://***@h"),
            ("http://u:p@[::1]:5001", "http://***@[::1]:5001"),
            ("http://h:5001/a@b", "http://h:5001/a@b"),
            ("http://h?x=@y", "http://h?x=@y"),
            ("not a url @ all", "not a url @ all"),
            ("http://h:5001", "http://h:5001"),
        ] {
            assert_eq!(redact_url(given), shown, "{given}");
        }
    }

    #[test]
    fn a_parsed_url_stays_parsed_and_loses_its_password() {
        let url = reqwest::Url::parse("http://ib:hunter2@127.0.0.1:5001/health").unwrap();
        let shown = redact_parsed(url);
        assert_eq!(shown.as_str(), "http://***@127.0.0.1:5001/health");
        assert_eq!(shown.password(), None);
    }
}
