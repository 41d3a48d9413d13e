//! A request given on the command line or in a cases file: a method, a URL and headers, as
//! the router module sees it (pseudo-headers from the URL).

use engine::request::HeaderList;

/// A request to evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub scheme: String,
    pub authority: String,
    /// With the query string.
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// `method` and an absolute `http://host[:port]/path?query` URL.
    pub fn new(method: &str, url: &str) -> Result<Request, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("{url:?}: expected an absolute URL, http://host/path"))?;
        if scheme != "http" && scheme != "https" {
            return Err(format!("{url:?}: the scheme must be http or https"));
        }
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) => (&rest[..at], rest[at..].to_string()),
            None => (rest, "/".to_string()),
        };
        if authority.is_empty() {
            return Err(format!("{url:?}: no host"));
        }
        // Envoy sends `?q` on `/` as `/?q`.
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path
        };
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(format!("{method:?} is not an HTTP method"));
        }
        Ok(Request {
            method: method.to_ascii_uppercase(),
            scheme: scheme.to_string(),
            authority: authority.to_string(),
            path,
            headers: Vec::new(),
        })
    }

    /// Adds `name: value` (a `-H` argument).
    pub fn header(mut self, line: &str) -> Result<Request, String> {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("-H {line:?}: expected `name: value`"))?;
        let name = name.trim();
        if name.is_empty() || !engine::header_name::is_valid(name) || name.starts_with(':') {
            return Err(format!("-H {line:?}: {name:?} is not a header name"));
        }
        self.headers
            .push((name.to_ascii_lowercase(), value.trim().to_string()));
        Ok(self)
    }

    /// The request as the router module gets it, arriving on `port`.
    pub fn header_list(&self, port: u16) -> HeaderList {
        let mut list = HeaderList::default()
            .with(":method", &self.method)
            .with(":scheme", &self.scheme)
            .with(":authority", &self.authority)
            .with(":path", &self.path)
            .on_port(port);
        if self.scheme == "https" {
            list = list.over_tls();
        }
        for (name, value) in &self.headers {
            list = list.with(name, value);
        }
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_pseudo_headers() {
        let request = Request::new("get", "http://shop.example.com:8080/a/b?x=1")
            .and_then(|request| request.header("End-User: jason"))
            .expect("valid");
        assert_eq!(request.method, "GET");
        assert_eq!(request.authority, "shop.example.com:8080");
        assert_eq!(request.path, "/a/b?x=1");
        assert_eq!(request.headers, [("end-user".into(), "jason".into())]);
        let bare = Request::new("GET", "http://a.com?q").expect("valid");
        assert_eq!(bare.path, "/?q");
        assert_eq!(
            Request::new("GET", "http://a.com").expect("valid").path,
            "/"
        );
    }

    #[test]
    fn bad_requests_are_refused() {
        assert!(Request::new("GET", "/relative").is_err());
        assert!(Request::new("GET", "ftp://a/").is_err());
        assert!(Request::new("G T", "http://a/").is_err());
        let request = Request::new("GET", "http://a/").expect("valid");
        assert!(request.clone().header("no colon").is_err());
        assert!(request.header("bad name: x").is_err());
    }
}
