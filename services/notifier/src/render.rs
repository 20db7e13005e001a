//! Alert content: subject (≤ 100 characters), plain-text and HTML bodies (HTML-escaped), runbook
//! links. Pure functions of the event, its envelope and the [`AlertPlan`]; no I/O.
//!
//! Texts are in Spanish, the language of the plant's operations staff.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use pinta_contracts::events::{PipelineFailedV1, RowsQuarantinedV1};
use pinta_contracts::{FailureCode, Stage};

use crate::engine::{AlertKind, AlertPlan, DigestEntry};
use crate::policy::Severity;

/// Longest subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 100;

/// Top reasons listed in a quarantine alert.
const TOP_REASONS: usize = 5;
/// Sample rows listed in a quarantine alert.
const MAX_SAMPLES: usize = 5;

/// What an alert is about.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    Failure(&'a PipelineFailedV1),
    Quarantine(&'a RowsQuarantinedV1),
}

/// The incoming envelope's identifiers, for correlation and tracing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub event_id: String,
    pub source: String,
    pub event_type: String,
    pub traceparent: Option<String>,
}

/// A rendered mail, without recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The runbook (file name without `.md` under `docs/runbooks/`) for a failure code.
pub fn runbook_for_failure(code: FailureCode) -> &'static str {
    match code {
        FailureCode::SourceUnavailable => "source-unavailable",
        FailureCode::ObjectNotFound => "object-not-found",
        FailureCode::ObjectConflict => "object-conflict",
        FailureCode::StorageUnavailable => "storage-unavailable",
        FailureCode::MalformedMessage | FailureCode::UnknownEventType => "dead-letters",
        FailureCode::UnreadableInput => "unreadable-input",
        FailureCode::DayHeld => "day-held",
        FailureCode::PublishFailed => "publish-failed",
        FailureCode::InvalidConfiguration => "invalid-configuration",
        FailureCode::Internal => "internal",
    }
}

/// The runbook for a quarantine.
pub fn runbook_for_quarantine(held: bool) -> &'static str {
    if held { "day-held" } else { "data-quality" }
}

/// Every runbook name the renderer can link to.
pub fn all_runbooks() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = FailureCode::ALL.iter().map(|c| runbook_for_failure(*c)).collect();
    names.push(runbook_for_quarantine(true));
    names.push(runbook_for_quarantine(false));
    names.sort_unstable();
    names.dedup();
    names
}

/// `<base>/<name>.md`.
pub fn runbook_link(base_url: &str, name: &str) -> String {
    format!("{}/{}.md", base_url.trim_end_matches('/'), name)
}

impl Subject<'_> {
    pub fn day(&self) -> Option<NaiveDate> {
        match self {
            Subject::Failure(f) => f.production_date,
            Subject::Quarantine(q) => Some(q.production_date),
        }
    }

    pub fn runbook(&self) -> &'static str {
        match self {
            Subject::Failure(f) => runbook_for_failure(f.code),
            Subject::Quarantine(q) => runbook_for_quarantine(q.held),
        }
    }

    pub fn stage(&self) -> Stage {
        match self {
            Subject::Failure(f) => f.stage,
            Subject::Quarantine(_) => Stage::Validator,
        }
    }

    /// Correlation key: occurrences with the same key are one incident. A held day is one incident
    /// whether it is reported by `rows.quarantined.v1` or `pipeline.failed.v1`; any other failure is
    /// keyed by stage and code across days; a quarantine by its day.
    pub fn incident_key(&self) -> String {
        match self {
            Subject::Failure(f) => match (f.code, f.production_date) {
                (FailureCode::DayHeld, Some(day)) => format!("day-held|{day}"),
                _ => format!("failure|{}|{}", f.stage, f.code),
            },
            Subject::Quarantine(q) if q.held => format!("day-held|{}", q.production_date),
            Subject::Quarantine(q) => format!("quarantine|{}", q.production_date),
        }
    }

    /// One line, for logs, the digest and the subject.
    pub fn headline(&self) -> String {
        match self {
            Subject::Failure(f) => match f.production_date {
                Some(day) => format!("{} falló con {} (día {day})", f.stage, f.code),
                None => format!("{} falló con {}", f.stage, f.code),
            },
            Subject::Quarantine(q) if q.held => format!(
                "día {} retenido ({} en cuarentena)",
                q.production_date,
                percent(q.ratio)
            ),
            Subject::Quarantine(q) => format!(
                "día {}: {} filas en cuarentena ({})",
                q.production_date,
                q.rows_quarantined,
                percent(q.ratio)
            ),
        }
    }
}

fn percent(ratio: f64) -> String {
    if ratio.is_finite() { format!("{:.0}%", ratio * 100.0) } else { "?%".to_owned() }
}

fn money(v: f64) -> String {
    if v.is_finite() { format!("{v:.2}") } else { "?".to_owned() }
}

