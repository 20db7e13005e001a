//! AWS adapters of the ports: the object store on S3, publishing on SNS and EventBridge, receiving on
//! SQS, dead letters on an SQS queue, the typed environment configuration of the AWS binaries, the
//! resource bootstrap used for local development, and a harness that runs `moto_server` for tests.
//!
//! Every adapter takes an [`aws_config::SdkConfig`] built by [`sdk_config`]: region and credentials from
//! the standard chain, an optional custom endpoint (`AWS_ENDPOINT_URL`, for emulators), and a rustls
//! HTTPS client on the `ring` crypto provider (no cmake / C toolchain needed to build it).
//!
//! SDK types never cross this module's public API except the `SdkConfig` handed to constructors.

pub mod bootstrap;
pub mod config;
pub mod dlq;
pub mod eventbridge;
pub mod moto;
pub mod s3;
pub mod secrets;
pub mod sns;
pub mod sns_alerts;
pub mod sqs;

pub use config::{AwsSettings, ConfigError};
pub use dlq::SqsDeadLetterStore;
pub use eventbridge::EventBridgePublisher;
pub use s3::S3ObjectStore;
pub use sns::SnsPublisher;
pub use sns_alerts::{AlertQueue, SnsAlertPublisher};
pub use sqs::{SqsPublisher, SqsReceiver};

pub use aws_config::SdkConfig;

use aws_config::BehaviorVersion;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_smithy_http_client::tls;

/// Builds the shared SDK configuration: region and credentials from the environment's standard chain,
/// `settings.endpoint_url` when set (emulators), and a rustls+ring HTTPS client.
pub async fn sdk_config(settings: &AwsSettings) -> aws_config::SdkConfig {
    loader(settings).load().await
}

/// [`sdk_config`] with fixed credentials (emulators, tests).
pub async fn sdk_config_with_keys(settings: &AwsSettings, access_key_id: &str, secret_access_key: &str) -> aws_config::SdkConfig {
    let creds = aws_sdk_s3::config::Credentials::new(access_key_id, secret_access_key, None, None, "pinta-static");
    loader(settings).credentials_provider(creds).load().await
}

fn loader(settings: &AwsSettings) -> aws_config::ConfigLoader {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
    if let Some(endpoint) = &settings.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(region) = &settings.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    loader
}

/// Whether an SDK call failure can succeed when tried again.
pub(crate) fn classify<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
    R: HttpStatus,
{
    use aws_sdk_s3::error::SdkError;
    match err {
        SdkError::ConstructionFailure(_) => false,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
        SdkError::ResponseError(_) => true,
        SdkError::ServiceError(e) => {
            let status = e.raw().status_code();
            status >= 500 || status == 429 || matches!(e.err().code(), Some("Throttling" | "ThrottlingException" | "RequestThrottled" | "SlowDown"))
        }
        _ => true,
    }
}

/// The HTTP status of a raw response (implemented for the SDK's response type).
pub(crate) trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// The HTTP status of a service error, if the call got that far.
pub(crate) fn status_of<E, R: HttpStatus>(err: &aws_sdk_s3::error::SdkError<E, R>) -> Option<u16> {
    match err {
        aws_sdk_s3::error::SdkError::ServiceError(e) => Some(e.raw().status_code()),
        aws_sdk_s3::error::SdkError::ResponseError(e) => Some(e.raw().status_code()),
        _ => None,
    }
}

/// An SDK error as a boxed source for the ports' error enums (the SDK error keeps its own sources).
pub(crate) fn boxed<E, R>(err: aws_sdk_s3::error::SdkError<E, R>) -> Box<dyn std::error::Error + Send + Sync + 'static>
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    Box::new(err)
}
