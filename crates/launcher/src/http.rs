//! One HTTP/1.1 exchange over a fresh TCP connection, like the real program's client with
//! keep-alive disabled: connect, send one request with `Connection: close`, read the whole
//! response, close. Nothing is pooled, so every attempt is a new connection.

use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONNECTION, CONTENT_TYPE, HOST, USER_AGENT};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::target::Target;

const AGENT: &str = concat!("rockets-launcher/", env!("CARGO_PKG_VERSION"));

/// Why an exchange produced no response.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExchangeError {
    /// The TCP connection could not be opened.
    #[error("connect failed: {0}")]
    Connect(#[source] std::io::Error),
    /// The request could not be built (a path that is not a valid URI).
    #[error("invalid request: {0}")]
    Request(#[from] http::Error),
    /// The connection broke or the server spoke bad HTTP.
    #[error("HTTP error: {0}")]
    Http(#[from] hyper::Error),
    /// No complete response within the attempt's time limit.
    #[error("no response within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
}

/// A response: its status and whole body.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    /// The status code.
    pub status: StatusCode,
    /// The body.
    pub body: Bytes,
}

/// `POST`s a JSON `body` to the target's own path.
pub(crate) async fn post_json(
    target: &Target,
    body: Bytes,
    timeout: Duration,
) -> Result<Reply, ExchangeError> {
    let request = Request::builder()
        .method(Method::POST)
        .uri(target.path.as_str())
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(body))?;
    exchange(target, request, timeout).await
}

/// `GET`s `path` (already joined under the target's base) expecting JSON.
pub(crate) async fn get(
    target: &Target,
    path: &str,
    timeout: Duration,
) -> Result<Reply, ExchangeError> {
    let request = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(ACCEPT, "application/json")
        .body(Full::new(Bytes::new()))?;
    exchange(target, request, timeout).await
}

async fn exchange(
    target: &Target,
    mut request: Request<Full<Bytes>>,
    timeout: Duration,
) -> Result<Reply, ExchangeError> {
    let headers = request.headers_mut();
    headers.insert(HOST, target.authority.parse().map_err(http::Error::from)?);
    headers.insert(CONNECTION, http::HeaderValue::from_static("close"));
    headers.insert(USER_AGENT, http::HeaderValue::from_static(AGENT));

    let attempt = async {
        let stream = TcpStream::connect(target.addr)
            .await
            .map_err(ExchangeError::Connect)?;
        // hyper normally sends a request in one writev; should it ever split one, NODELAY keeps
        // the second write from waiting for the server's delayed ACK (40 ms on Linux).
        stream.set_nodelay(true).map_err(ExchangeError::Connect)?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        let response = async move {
            let response = sender.send_request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>(Reply { status, body })
        };
        // The connection future drives the socket and ends once the response is complete
        // (`Connection: close`); its own result adds nothing once a response was read.
        let (_, reply) = tokio::join!(connection, response);
        Ok(reply?)
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| ExchangeError::Timeout(timeout))?
}