/// Cuts `s` to at most `max` characters, ending with `…` when cut.
pub fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn kind_label(kind: AlertKind) -> Option<&'static str> {
    match kind {
        AlertKind::New => None,
        AlertKind::Raised => Some("severidad elevada"),
        AlertKind::Escalation => Some("ESCALADO"),
        AlertKind::Reminder => Some("recordatorio"),
    }
}

/// Renders the mail for one alert.
pub fn render_alert(
    subject: Subject<'_>,
    plan: &AlertPlan,
    trace: &Trace,
    runbook_base_url: &str,
    now: DateTime<Utc>,
) -> Rendered {
    let incident = &plan.incident;
    let link = runbook_link(runbook_base_url, subject.runbook());

    let mut subj = format!("[{}]", plan.severity);
    if let Some(label) = kind_label(plan.kind) {
        let _ = write!(subj, "[{label}]");
    }
    let _ = write!(subj, " Pinta {}: {}", subject.stage(), subject.headline());
    if incident.occurrences > 1 {
        let _ = write!(subj, " ×{}", incident.occurrences);
    }
    let subject_line = truncate_chars(&subj, MAX_SUBJECT_CHARS);

    // (label, value) pairs shared by both bodies.
    let mut facts: Vec<(&str, String)> = vec![
        ("Severidad", plan.severity.to_string()),
        ("Etapa", subject.stage().to_string()),
        ("Día de producción", subject.day().map(|d| d.to_string()).unwrap_or_else(|| "—".into())),
    ];
    let mut impact: Vec<(&str, String)> = Vec::new();
    let mut reasons: Vec<(String, u64)> = Vec::new();
    let mut samples: Vec<String> = Vec::new();
    let what = match subject {
        Subject::Failure(f) => {
            facts.push(("Código", f.code.to_string()));
            facts.push(("Cuándo falló", f.failed_at.to_rfc3339()));
            facts.push(("Intentos", f.attempts.to_string()));
            facts.push(("Transitorio", if f.retryable { "sí" } else { "no" }.to_owned()));
            if let Some(obj) = &f.object {
                facts.push(("Objeto", obj.key.clone()));
            }
            if let Some(c) = &f.caused_by {
                facts.push(("Evento causante", format!("{} {} ({})", c.event_type, c.id, c.source)));
            }
            impact.push(("Filas afectadas", f.rows.map(|r| r.to_string()).unwrap_or_else(|| "desconocidas".into())));
            format!("La etapa {} abandonó un trabajo: {}", f.stage, f.message)
        }
        Subject::Quarantine(q) => {
            facts.push(("Archivo de cuarentena", q.quarantine.key.clone()));
            facts.push(("Día retenido", if q.held { "sí (no se publicó nada)" } else { "no" }.to_owned()));
            impact.push(("Filas en cuarentena", format!("{} de {} ({})", q.rows_quarantined, q.rows_in, percent(q.ratio))));
            impact.push(("Litros afectados", q.liters_affected.to_string()));
            impact.push(("Costo afectado", money(q.cost_affected)));
            let mut sorted: Vec<(String, u64)> = q.reasons.iter().map(|(r, n)| (r.to_string(), *n)).collect();
            sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            sorted.truncate(TOP_REASONS);
            reasons = sorted;
            for s in q.samples.iter().take(MAX_SAMPLES) {
                let codes: Vec<&str> = s.reasons.iter().map(|r| r.as_str()).collect();
                let cells: Vec<String> = s.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
                samples.push(format!("línea {} [{}]: {}", s.line, codes.join(", "), cells.join("; ")));
            }
            if q.held {
                format!(
                    "El día {} fue retenido: {} de {} filas no pasaron la validación y no se publicó nada.",
                    q.production_date, q.rows_quarantined, q.rows_in
                )
            } else {
                format!(
                    "El día {} se publicó, pero {} de {} filas quedaron en cuarentena.",
                    q.production_date, q.rows_quarantined, q.rows_in
                )
            }
        }
    };
    let days: Vec<String> = incident.days.iter().map(|d| d.to_string()).collect();
    let correlation: Vec<(&str, String)> = vec![
        ("Ocurrencias", incident.occurrences.to_string()),
        ("Primera vez", incident.first_seen.to_rfc3339()),
        ("Última vez", incident.last_seen.to_rfc3339()),
        ("Días involucrados", if days.is_empty() { "—".into() } else { days.join(", ") }),
        ("Incidente", incident.key.clone()),
        ("Evento (CloudEvents id)", trace.event_id.clone()),
        ("Origen / tipo", format!("{} / {}", trace.source, trace.event_type)),
        ("traceparent", trace.traceparent.clone().unwrap_or_else(|| "—".into())),
        ("Generado", now.to_rfc3339()),
    ];

    // Plain text.
    let mut text = String::new();
    let _ = writeln!(text, "{}\n", subject.headline());
    let _ = writeln!(text, "{what}\n");
    if plan.escalate {
        let _ = writeln!(text, "ESCALADO: más de un umbral de alertas CRITICAL en la última hora.\n");
    }
    let _ = writeln!(text, "Qué y cuándo:");
    for (k, v) in &facts {
        let _ = writeln!(text, "  {k}: {v}");
    }
    let _ = writeln!(text, "\nImpacto:");
    for (k, v) in &impact {
        let _ = writeln!(text, "  {k}: {v}");
    }
    if !reasons.is_empty() {
        let _ = writeln!(text, "\nPrincipales motivos:");
        for (r, n) in &reasons {
            let _ = writeln!(text, "  {r}: {n}");
        }
    }
    if !samples.is_empty() {
        let _ = writeln!(text, "\nFilas de ejemplo:");
        for s in &samples {
            let _ = writeln!(text, "  {s}");
        }
    }
    let _ = writeln!(text, "\nCorrelación:");
    for (k, v) in &correlation {
        let _ = writeln!(text, "  {k}: {v}");
    }
    let _ = writeln!(text, "\nRunbook: {link}");

    // HTML.
    let e = escape_html;
    let table = |rows: &[(&str, String)]| -> String {
        let mut t = String::from("<table cellpadding=\"3\">");
        for (k, v) in rows {
            let _ = write!(t, "<tr><th align=\"left\">{}</th><td>{}</td></tr>", e(k), e(v));
        }
        t.push_str("</table>");
        t
    };
    let mut html = String::from("<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>");
    let _ = write!(html, "<h2>{}</h2><p>{}</p>", e(&subject.headline()), e(&what));
    if plan.escalate {
        html.push_str("<p><strong>ESCALADO</strong>: más de un umbral de alertas CRITICAL en la última hora.</p>");
    }
    let _ = write!(html, "<h3>Qué y cuándo</h3>{}", table(&facts));
    let _ = write!(html, "<h3>Impacto</h3>{}", table(&impact));
    if !reasons.is_empty() {
        html.push_str("<h3>Principales motivos</h3><ul>");
        for (r, n) in &reasons {
            let _ = write!(html, "<li><code>{}</code>: {}</li>", e(r), n);
        }
        html.push_str("</ul>");
    }
    if !samples.is_empty() {
        html.push_str("<h3>Filas de ejemplo</h3><ul>");
        for s in &samples {
            let _ = write!(html, "<li>{}</li>", e(s));
        }
        html.push_str("</ul>");
    }
    let _ = write!(html, "<h3>Correlación</h3>{}", table(&correlation));
    let _ = write!(html, "<p>Runbook: <a href=\"{0}\">{0}</a></p></body></html>", e(&link));

    Rendered { subject: subject_line, text, html }
}

