//! A scripted HTTP server on 127.0.0.1 for tests of webhook delivery (feature
//! `test-server`; used by this crate's tests and by the CLI's end-to-end tests).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// The requests a [`TestServer`] received: headers (lowercase names) and body, in order.
pub type Received = Arc<Mutex<Vec<(BTreeMap<String, String>, Vec<u8>)>>>;

/// A server on 127.0.0.1 that answers its script.
#[derive(Debug)]
pub struct TestServer {
    /// `http://127.0.0.1:PORT/hook`.
    pub url: String,
    /// What it received so far.
    pub received: Received,
}

impl TestServer {
    /// Answers the statuses of `script` in turn (then 200); `None` in the script means:
    /// read the request and never answer (the connection is held open).
    ///
    /// # Panics
    ///
    /// If no port on 127.0.0.1 can be bound.
    pub fn start(script: Vec<Option<u16>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port on 127.0.0.1");
        let url = format!("http://{}/hook", listener.local_addr().expect("a bound address"));
        let received: Received = Arc::default();
        let log = Arc::clone(&received);
        std::thread::spawn(move || {
            let mut script = script.into_iter();
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Ok(clone) = stream.try_clone() else { continue };
                let mut reader = BufReader::new(clone);
                let mut headers = BTreeMap::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.trim_end().split_once(':') {
                        headers.insert(name.to_ascii_lowercase(), value.trim().to_owned());
                    }
                }
                let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((headers, body));
                match script.next().unwrap_or(Some(200)) {
                    Some(status) => {
                        let _ = write!(stream, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    }
                    None => held.push(stream),
                }
            }
        });
        Self { url, received }
    }
}
