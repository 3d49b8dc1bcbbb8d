//! A small blocking HTTP/1.1 client for webhooks and the Pushgateway: one request per
//! connection (`Connection: close`), `http://` and `https://` (rustls with ring, Mozilla's
//! roots from `webpki-roots`), and one deadline for the whole exchange.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The largest response body kept; the rest is read and dropped.
const MAX_BODY: usize = 1 << 20;

/// Why a request got no HTTP response.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL is not `http(s)://host[:port][/path]`.
    #[error("invalid URL `{0}`")]
    Url(String),
    /// No answer before the deadline.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Connecting, TLS, or reading and writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The server answered something that is not HTTP/1.x.
    #[error("malformed HTTP response: {0}")]
    Malformed(String),
}

/// A response: the status and (up to 1 MiB of) the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The body, decoded from chunked transfer encoding when needed.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

struct Target {
    tls: bool,
    host: String,
    port: u16,
    path: String,
}

fn parse_url(url: &str) -> Result<Target, HttpError> {
    let bad = || HttpError::Url(url.to_owned());
    let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(bad());
    };
    let (authority, path) = rest.find(['/', '?']).map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let path = if path.starts_with('?') { format!("/{path}") } else { path.to_owned() };
    if authority.is_empty() || authority.contains('@') {
        return Err(bad());
    }
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => default_port,
            None => return Err(bad()),
        };
        (host.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), port.parse().map_err(|_| bad())?),
            None => (authority.to_owned(), default_port),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok(Target { tls, host, port, path })
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    Arc::clone(CONFIG.get_or_init(|| {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }))
}

/// Sends one request and reads the response, all within `timeout`.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<HttpResponse, HttpError> {
    let target = parse_url(url)?;
    let deadline = Instant::now() + timeout;
    let left = || deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero());
    let addrs = (target.host.as_str(), target.port).to_socket_addrs()?;
    let mut last_error = None;
    let mut stream = None;
    for addr in addrs {
        let Some(remaining) = left() else { return Err(HttpError::Timeout(timeout)) };
        match TcpStream::connect_timeout(&addr, remaining) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = Some(e),
        }
    }
    let stream =
        stream.ok_or_else(|| last_error.map_or_else(|| HttpError::Url(url.to_owned()), |e| timeout_or(e, timeout)))?;
    stream.set_nodelay(true)?;
    let host_header = if target.port == if target.tls { 443 } else { 80 } {
        target.host.clone()
    } else {
        format!("{}:{}", target.host, target.port)
    };
    let mut head = format!(
        "{method} {} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: attest/{}\r\nContent-Length: {}\r\nConnection: close\r\n",
        target.path,
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let exchange = |io: &mut dyn ReadWrite| -> Result<HttpResponse, HttpError> {
        io.write_all(head.as_bytes())?;
        io.write_all(body)?;
        io.flush()?;
        read_response(io)
    };
    let set_timeouts = |s: &TcpStream| -> Result<(), HttpError> {
        let remaining = left().ok_or(HttpError::Timeout(timeout))?;
        s.set_read_timeout(Some(remaining))?;
        s.set_write_timeout(Some(remaining))?;
        Ok(())
    };
    set_timeouts(&stream)?;
    let result = if target.tls {
        let name =
            rustls::pki_types::ServerName::try_from(target.host.clone()).map_err(|_| HttpError::Url(url.to_owned()))?;
        let conn = rustls::ClientConnection::new(tls_config(), name).map_err(std::io::Error::other)?;
        let mut tls = rustls::StreamOwned::new(conn, stream);
        exchange(&mut tls)
    } else {
        let mut plain = stream;
        exchange(&mut plain)
    };
    result.map_err(|e| match e {
        HttpError::Io(io) => timeout_or(io, timeout),
        other => other,
    })
}