/// Renders the daily digest of WARNINGs.
pub fn render_digest(entries: &[DigestEntry], runbook_base_url: &str, now: DateTime<Utc>) -> Rendered {
    let first_day = entries.iter().map(|e| e.first_at).min().map(|t| t.date_naive().to_string()).unwrap_or_default();
    let total: u64 = entries.iter().map(|e| e.occurrences).sum();
    let subject = truncate_chars(
        &format!(
            "[{}] Pinta: resumen diario del {first_day} ({} avisos, {total} ocurrencias)",
            Severity::Warning,
            entries.len()
        ),
        MAX_SUBJECT_CHARS,
    );
    let mut text = format!("Avisos (WARNING) acumulados desde el {first_day}. Generado {}.\n\n", now.to_rfc3339());
    let mut html = String::from("<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>");
    let _ = write!(
        html,
        "<h2>Resumen diario de avisos</h2><p>Avisos (WARNING) acumulados desde el {}.</p><ul>",
        escape_html(&first_day)
    );
    for entry in entries {
        let link = runbook_link(runbook_base_url, &entry.runbook);
        let day = entry.day.map(|d| d.to_string()).unwrap_or_else(|| "—".into());
        let _ = writeln!(
            text,
            "- {} — día {day}, {} ocurrencia(s), primera {}, última {}, evento {}\n  Runbook: {link}",
            entry.summary,
            entry.occurrences,
            entry.first_at.to_rfc3339(),
            entry.last_at.to_rfc3339(),
            entry.event_id
        );
        let _ = write!(
            html,
            "<li>{summary} — día {day}, {n} ocurrencia(s), evento <code>{id}</code>. <a href=\"{link}\">{link}</a></li>",
            summary = escape_html(&entry.summary),
            day = escape_html(&day),
            n = entry.occurrences,
            id = escape_html(&entry.event_id),
            link = escape_html(&link)
        );
    }
    html.push_str("</ul></body></html>");
    Rendered { subject, text, html }
}
