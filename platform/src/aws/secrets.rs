//! The source database's connection string in AWS: from Secrets Manager (`PINTA_SOURCE_SECRET_ARN`,
//! the JSON secret RDS generates: `engine`, `host`, `port`, `username`, `password`, `dbname`) or
//! directly from `PINTA_SOURCE_URL`.

use super::config::{ConfigError, Env};
use super::{boxed, classify};

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("reading secret {arn}: {source}")]
    Fetch { arn: String, retryable: bool, source: Box<dyn std::error::Error + Send + Sync + 'static> },
    #[error("secret {arn} is not an RDS connection secret: {reason}")]
    Shape { arn: String, reason: String },
}

impl SecretError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, SecretError::Fetch { retryable: true, .. })
    }
}

/// Percent-encodes a URL user-info or path component.
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Builds a `mysql://` URL from an RDS secret's JSON.
pub fn url_from_secret(arn: &str, json: &str) -> Result<String, SecretError> {
    let shape = |reason: &str| SecretError::Shape { arn: arn.to_owned(), reason: reason.to_owned() };
    let v: serde_json::Value = serde_json::from_str(json).map_err(|_| shape("not JSON"))?;
    let field = |k: &str| v.get(k).and_then(|x| x.as_str().map(str::to_owned).or_else(|| x.as_u64().map(|n| n.to_string())));
    let host = field("host").ok_or_else(|| shape("no host"))?;
    let user = field("username").ok_or_else(|| shape("no username"))?;
    let password = field("password").unwrap_or_default();
    let port = field("port").unwrap_or_else(|| "3306".to_owned());
    let db = field("dbname").ok_or_else(|| shape("no dbname"))?;
    let engine = field("engine").unwrap_or_else(|| "mysql".to_owned());
    if !matches!(engine.as_str(), "mysql" | "mariadb" | "aurora-mysql") {
        return Err(shape("engine is not MySQL-compatible"));
    }
    Ok(format!("mysql://{}:{}@{}:{}/{}", enc(&user), enc(&password), host, port, enc(&db)))
}

/// `PINTA_SOURCE_URL` if set, else the secret named by `PINTA_SOURCE_SECRET_ARN`.
pub async fn source_url(env: &Env, sdk: &aws_config::SdkConfig) -> Result<String, SecretError> {
    if let Some(url) = env.get("PINTA_SOURCE_URL") {
        return Ok(url);
    }
    let arn = env.required("PINTA_SOURCE_SECRET_ARN", "the source database secret (or PINTA_SOURCE_URL)")?;
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let out = client.get_secret_value().secret_id(&arn).send().await.map_err(|e| SecretError::Fetch {
        arn: arn.clone(),
        retryable: classify(&e),
        source: boxed(e),
    })?;
    let json = out.secret_string().ok_or_else(|| SecretError::Shape { arn: arn.clone(), reason: "no secret string".into() })?;
    url_from_secret(&arn, json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rds_secret_becomes_a_mysql_url() {
        let url = url_from_secret(
            "arn",
            r#"{"engine":"mysql","host":"db.example","port":3306,"username":"pinta","password":"p@ss:w/rd","dbname":"plant"}"#,
        )
        .unwrap();
        assert_eq!(url, "mysql://pinta:p%40ss%3Aw%2Frd@db.example:3306/plant");
        assert!(matches!(url_from_secret("arn", "{}"), Err(SecretError::Shape { .. })));
        assert!(matches!(url_from_secret("arn", "nope"), Err(SecretError::Shape { .. })));
    }
}
