//! A small HTTP/1.1 client on hyper (which axum already builds) for the demo,
//! the load generators and the server tests: one keep-alive connection,
//! requests sent on it one after another.

use std::error::Error;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

pub type BoxError = Box<dyn Error + Send + Sync>;

/// A status and the whole response body.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One TCP connection to a server. Dropping it closes the socket, even with
/// a request in flight (a client that went away).
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    driver: JoinHandle<()>,
    host: String,
}

impl Connection {
    /// Connects to the host and port of `url` (`http://` only).
    pub async fn open(url: &str) -> Result<Self, BoxError> {
        let uri: Uri = url.parse()?;
        let host = uri.authority().ok_or("the URL has no host")?.to_string();
        let stream = TcpStream::connect(&host).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self {
            sender,
            driver,
            host,
        })
    }

    /// POSTs `body` with `headers` to the path of `url` on this connection.
    pub async fn post(
        &mut self,
        url: &str,
        headers: HeaderMap,
        body: impl Into<Bytes>,
    ) -> Result<Response, BoxError> {
        let uri: Uri = url.parse()?;
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut request = Request::post(path).body(Full::new(body.into()))?;
        *request.headers_mut() = headers;
        request
            .headers_mut()
            .insert(header::HOST, self.host.parse()?);
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Response { status, body })
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// One POST on a connection of its own.
pub async fn post(
    url: &str,
    headers: HeaderMap,
    body: impl Into<Bytes>,
) -> Result<Response, BoxError> {
    Connection::open(url).await?.post(url, headers, body).await
}
