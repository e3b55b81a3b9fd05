//! Wrappers that report a connection's activity to its [`ConnectionState`]: the socket (bytes
//! arrived), the service (a request head arrived) and the response body (the response was
//! handed over whole, or abandoned). The service also gives each request the peer's address,
//! as `ConnectInfo<SocketAddr>`, the way `axum::serve` does with connect info: the client
//! address (`src/web/client_ip.rs`) starts from it.

use std::{
    convert::Infallible,
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    body::{Body, Bytes},
    extract::ConnectInfo,
    http::{Request, Response},
};
use hyper::body::{Frame, Incoming, SizeHint};
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{HttpService, state::ConnectionState};

/// A socket that reports arriving bytes.
pub(super) struct TrackedIo<T> {
    inner: T,
    state: Arc<ConnectionState>,
}

impl<T> TrackedIo<T> {
    pub fn new(inner: T, state: Arc<ConnectionState>) -> Self {
        TrackedIo { inner, state }
    }

    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.bytes_arrived();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The app as a hyper service that marks each request in flight until its response body is
/// done with, and hands it the peer's address.
#[derive(Clone)]
pub(super) struct TrackedService<S> {
    service: S,
    peer: SocketAddr,
    state: Arc<ConnectionState>,
}

impl<S> TrackedService<S> {
    pub fn new(service: S, peer: SocketAddr, state: Arc<ConnectionState>) -> Self {
        TrackedService {
            service,
            peer,
            state,
        }
    }
}

impl<S: HttpService> hyper::service::Service<Request<Incoming>> for TrackedService<S> {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = Serving<S::Future>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let in_flight = InFlight::start(self.state.clone());
        // The service is always ready (see `HttpService`); its future is named, so it is not
        // boxed once more here.
        Serving {
            response: self.service.clone().call(request.map(Body::new)),
            in_flight: Some(in_flight),
        }
    }
}

pin_project! {
    /// A request being served: the app's future, and the mark that keeps the request in
    /// flight, handed to the response body when there is one.
    pub(super) struct Serving<F> {
        #[pin]
        response: F,
        in_flight: Option<InFlight>,
    }
}

impl<F> Future for Serving<F>
where
    F: Future<Output = Result<Response<Body>, Infallible>>,
{
    type Output = Result<Response<TrackedBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Poll::Ready(Ok(response)) = this.response.poll(cx) else {
            return Poll::Pending;
        };
        let in_flight = this.in_flight.take();
        Poll::Ready(Ok(response.map(|body| TrackedBody {
            body,
            _in_flight: in_flight,
        })))
    }
}

/// One request in flight; dropped when hyper is done with the response body, or when the
/// request is abandoned before there is one.
struct InFlight(Arc<ConnectionState>);

impl InFlight {
    fn start(state: Arc<ConnectionState>) -> Self {
        state.request_started();
        InFlight(state)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// A response body that keeps its request in flight while hyper still needs it.
pub(super) struct TrackedBody {
    body: Body,
    /// `None` only if a response were polled out twice, which hyper never does.
    _in_flight: Option<InFlight>,
}

impl hyper::body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
