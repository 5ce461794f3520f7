//! The console's alert forms (create, delete: the `write` scope, as the API asks) and one
//! event's page with its deliveries.

use askama::Template;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::rows::{event_row, EventRow};
use super::views::{instant, link, maybe_instant, pretty, wire, Instant};
use super::{error_page, html, posted_form, redirect, routes, Frame, Session};
use crate::error::ApiError;
use crate::gateway::Gateway;
use crate::model::event::NewBalanceAlertInput;

/// `POST /console/alerts`: a low-balance alert, as `POST /v1/balance_alerts` makes it.
pub(super) async fn create_alert(State(gateway): State<Gateway>, session: Session, request: Request) -> Response {
    let mut form = match posted_form(&gateway, request, session.token()).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let created = async {
        Gateway::write_scope(&session.caller)?;
        let customer = form.take_required("customer")?;
        let input = NewBalanceAlertInput {
            customer: customer.clone(),
            provider: form.take_parsed("provider")?,
            unit: form.take_required("unit")?,
            threshold: form.take_required("threshold")?.trim().to_owned(),
        };
        form.finish()?;
        gateway.create_alert(&session.caller, input).await?;
        Ok::<_, ApiError>(customer)
    };
    match created.await {
        Ok(customer) => redirect(&format!(
            "{}#alerts",
            link(routes::CUSTOMER, &[("customer", &customer)])
        )),
        Err(e) => error_page(&session, &e),
    }
}

/// `POST /console/alerts/delete`: the alert named, gone.
pub(super) async fn delete_alert(State(gateway): State<Gateway>, session: Session, request: Request) -> Response {
    let mut form = match posted_form(&gateway, request, session.token()).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let deleted = async {
        Gateway::write_scope(&session.caller)?;
        let id = form.take_required("id")?;
        let back = form.take_required("customer")?;
        form.finish()?;
        gateway.delete_alert(&session.caller, &id).await?;
        Ok::<_, ApiError>(back)
    };
    match deleted.await {
        Ok(back) => redirect(&format!("{}#alerts", link(routes::CUSTOMER, &[("customer", &back)]))),
        Err(e) => error_page(&session, &e),
    }
}

pub struct DeliveryRow {
    pub url: String,
    pub status: String,
    pub attempt_count: u32,
    pub next_attempt_at: Option<Instant>,
    pub attempts: Vec<AttemptRow>,
}

pub struct AttemptRow {
    pub at: Instant,
    pub outcome: String,
    pub duration_ms: u64,
}

#[derive(Template)]
#[template(path = "console/event.html")]
struct EventPage {
    frame: Frame,
    event: EventRow,
    provider: String,
    customer_link: String,
    /// The event's `data` and `source`, as the API serves them, indented.
    data: String,
    source: String,
    deliveries: Vec<DeliveryRow>,
}

/// `/console/events/{id}`: one event, what it says, and its delivery to each endpoint.
pub(super) async fn event_page(
    State(gateway): State<Gateway>,
    session: Session,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    let Ok(Path(id)) = id else {
        let refused = ApiError::invalid_param("id", "the event id in the path is not valid text");
        return error_page(&session, &refused);
    };
    let found = match gateway.event(&session.caller, &id).await {
        Ok(found) => found,
        Err(e) => return error_page(&session, &e),
    };
    let page = EventPage {
        frame: session.frame(format!("Event {id}"), "customers"),
        event: event_row(&found.event),
        provider: found.event.provider.to_string(),
        customer_link: link(routes::CUSTOMER, &[("customer", &found.event.customer)]),
        data: pretty(&found.event.data),
        source: pretty(&found.event.source),
        deliveries: found
            .deliveries
            .iter()
            .map(|d| DeliveryRow {
                url: d.url.clone(),
                status: wire(&d.status),
                attempt_count: d.attempt_count,
                next_attempt_at: maybe_instant(d.next_attempt_at),
                attempts: d
                    .attempts
                    .iter()
                    .map(|a| AttemptRow {
                        at: instant(a.at),
                        outcome: match (a.status_code, &a.error) {
                            (Some(code), _) => format!("HTTP {code}"),
                            (None, Some(error)) => error.clone(),
                            (None, None) => "no answer".into(),
                        },
                        duration_ms: a.duration_ms,
                    })
                    .collect(),
            })
            .collect(),
    };
    html(StatusCode::OK, &page)
}
