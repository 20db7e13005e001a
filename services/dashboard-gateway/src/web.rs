//! The pages and static assets. Our own HTML/CSS/JS are embedded at compile time; the ECharts bundle
//! is served from the `dist` folder that `scripts/build-web` fills (a page says so when it is missing).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::GatewayState;
use crate::auth::Role;

const MANAGERS: &str = include_str!("../web/index.html");
const OPERATIONS: &str = include_str!("../web/operativo.html");
const LOGIN: &str = include_str!("../web/login.html");

fn page(s: &GatewayState, headers: &HeaderMap, role: Role, html: &'static str, path: &str) -> Response {
    match s.require(headers, role) {
        Ok(_) => ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(r) if r.status() == StatusCode::UNAUTHORIZED => crate::to_login(path),
        Err(_) => (
            StatusCode::FORBIDDEN,
            Html(format!(
                "<!doctype html><meta charset=utf-8><title>Sin acceso</title><p>Su usuario no tiene el rol <b>{}</b> que requiere esta página. <a href=\"/login?next={path}\">Cambiar de usuario</a></p>",
                role.as_str()
            )),
        )
            .into_response(),
    }
}

pub(crate) async fn managers_page(State(s): State<GatewayState>, headers: HeaderMap) -> Response {
    page(&s, &headers, Role::Gerencial, MANAGERS, "/")
}

pub(crate) async fn operations_page(State(s): State<GatewayState>, headers: HeaderMap) -> Response {
    page(&s, &headers, Role::Operativo, OPERATIONS, "/operativo")
}

pub(crate) async fn login_page() -> Response {
    Html(LOGIN).into_response()
}

/// Our assets by name; anything else is looked up only as `echarts.min.js` in the dist folder.
pub(crate) async fn asset(State(s): State<GatewayState>, Path(file): Path<String>) -> Response {
    let own: Option<(&str, &'static str)> = match file.as_str() {
        "app.css" => Some(("text/css; charset=utf-8", include_str!("../web/app.css"))),
        "common.js" => Some(("text/javascript; charset=utf-8", include_str!("../web/common.js"))),
        "gerencial.js" => Some(("text/javascript; charset=utf-8", include_str!("../web/gerencial.js"))),
        "operativo.js" => Some(("text/javascript; charset=utf-8", include_str!("../web/operativo.js"))),
        _ => None,
    };
    if let Some((ty, body)) = own {
        return ([(header::CONTENT_TYPE, ty), (header::CACHE_CONTROL, "no-cache")], body).into_response();
    }
    if file != "echarts.min.js" {
        return crate::error(StatusCode::NOT_FOUND, "no such asset");
    }
    let path = s.inner.config.web_dist.join("echarts.min.js");
    match tokio::fs::read(&path).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                (header::CACHE_CONTROL, "max-age=3600"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
            "/* echarts.min.js is missing: run scripts/build-web */",
        )
            .into_response(),
    }
}