fn timeout_or(err: std::io::Error, timeout: Duration) -> HttpError {
    match err.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => HttpError::Timeout(timeout),
        _ => HttpError::Io(err),
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn read_response(io: &mut dyn ReadWrite) -> Result<HttpResponse, HttpError> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            break end;
        }
        if buffer.len() > 64 * 1024 {
            return Err(HttpError::Malformed("headers longer than 64 KiB".to_owned()));
        }
        let n = read_some(io, &mut chunk)?;
        if n == 0 {
            return Err(HttpError::Malformed("connection closed before the headers ended".to_owned()));
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed(format!("status line `{status_line}`")));
    }
    let status: u16 = code.parse().map_err(|_| HttpError::Malformed(format!("status line `{status_line}`")))?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding") && value.to_ascii_lowercase().contains("chunked") {
            chunked = true;
        }
    }
    let mut body = buffer[header_end + 4..].to_vec();
    loop {
        let complete = match (chunked, length) {
            (true, _) => find(&body, b"0\r\n\r\n").is_some_and(|i| i == 0 || body[..i].ends_with(b"\r\n")),
            (false, Some(n)) => body.len() >= n,
            (false, None) => false,
        };
        if complete || body.len() > MAX_BODY {
            break;
        }
        let n = read_some(io, &mut chunk)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    if chunked {
        body = dechunk(&body);
    } else if let Some(n) = length {
        body.truncate(n);
    }
    body.truncate(MAX_BODY);
    Ok(HttpResponse { status, body })
}

/// A read that treats a TLS peer closing without `close_notify` as the end of the body.
fn read_some(io: &mut dyn ReadWrite, buf: &mut [u8]) -> Result<usize, HttpError> {
    match io.read(buf) {
        Ok(n) => Ok(n),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(0),
        Err(e) => Err(HttpError::Io(e)),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = find(data, b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        data = &data[line_end + 2..];
        if size == 0 || data.len() < size {
            out.extend_from_slice(&data[..size.min(data.len())]);
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io::BufRead;
    use std::net::TcpListener;

    use super::*;

    /// A one-shot server on 127.0.0.1 that answers `response` and returns what it got.
    fn serve_once(response: &'static str) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}/hook?x=1", listener.local_addr().expect("addr"));
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
            let mut request = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("read line");
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().expect("length");
                }
                request.push_str(&line);
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).expect("body");
            request.push_str(&String::from_utf8_lossy(&body));
            (&stream).write_all(response.as_bytes()).expect("answer");
            request
        });
        (url, handle)
    }

    #[test]
    fn posts_headers_and_body_and_reads_the_status_and_body() {
        let (url, server) = serve_once("HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
        let response =
            request("POST", &url, &[("X-Test", "1")], b"{\"a\":1}", Duration::from_secs(5)).expect("response");
        assert_eq!(response, HttpResponse { status: 201, body: b"ok".to_vec() });
        let got = server.join().expect("server");
        assert!(got.starts_with("POST /hook?x=1 HTTP/1.1\r\n"), "{got}");
        assert!(got.contains("\r\nX-Test: 1\r\n") && got.contains("Content-Length: 7\r\n"), "{got}");
        assert!(got.ends_with("\r\n\r\n{\"a\":1}"), "{got}");
    }

    #[test]
    fn chunked_bodies_are_decoded() {
        let (url, server) =
            serve_once("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n");
        let response = request("GET", &url, &[], b"", Duration::from_secs(5)).expect("response");
        assert_eq!(response.body, b"Wikipedia");
        server.join().expect("server");
    }

    #[test]
    fn a_server_that_never_answers_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}/", listener.local_addr().expect("addr"));
        let started = Instant::now();
        let err = request("POST", &url, &[], b"x", Duration::from_millis(300)).expect_err("no answer");
        assert!(matches!(err, HttpError::Timeout(_)), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        drop(listener);
    }

    #[test]
    fn urls_are_checked() {
        for bad in ["ftp://x/", "http://", "http://user@host/", "http://host:port/", "http://[::1/"] {
            assert!(matches!(parse_url(bad), Err(HttpError::Url(_))), "{bad}");
        }
        let t = parse_url("https://[::1]:8443").expect("v6");
        assert_eq!((t.host.as_str(), t.port, t.path.as_str(), t.tls), ("::1", 8443, "/", true));
    }
}
