use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::HttpMessage;
use tracing::field::Empty;
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Logs go to stderr; the level comes from `RUST_LOG` (default `info`).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // A second call (tests start many servers in one process) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The span around each request: method, path, request id and, once answered, the status.
/// tracing-actix-web's default span carries seventeen OpenTelemetry fields (connection info,
/// user agent, a formatted `otel.name` …), and the log subscriber formats every one of them
/// into every span: 7.9 % of Hookbox's CPU samples at 16-sender ingest, against 3.6 % for this
/// one (docs/performance.md). A log line inside a request still names the request it belongs
/// to; a rejected webhook's own warning carries its remote address and length.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request.extensions().get::<RequestId>().copied();
        tracing::info_span!(
            "request",
            method = %request.method(),
            path = %request.path(),
            request_id = request_id.map(tracing::field::display),
            status = Empty,
        )
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        let status = match outcome {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        span.record("status", status.as_u16());
    }
}

/// Log lines written in a test, kept to be read back.
#[cfg(test)]
pub(crate) mod capture {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    pub struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().expect("not poisoned")).into_owned()
        }

        /// Text lines, as `--log-format text` writes them, into this buffer.
        pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync {
            let writer = self.clone();
            tracing_subscriber::fmt()
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish()
        }
    }

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .expect("not poisoned")
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{test, web, App, HttpResponse};
    use tracing_actix_web::TracingLogger;
    use tracing_subscriber::fmt::format::FmtSpan;

    use super::capture::Captured;
    use super::RequestSpan;

    #[actix_web::test]
    async fn a_log_line_names_its_request_and_the_span_ends_with_the_status() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_span_events(FmtSpan::CLOSE)
            .with_writer(move || writer.clone())
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let app = test::init_service(App::new().wrap(TracingLogger::<RequestSpan>::new()).route(
            "/thing/{name}",
            web::get().to(|| async {
                tracing::warn!("inside the handler");
                HttpResponse::NotFound().finish()
            }),
        ))
        .await;
        let request = test::TestRequest::get()
            .uri("/thing/x?token=secret")
            .to_request();
        assert_eq!(test::call_service(&app, request).await.status(), 404);

        let text = captured.text();
        let line = text
            .lines()
            .find(|line| line.contains("inside the handler"))
            .unwrap_or_else(|| panic!("the handler's line: {text}"));
        assert!(
            line.contains("request{method=GET path=/thing/x request_id="),
            "{line}"
        );
        let close = text
            .lines()
            .find(|line| line.contains("close"))
            .unwrap_or_else(|| panic!("the span's close: {text}"));
        assert!(close.contains("status=404"), "{close}");
        assert!(
            !text.contains("secret"),
            "no query string in the logs: {text}"
        );
    }
}
